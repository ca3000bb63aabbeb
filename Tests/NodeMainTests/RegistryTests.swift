import Chain
import P2P
import Foundation
import Synchronization
import Testing

/// `autochain up` as people run it: a registry with the process provider keeping a cluster at
/// strength while nodes are killed, lose their data, or the registry itself dies.
@Suite("ProcessTests.Registry", .serialized) struct RegistryTests {
    static let dev = KeyPair.development

    final class Up: @unchecked Sendable {
        // Unchecked: one test drives one `up` from one task.
        let base = TestDirs.make("up")
        let registryAddr: String
        /// Where `up` is asked to serve its gateway (`--gateway-addr`).
        var gatewayAddr: String
        var process: Process?
        let configPath: String

        init(nodes: Int = 3, extraConfig: String = "") throws {
            registryAddr = "127.0.0.1:\(try freePort())"
            gatewayAddr = "127.0.0.1:\(try freePort())"
            configPath = base + "/config.toml"
            // Fast failure detection and a short grace period, so tests run in seconds.
            let config = """
                [consensus]
                promotion_stabilization_ms = 300
                [registry]
                heartbeat_ms = 200
                decide_interval_ms = 100
                [autoscale]
                min_nodes = \(nodes)
                grace_period_s = 3
                \(extraConfig)
                """
            _ = FileManager.default.createFile(atPath: configPath, contents: Data(config.utf8))
        }

