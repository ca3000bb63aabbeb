import Chain
import Foundation
import Glibc
import Testing

/// `autochain nginx-config` against a real nginx (Debian's nginx-light): the generated
/// configuration, with TLS from a self-signed certificate, serves reads and a credentialed
/// transfer over HTTPS in front of `autochain up`, and keeps answering while a node is killed.
/// `make test` installs nginx-light when it is missing; where it cannot, this test is skipped.
@Suite("ProcessTests.Nginx", .serialized) struct NginxTests {
    static func tool(_ names: [String]) -> String? {
        names.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
    static let nginx = tool(["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"])
    static let openssl = tool(["/usr/bin/openssl", "/usr/local/bin/openssl"])
    static let curl = tool(["/usr/bin/curl", "/usr/local/bin/curl"])
    static let toolsPresent = nginx != nil && openssl != nil && curl != nil

    /// Runs a program to its end (bounded); its exit status and merged output. For programs
    /// that print little (their output waits in the pipe until they exit).
    @discardableResult
    static func run(_ path: String, _ args: [String], timeoutS: Double = 60) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let deadline = Date().addingTimeInterval(timeoutS)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        try? out.fileHandleForWriting.close()
        let data = out.fileHandleForReading.availableData
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// One HTTPS request through nginx with curl, trusting only the test's certificate.
    static func https(_ dir: String, _ url: String, method: String = "GET", body: JSON? = nil) throws -> (status: Int, body: JSON?) {
        var args = ["-sS", "-m", "40", "--cacert", dir + "/cert.pem", "-X", method, "-o", dir + "/answer.json", "-w", "%{http_code}",
                    "-H", "\(NodeProcess.authorization.0): \(NodeProcess.authorization.1)", "-H", "Content-Type: application/json"]
        if let body {
            let file = dir + "/request.json"
            _ = FileManager.default.createFile(atPath: file, contents: Data(body.serialized()))
            args += ["--data-binary", "@" + file]
        }
        let (exit, output) = try run(curl!, args + [url])
        guard exit == 0, let status = Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) else { return (0, nil) }
        let answer = FileManager.default.contents(atPath: dir + "/answer.json") ?? Data()
        return (status, try? JSON.parse(Array(answer)))
    }

    /// A transfer from the development key, committed through nginx; true when it was.
    static func commit(_ dir: String, _ base: String) throws -> Bool {
        let dev = KeyPair.development
        guard let nonce = try https(dir, base + "/balance/\(dev.address.hex)").body?["nonce"]?.intValue else { return false }
        let tx = Transaction.signed(chainId: "autochain-dev", to: KeyPair.generate().address, amount: 1, fee: 1,
                                    nonce: UInt64(nonce), keyPair: dev)
        let r = try https(dir, base + "/submit-tx?wait=commit", method: "POST", body: tx.json)
        return r.status == 200 && r.body?["status"]?.stringValue == "committed"
    }

    /// A non-daemon nginx of this test: its own prefix, pid file, logs and temp paths under `dir`.
    static func mainConfig(_ dir: String) -> String {
        """
        daemon off;
        worker_processes 1;
        pid \(dir)/nginx.pid;
        error_log \(dir)/error.log info;
        events { worker_connections 256; }
        http {
            access_log \(dir)/access.log;
            client_body_temp_path \(dir)/tmp-body;
            proxy_temp_path \(dir)/tmp-proxy;
            fastcgi_temp_path \(dir)/tmp-fastcgi;
            include \(dir)/autochain.conf;
        }

        """
    }

    @Test(.enabled(if: toolsPresent, "nginx, openssl and curl are needed (apt-get install nginx-light openssl curl; make test installs them when it can)"))
    func generatedConfigTerminatesTLSServesReadsAndTransfersAndSurvivesAKilledNode() throws {
        let up = try RegistryTests.Up()
        try up.start()
        defer { up.stop() }
        _ = try up.healthyLeader()
        let dir = up.base + "/nginx"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let cert = try Self.run(Self.openssl!, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                                "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem", "-days", "1",
                                                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        try #require(cert.status == 0, "openssl: \(cert.output)")

        let port = try freePort()
        var generated = ""
        try up.eventually("a configuration routing to all three nodes") {
            let r = try? Self.run(NodeProcess.binary, ["nginx-config", "--registry", up.url, "--tls-cert", dir + "/cert.pem",
                                                       "--tls-key", dir + "/key.pem", "--listen", "127.0.0.1:\(port)", "--out", dir + "/autochain.conf"])
            generated = (try? String(contentsOfFile: dir + "/autochain.conf", encoding: .utf8)) ?? ""
            return r?.status == 0 && generated.components(separatedBy: "max_fails=").count == 4
        }
        _ = FileManager.default.createFile(atPath: dir + "/nginx.conf", contents: Data(Self.mainConfig(dir).utf8))
        let check = try Self.run(Self.nginx!, ["-t", "-p", dir, "-c", dir + "/nginx.conf", "-e", dir + "/error.log"])
        try #require(check.status == 0, "nginx -t: \(check.output)\n\(generated)")

        let server = Process()
        server.executableURL = URL(fileURLWithPath: Self.nginx!)
        server.arguments = ["-p", dir, "-c", dir + "/nginx.conf", "-e", dir + "/error.log"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            server.terminate()
            let deadline = Date().addingTimeInterval(10)
            while server.isRunning && Date() < deadline { usleep(20_000) }
            if server.isRunning { kill(server.processIdentifier, SIGKILL) }
            server.waitUntilExit()
        }

        let base = "https://127.0.0.1:\(port)"
        try up.eventually("nginx answers GET /chain/head over TLS", timeout: 20) {
            (try? Self.https(dir, base + "/chain/head"))?.status == 200
        }
        let head = try Self.https(dir, base + "/chain/head")
        #expect(head.body?["head"] != nil && head.body?["chainId"]?.stringValue == "autochain-dev")
        try up.eventually("a transfer committed through nginx") { (try? Self.commit(dir, base)) == true }

        let victim = try #require(up.nodePids().sorted { $0.key < $1.key }.first)
        kill(victim.value, SIGKILL)
        for _ in 0..<9 {  // round robin over three: each node's turn comes, the dead one's too
            #expect(try Self.https(dir, base + "/chain/head").status == 200)
        }
        try up.eventually("a transfer committed through nginx after \(victim.key) was killed", timeout: 60) {
            (try? Self.commit(dir, base)) == true
        }
    }
}
