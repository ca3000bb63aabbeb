import Chain
import Foundation
import Glibc
import P2P
import Testing

/// The gateway as people use it: `autochain up` serves the cluster on one address that keeps
/// answering while the node behind a request is killed; `autochain gateway` on its own; and the
/// redirected output of `up` and `cluster` tells the truth as it happens.
@Suite("ProcessTests.Gateway", .serialized) struct GatewayTests {
    static let dev = KeyPair.development

    /// One request through the gateway (a fresh connection, so each goes through routing anew).
    static func call(_ gateway: String, _ method: String, _ path: String, _ body: JSON? = nil) -> HTTPClientResponse? {
        guard let c = try? HTTPClient(baseURL: "http://\(gateway)") else { return nil }
        defer { c.close() }
        var headers = HTTPHeaders([("Content-Type", "application/json")])
        headers.add(NodeProcess.authorization.0, NodeProcess.authorization.1)
        return try? c.request(method: method, path: path, headers: headers, body: body?.serialized() ?? [], timeout: .seconds(35))
    }

    static func transfer(nonce: UInt64) -> Transaction {
        Transaction.signed(chainId: "autochain-dev", to: KeyPair.generate().address, amount: 1, fee: 1, nonce: nonce, keyPair: dev)
    }

    /// A committed `POST /submit-tx?wait=commit` through the gateway: the node that answered.
    static func commitThrough(_ gateway: String) -> String? {
        guard let head = call(gateway, "GET", "/balance/\(dev.address.hex)"), head.status == 200,
              let nonce = (try? JSON.parse(head.body))?["nonce"]?.intValue else { return nil }
        guard let r = call(gateway, "POST", "/submit-tx?wait=commit", transfer(nonce: UInt64(nonce)).json), r.status == 200,
              (try? JSON.parse(r.body))?["status"]?.stringValue == "committed" else { return nil }
        return r.headers["X-Autochain-Node"]
    }

    @Test func upServesReadsAndWritesThroughTheGatewayAndKeepsAnsweringWhenTheAnsweringNodeIsKilled() throws {
        let up = try RegistryTests.Up()
        try up.start()
        defer { up.stop() }
        _ = try up.healthyLeader()
        let head = try #require(Self.call(up.gatewayAddr, "GET", "/chain/head"))
        #expect(head.status == 200)
        #expect(head.headers["X-Autochain-Node"] != nil)
        var answered: String?
        try up.eventually("a transfer committed through the gateway") {
            answered = Self.commitThrough(up.gatewayAddr)
            return answered != nil
        }
        let victim = try #require(answered)
        let pid = try #require(up.nodePids()[victim])
        kill(pid, SIGKILL)
        // Reads: the very next ones succeed, none from the dead node (the gateway tries another).
        for _ in 0..<10 {
            let r = try #require(Self.call(up.gatewayAddr, "GET", "/chain/head"))
            #expect(r.status == 200)
            #expect(r.headers["X-Autochain-Node"] != victim || up.nodePids()[victim] != nil)
        }
        // Writes: committed again once a leader is there (an election when the victim led).
        try up.eventually("a transfer committed through the gateway after the kill", timeout: 60) {
            Self.commitThrough(up.gatewayAddr) != nil
        }
    }

    @Test func upOutputRedirectedToAFileShowsTheURLsAtOnceAndRunningOnlyWhenTheClusterRuns() throws {
        let up = try RegistryTests.Up()
        try up.start()
        defer { up.stop() }
        try up.eventually("the registry and gateway URLs in the redirected output") {
            up.log.contains("registry and dashboard: \(up.url)/") && up.log.contains("gateway, one REST address for the whole cluster: http://\(up.gatewayAddr)")
        }
        try up.eventually("running in the output") { up.log.contains("\nrunning: ") }
        // Said only once it is true: three voters, all alive, one head.
        #expect(up.voters().count == 3)
        // Heads are read one node after the other, so one instant can catch a block half-applied.
        try up.eventually("three alive voters on one head once running is said") { up.healthy(voters: 3) }
        let beforeRunning = up.log.components(separatedBy: "\nrunning: ")[0]
        #expect(beforeRunning.contains("waiting for "))
        // A voter that stops answering: degraded (a hang takes the registry's failure detection,
        // seconds, to see); then killed: restarted, repaired: running. A bare kill -9 can now be
        // repaired between two looks of the watch (250 ms): the survivors elect as soon as the
        // links close and the registry restarts the process at once.
        let pid = try #require(up.nodePids()[up.voters()[0]])
        defer { kill(pid, SIGKILL) }
        kill(pid, SIGSTOP)
        try up.eventually("degraded in the output") { up.log.contains("\ndegraded: waiting for ") }
        kill(pid, SIGKILL)
        try up.eventually("repaired: running in the output") { up.log.contains("\nrepaired: running: ") }
    }