        var url: String { "http://\(registryAddr)" }
        var logPath: String { base + "/up.log" }
        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        func start() throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: NodeProcess.binary)
            p.arguments = ["up", "--nodes", "3", "--data-dir", base + "/nodes", "--addr", registryAddr, "--config", configPath,
                           "--gateway-addr", gatewayAddr]
            var env = ProcessInfo.processInfo.environment
            env["AUTOCHAIN_CLUSTER_TOKEN"] = NodeProcess.testCredential
            p.environment = env
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let h = FileHandle(forWritingAtPath: logPath)!
            h.seekToEndOfFile()
            p.standardOutput = h
            p.standardError = h
            try p.run()
            process = p
        }

        func kill9Registry() {
            guard let p = process else { return }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            process = nil
        }

        func stop() {
            guard let p = process else { killNodes(); return }
            p.terminate()
            let deadline = Date().addingTimeInterval(15)
            while p.isRunning && Date() < deadline { usleep(20_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            process = nil
            killNodes()
        }

        /// Node processes of this test (matched by their data directory under `base`).
        func nodePids() -> [String: Int32] {
            var out: [String: Int32] = [:]
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = Int32(entry),
                      let raw = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
                let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                guard args.count > 2, args[1] == "node", let i = args.firstIndex(of: "--data-dir"), i + 1 < args.count,
                      args[i + 1].hasPrefix(base), let j = args.firstIndex(of: "--node-id"), j + 1 < args.count else { continue }
                out[args[j + 1]] = pid
            }
            return out
        }

        func killNodes() { for (_, pid) in nodePids() { kill(pid, SIGKILL) } }

        /// Node `id` loses its data directory and dies. The directory is renamed away while the
        /// process is stopped (SIGSTOP) and only then killed: deleting it while the node or a
        /// restart by the registry still writes there raced (EPERM, ENOTEMPTY from a tree walk).
        /// Waits (bounded) until the process is gone; the renamed copy stays under `base`.
        func loseDataAndKill(_ id: String) throws {
            let pid = try #require(nodePids()[id], "a running process for \(id)")
            kill(pid, SIGSTOP)
            try FileManager.default.moveItem(atPath: base + "/nodes/" + id, toPath: base + "/lost-" + id)
            kill(pid, SIGKILL)
            try eventually("\(id)'s process (pid \(pid)) gone after SIGKILL", timeout: 30) {
                !FileManager.default.fileExists(atPath: "/proc/\(pid)/cmdline") || nodePids()[id] != pid
            }
        }

        func get(_ path: String) -> JSON? {
            guard let c = try? HTTPClientFor(url) else { return nil }
            return c.get(path)
        }

        func status() -> JSON? { get("/status") }

        func voters() -> [String] { status()?["voters"]?.arrayValue?.compactMap(\.stringValue) ?? [] }

        func nodeURL(_ id: String) -> String? {
            status()?["nodes"]?.arrayValue?.first { $0["id"]?.stringValue == id }?["apiUrl"]?.stringValue
        }

        func leaderURL() -> String? { status()?["leader"]?.stringValue.flatMap(nodeURL) }

        /// Healthy: `count` voters all alive with one head hash.
        func healthy(voters count: Int) -> Bool {
            guard let st = status(), st["quorum"]?.stringValue == "ok" else { return false }
            let vs = st["voters"]?.arrayValue?.compactMap(\.stringValue) ?? []
            guard vs.count == count else { return false }
            let nodes = st["nodes"]?.arrayValue ?? []
            let alive = nodes.filter { vs.contains($0["id"]?.stringValue ?? "") && $0["state"]?.stringValue == "alive" }
            guard alive.count == count else { return false }
            let heads = Set(alive.compactMap { n -> String? in
                guard let u = n["apiUrl"]?.stringValue, let c = try? HTTPClientFor(u) else { return nil }
                return c.get("/status")?["headHash"]?.stringValue
            })
            return heads.count == 1
        }

        func eventually(_ what: String, timeout: Double = 60, _ ok: () -> Bool) throws {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if ok() { return }
                usleep(100_000)
            }
            let events = get("/events")?["events"]?.arrayValue?.suffix(20).map { "\($0["kind"]?.stringValue ?? "") \($0["message"]?.stringValue ?? "")" } ?? []
            let log = ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").suffix(30).joined(separator: "\n")
            throw TestFailure("not within \(timeout) s: \(what)\nstatus: \(status().map { $0.serializedString() } ?? "-")\nevents:\n\(events.joined(separator: "\n"))\nlog:\n\(log)")
        }

        /// Waits for three healthy voters; the leader and its API URL.
        func healthyLeader() throws -> (leader: String, url: String) {
            try eventually("three healthy voters") { healthy(voters: 3) }
            let leader = try #require(status()?["leader"]?.stringValue)
            return (leader, try #require(nodeURL(leader)))
        }

        func eventKinds() -> [String] { get("/events")?["events"]?.arrayValue?.compactMap { $0["kind"]?.stringValue } ?? [] }
    }

    /// Submits transfers with ?wait=commit; returns the hashes acknowledged as committed.
    static func commit(_ count: Int, via url: String, startNonce: UInt64) -> [Hash32] {
        guard let c = try? HTTPClientFor(url) else { return [] }
        var acked: [Hash32] = []
        for i in 0..<count {
            let tx = Transaction.signed(chainId: "autochain-dev", to: KeyPair.generate().address, amount: 1, fee: 1,
                                        nonce: startNonce + UInt64(i), keyPair: dev)
            if c.post("/submit-tx?wait=commit", tx.json)?["status"]?.stringValue == "committed" { acked.append(tx.hash) }
        }
        return acked
    }

    static func nonce(_ url: String) -> UInt64 {
        UInt64((try? HTTPClientFor(url))?.get("/balance/\(dev.address.hex)")?["nonce"]?.intValue ?? 0)
    }

    /// Every acknowledged transfer is committed on every live voter.
    static func allThere(_ acked: [Hash32], _ up: Up) -> Bool {
        for id in up.voters() {
            guard let u = up.nodeURL(id), let c = try? HTTPClientFor(u) else { return false }
            for h in acked where c.get("/tx/\(h.hex)")?["status"]?.stringValue != "committed" { return false }
        }
        return true
    }

    @Test func upBringsAThreeVoterClusterAndRestartsAKilledFollowerOnItsData() throws {
        let up = try Up()
        try up.start()
        defer { up.stop() }
        let (leader, url) = try up.healthyLeader()
        var acked = Self.commit(3, via: url, startNonce: Self.nonce(url))
        let follower = try #require(up.voters().first { $0 != leader })
        let pid = try #require(up.nodePids()[follower])
        kill(pid, SIGKILL)
        try up.eventually("the killed follower is restarted on its data and catches up") {
            up.eventKinds().contains("restart") && up.nodePids()[follower] != nil && up.nodePids()[follower] != pid && up.healthy(voters: 3)
        }
        acked += Self.commit(2, via: url, startNonce: Self.nonce(url))
        try up.eventually("all acknowledged transfers everywhere") { Self.allThere(acked, up) && up.healthy(voters: 3) }
    }

    @Test func killedLeaderIsReplacedInLeadershipAndRestarted() throws {
        let up = try Up()
        try up.start()
        defer { up.stop() }
        let (leader, url) = try up.healthyLeader()
        var acked = Self.commit(2, via: url, startNonce: Self.nonce(url))
        let oldTerm = try #require(HTTPClientFor(url).get("/status")?["term"]?.intValue)
        let ids = up.voters()
        kill(try #require(up.nodePids()[leader]), SIGKILL)
        // A leader of a later term: a survivor, or the old leader itself once restarted (it keeps
        // its log and ID and may win the election).
        var found: String?
        try up.eventually("a leader of a later term") {
            found = ids.lazy.compactMap { id -> String? in
                guard let u = up.nodeURL(id), let st = (try? HTTPClientFor(u))?.get("/status"),
                      st["role"]?.stringValue == "leader", (st["term"]?.intValue ?? 0) > oldTerm else { return nil }
                return u
            }.first
            return found != nil
        }
        let newURL = try #require(found)
        acked += Self.commit(2, via: newURL, startNonce: Self.nonce(newURL))
        try up.eventually("the old leader is back and everything is everywhere") { up.healthy(voters: 3) && Self.allThere(acked, up) }
    }

    @Test func nodeWhoseDataIsGoneIsReplacedAndTheDeadVoterLeavesWithoutTheSilenceDelay() throws {
        // The delay is for voters that only fell silent; one seen to exit with its data gone
        // cannot come back, so it leaves as soon as its replacement joined.
        let up = try Up(extraConfig: "dead_voter_removal_delay_s = 600")
        try up.start()
        defer { up.stop() }
        let (leader, url) = try up.healthyLeader()
        let acked = Self.commit(2, via: url, startNonce: Self.nonce(url))
        let victim = try #require(up.voters().first { $0 != leader })
        try up.loseDataAndKill(victim)
        try up.eventually("a new node replaced it, the dead voter left, three voters again", timeout: 60) {
            up.healthy(voters: 3) && !up.voters().contains(victim)
        }
        try up.eventually("the registry retired the dead voter", timeout: 30) {
            up.status()?["nodes"]?.arrayValue?.contains { $0["id"]?.stringValue == victim } == false
        }
        #expect(up.eventKinds().contains("spawn"))
        #expect(Self.allThere(acked, up))
    }

    @Test func quorumLostByTwoKillsIsRestoredByRestarts() throws {
        let up = try Up()
        try up.start()
        defer { up.stop() }
        let (_, url) = try up.healthyLeader()
        let acked = Self.commit(2, via: url, startNonce: Self.nonce(url))
        let victims = Array(up.voters().prefix(2))
        for v in victims { kill(try #require(up.nodePids()[v]), SIGKILL) }
        try up.eventually("the registry sees the quorum lost or the victims restarted") {
            up.status()?["quorum"]?.stringValue == "lost" || victims.allSatisfy { v in up.eventKinds().contains("restart") && up.nodePids()[v] != nil }
        }
        try up.eventually("quorum restored by restarts", timeout: 60) { up.healthy(voters: 3) }
        #expect(Set(up.voters()) == Set(victims).union(up.voters()), "no membership change while quorum was lost")
        try up.eventually("a leader takes transfers again") {
            guard let u = up.leaderURL() else { return false }
            return Self.commit(1, via: u, startNonce: Self.nonce(u)).count == 1
        }
        #expect(Self.allThere(acked, up))
    }

    @Test func scaleToFiveAddsLearnersThatServeReadsThenBackToThreeRetiresThem() throws {
        let up = try Up(extraConfig: "down_stabilization_s = 2\nscale_down_period_s = 1\nscale_up_period_s = 1\nreverse_hold_s = 0")
        try up.start()
        defer { up.stop() }
        try up.eventually("three healthy voters") { up.healthy(voters: 3) }
        let url = try #require(up.leaderURL())
        let acked = Self.commit(3, via: url, startNonce: Self.nonce(url))
        let r = (try HTTPClientFor(up.url)).post("/scale", ["target_nodes": 5])
        #expect(r?["status"]?.stringValue == "accepted")
        try up.eventually("two learners joined and caught up", timeout: 60) {
            let st = up.status()
            let learners = st?["learners"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return learners.count == 2 && up.voters().count == 3 && learners.allSatisfy { id in
                guard let u = up.nodeURL(id), let c = try? HTTPClientFor(u) else { return false }
                return acked.allSatisfy { c.get("/tx/\($0.hex)")?["status"]?.stringValue == "committed" }
            }
        }
        let learners = up.status()?["learners"]?.arrayValue?.compactMap(\.stringValue) ?? []
        _ = (try HTTPClientFor(up.url)).post("/scale", ["target_nodes": 3])
        try up.eventually("the learners are retired and three voters remain", timeout: 60) {
            let st = up.status()
            return (st?["learners"]?.arrayValue ?? []).isEmpty && up.voters().count == 3
                && learners.allSatisfy { id in up.nodePids()[id] == nil }
        }
        #expect(up.eventKinds().contains("retire"))
        // Their data is set aside, not deleted ([registry] retired_data_keep_s, a day by default).
        try up.eventually("the retired learners' data directories are set aside") {
            let aside = (try? FileManager.default.contentsOfDirectory(atPath: up.base + "/nodes/.retired")) ?? []
            return learners.allSatisfy { id in
                !FileManager.default.fileExists(atPath: up.base + "/nodes/\(id)")
                    && aside.contains { $0.hasPrefix(id + "-") && FileManager.default.fileExists(atPath: up.base + "/nodes/.retired/\($0)/chain.db") }
            }
        }
        try up.eventually("three alive voters on one head after the scale-down") { up.healthy(voters: 3) }
    }

    @Test func loadAboveTheTargetScalesUpAndScalesDownAfterTheWindowWhenItStops() throws {
        let up = try Up(extraConfig: """
            metric = "request_rate"
            target_value = 40
            max_nodes = 5
            scale_up_period_s = 1
            down_stabilization_s = 3
            scale_down_period_s = 1
            reverse_hold_s = 0
            """)
        try up.start()
        defer { up.stop() }
        try up.eventually("three healthy voters") { up.healthy(voters: 3) }
        let urls = up.voters().compactMap(up.nodeURL)
        let stop = Atomic<Bool>(false)
        let load = Thread {
            // ~100 reads/s per node, bounded by the stop flag and 60 s.
            let clients = urls.compactMap { try? HTTPClient(baseURL: $0) }
            let end = Date().addingTimeInterval(60)
            while !stop.load(ordering: .relaxed) && Date() < end {
                for c in clients { _ = try? c.request(method: "GET", path: "/chain/head", timeout: .seconds(2)) }
                usleep(10_000)
            }
        }
        load.start()
        try up.eventually("the autoscaler added learners for the load", timeout: 45) {
            (up.status()?["learners"]?.arrayValue?.count ?? 0) >= 1 && up.eventKinds().contains("spawn")
        }
        stop.store(true, ordering: .relaxed)
        try up.eventually("back to three nodes after the stabilization window", timeout: 60) {
            (up.status()?["learners"]?.arrayValue ?? []).isEmpty && up.voters().count == 3 && up.eventKinds().contains("retire")
        }
        // Heads are read one node after the other: a block committing between two reads (the load
        // thread may still be finishing) makes them differ for a moment, so wait for one head.
        try up.eventually("three alive voters on one head after the scale-down") { up.healthy(voters: 3) }
        // The dashboard's series have samples and both decisions as marks on their time axis.
        let series = try #require((try HTTPClientFor(up.url)).get("/series"))
        let samples = series["at"]?.arrayValue?.count ?? 0
        #expect(samples >= 1 && series["committedTxsPerS"]?.arrayValue?.count == samples && series["nodes"]?["voters"]?.arrayValue?.count == samples)
        let marked = Set(series["decisions"]?.arrayValue?.compactMap { $0["kind"]?.stringValue } ?? [])
        #expect(marked.isSuperset(of: ["spawn", "retire"]), "\(marked)")
    }

    @Test func registryKilledWhileCommittingStopsNothingAndComesBackQuietly() throws {
        let up = try Up()
        try up.start()
        defer { up.stop() }
        try up.eventually("three healthy voters") { up.healthy(voters: 3) }
        let url = try #require(up.leaderURL())
        up.kill9Registry()
        let acked = Self.commit(5, via: url, startNonce: Self.nonce(url))
        #expect(acked.count == 5, "the cluster commits without its registry")
        try up.start()
        try up.eventually("the restarted registry sees the cluster") { up.healthy(voters: 3) }
        Thread.sleep(forTimeInterval: 4)
        let kinds = up.eventKinds()
        #expect(!kinds.contains("restart") && !kinds.contains("spawn") && !kinds.contains("retire"), "no spurious action: \(kinds)")
    }

    @Test func nodeGivenTwoRegistriesTheFirstDeadRegistersWithTheSecond() throws {
        let addr = "127.0.0.1:\(try freePort())"
        let dead = "127.0.0.1:\(try freePort())"
        let registry = Process()
        registry.executableURL = URL(fileURLWithPath: NodeProcess.binary)
        let dir = TestDirs.make("reg2")
        registry.arguments = ["registry", "--addr", addr, "--provider", "none", "--base-dir", dir + "/nodes"]
        var env = ProcessInfo.processInfo.environment
        env["AUTOCHAIN_CLUSTER_TOKEN"] = NodeProcess.testCredential
        registry.environment = env
        registry.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try registry.run()
        defer { registry.terminate(); registry.waitUntilExit() }
        let node = try NodeProcess()
        try node.start(extraArgs: ["--node-id", "solo", "--registry", "http://\(dead),http://\(addr)"])
        defer { node.stop() }
        let deadline = Date().addingTimeInterval(15)
        var seen = false
        while Date() < deadline, !seen {
            seen = (try? HTTPClientFor("http://\(addr)"))?.get("/discover")?["nodes"]?.arrayValue?.contains { $0["id"]?.stringValue == "solo" } ?? false
            usleep(100_000)
        }
        #expect(seen, "the node registered with the second registry")
        #expect(node.tailOfLog().contains("registered"), "\(node.tailOfLog())")
    }

    @Test func registryRefusesBadInputWithStableCodes() throws {
        let up = try Up()
        try up.start()
        defer { up.stop() }
        // The cluster settled first: a node registering meanwhile would change the count below.
        try up.eventually("three nodes registered") { up.status()?["nodes"]?.arrayValue?.count == 3 }
        let c = try HTTPClientFor(up.url)
        let cases: [(String, String, String, Int, String)] = [
            ("POST", "/register", "", 400, "invalid_json"),
            ("POST", "/register", "{", 400, "invalid_json"),
            ("POST", "/register", "[1]", 400, "invalid_json"),
            ("POST", "/register", "{\"nodeId\": 5}", 400, "invalid_field"),
            ("POST", "/register", "{\"nodeId\": \"a b\"}", 400, "invalid_field"),
            ("POST", "/heartbeat", "{\"nodeId\": \"x\", \"apiUrl\": \"ftp://x\"}", 401, "signature_required"),
            ("POST", "/register", "{\"nodeId\": \"x\", \"apiUrl\": \"http://x\", \"height\": -1}", 401, "signature_required"),
            ("POST", "/scale", "{}", 400, "missing_field"),
            ("POST", "/scale", "{\"target_nodes\": \"5\"}", 400, "invalid_field"),
            ("POST", "/scale", "{\"target_nodes\": 1000}", 422, "out_of_range"),
            ("GET", "/health", "", 400, "missing_field"),
            ("GET", "/health?node_id=nobody", "", 404, "unknown_node"),
            ("DELETE", "/nodes/nobody", "", 404, "unknown_node"),
            ("GET", "/nope", "", 404, "not_found"),
            ("PUT", "/status", "", 405, "method_not_allowed"),
        ]
        let before = up.status()?["nodes"]?.arrayValue?.count
        for (method, path, body, status, code) in cases {
            let r = c.raw(method, path, body: Array(body.utf8))
            #expect(r?.status == status, "\(method) \(path) \(body): \(r?.status ?? 0) \(r?.text ?? "")")
            #expect(r?.json?["error"]?["code"]?.stringValue == code, "\(method) \(path) \(body): \(r?.text ?? "")")
        }
        #expect(up.status()?["nodes"]?.arrayValue?.count == before, "nothing changed")
    }

    /// Everything that changes the registry's view or the cluster needs the credential: without
    /// it, with a wrong one, or with a non-JSON body, a call is refused and nothing changes.
    @Test func registryRefusesMutatingCallsWithoutTheCredential() throws {
        let up = try Up()
        try up.start()
        defer { up.stop() }
        try up.eventually("three healthy voters", timeout: 60) { up.healthy(voters: 3) }
        let before = try #require(up.status())
        let calls: [(String, String, String)] = [
            ("POST", "/scale", #"{"target_nodes": 5}"#), ("POST", "/register", #"{"nodeId": "node1"}"#),
            ("POST", "/heartbeat", #"{"nodeId": "node1"}"#), ("POST", "/consensus-failure", #"{"nodeId": "node1"}"#),
            ("DELETE", "/nodes/node2", ""),
        ]
        for authorization in [nil, "Bearer wrong-credential-0123456789", "Bearer " + NodeProcess.testCredential + "0"] {
            let c = try HTTPClientFor(up.url, authorization: authorization)
            for (method, path, body) in calls {
                let r = c.raw(method, path, body: Array(body.utf8))
                #expect(r?.status == 401, "\(method) \(path) with \(authorization ?? "none"): \(r?.status ?? 0) \(r?.text ?? "")")
                #expect(r?.json?["error"]?["code"]?.stringValue == "unauthorized")
            }
        }
        let form = HTTPClientFor(base: up.url, headers: [("Content-Type", "text/plain"), NodeProcess.authorization])
        #expect(form.raw("POST", "/scale", body: Array(#"{"target_nodes": 5}"#.utf8))?.status == 415)
        let after = try #require(up.status())
        #expect(after["nodes"]?.arrayValue?.count == before["nodes"]?.arrayValue?.count)
        #expect(after["targetNodes"] == before["targetNodes"] && after["voters"] == before["voters"], "nothing changed")
        let metrics = HTTPClientFor(base: up.url, headers: []).raw("GET", "/metrics")?.text ?? ""
        #expect(metrics.contains(#"autochain_registry_unauthorized_total{route="/scale"} 3"#))
    }
}

/// A tiny JSON client for these tests (the node's `HTTPClient`, one per call site). It carries the
/// test cluster credential unless told otherwise.
struct HTTPClientFor {
    let base: String
    let headers: [(String, String)]
    init(_ base: String, authorization: String? = NodeProcess.authorization.1) throws {
        self.base = base
        headers = [("Content-Type", "application/json")] + (authorization.map { [("Authorization", $0)] } ?? [])
    }
    init(base: String, headers: [(String, String)]) {
        self.base = base
        self.headers = headers
    }

    struct Raw { let status: Int; let text: String; var json: JSON? { try? JSON.parse(Array(text.utf8)) } }

    func raw(_ method: String, _ path: String, body: [UInt8] = []) -> Raw? {
        guard let c = try? HTTPClient(baseURL: base) else { return nil }
        defer { c.close() }
        guard let r = try? c.request(method: method, path: path, headers: HTTPHeaders(headers),
                                     body: body, timeout: .seconds(35)) else { return nil }
        return Raw(status: r.status, text: r.bodyText)
    }

    func get(_ path: String) -> JSON? { raw("GET", path)?.json }
    func post(_ path: String, _ body: JSON) -> JSON? { raw("POST", path, body: body.serialized())?.json }
}