    @Test func upSaysWhenTheGatewayAddressIsTakenAndServesOnAFreePort() throws {
        let up = try RegistryTests.Up()
        let (holder, _) = try Socket.listen(on: try SocketAddress(parsing: up.gatewayAddr))
        defer { close(holder) }
        try up.start()
        defer { up.stop() }
        try up.eventually("the fallback said and the gateway's real address printed") {
            up.log.contains("gateway: \(up.gatewayAddr) is already in use") && up.log.contains("gateway, one REST address for the whole cluster: http://")
        }
        let line = try #require(up.log.split(separator: "\n").first { $0.hasPrefix("gateway, one REST address") })
        let moved = String(try #require(line.split(separator: "http://").last))
        #expect(moved != up.gatewayAddr)
        up.gatewayAddr = moved
        try up.eventually("the moved gateway answers") { Self.call(moved, "GET", "/chain/head")?.status == 200 }
    }

    @Test func gatewayWithoutALiveNodeAnswers503NoNode() throws {
        let addr = "127.0.0.1:\(try freePort())"
        let registry = "http://127.0.0.1:\(try freePort())"  // nothing listens there
        let p = Process()
        p.executableURL = URL(fileURLWithPath: NodeProcess.binary)
        p.arguments = ["gateway", "--registry", registry, "--addr", addr]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        var stopped = false
        defer { if !stopped { p.stopBounded() } }
        var answer: HTTPClientResponse?
        let deadline = Date().addingTimeInterval(20)
        while answer == nil && Date() < deadline {
            answer = Self.call(addr, "GET", "/chain/head")
            if answer == nil { usleep(50_000) }
        }
        let r = try #require(answer)
        #expect(r.status == 503)
        #expect((try? JSON.parse(r.body))?["error"]?["code"]?.stringValue == "no_node")
        // SIGTERM at once after its first answer: it was caught from before the gateway started
        // (it once arrived before the handler listened, and the gateway ran on for good).
        stopped = true
        #expect(p.stopBounded(), "the gateway did not exit on SIGTERM sent right after it answered")
        #expect(p.terminationReason == .exit && p.terminationStatus == 0)
    }

    @Test func clusterOutputRedirectedToAFileShowsNodeURLsAtOnceAndRunningOnlyWithThreeVoters() throws {
        let base = TestDirs.make("cluster-cmd")
        let logPath = base + "/cluster.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: NodeProcess.binary)
        p.arguments = ["cluster", "--nodes", "3", "--base-dir", base + "/nodes"]
        var env = ProcessInfo.processInfo.environment
        env["AUTOCHAIN_CLUSTER_TOKEN"] = NodeProcess.testCredential
        p.environment = env
        p.standardOutput = FileHandle(forWritingAtPath: logPath)
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { p.stopBounded() }
        func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
        func eventually(_ what: String, _ ok: () -> Bool) throws {
            let deadline = Date().addingTimeInterval(45)
            while Date() < deadline { if ok() { return }; usleep(50_000) }
            throw TestFailure("not within 45 s: \(what)\n\(log())")
        }
        try eventually("node1's URL in the output while it runs") { log().contains("node1  http://") }
        try eventually("running in the output") { log().contains("\nrunning: ") }
        let url = String(try #require(log().split(separator: "\n").first { $0.hasPrefix("node1  ") }?.split(separator: " ")[1]))
        let st = try #require(try? HTTPClientFor(url).get("/status"))
        #expect(st["voters"]?.arrayValue?.count == 3)
        #expect(log().components(separatedBy: "\nrunning: ")[0].contains("waiting for "))
    }
}
