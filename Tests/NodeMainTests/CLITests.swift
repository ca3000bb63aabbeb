import Chain
import Foundation
import Testing

/// The command-line tools against a real node, as a newcomer following the README would use them.
@Suite("ProcessTests.CLI") struct CLITests {
    struct Run { let status: Int32; let out: String; let err: String }

    func run(_ args: [String]) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: NodeProcess.binary)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }

    @Test func keygenTransferStatus_likeTheReadme() throws {
        let node = try NodeProcess()
        try node.start()
        defer { node.stop() }
        let dir = TestDirs.make("cli")
        let dev = try run(["keygen", "--dev", "--out", dir + "/dev.key"])
        #expect(dev.status == 0)
        #expect(dev.err.contains("DEVELOPMENT"), "the dev key must come with a loud warning")
        let alice = try run(["keygen", "--out", dir + "/alice.key"])
        #expect(alice.status == 0)
        let keyJSON = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/alice.key"))))
        let address = try #require(keyJSON["address"]?.stringValue)
        #expect(keyJSON["seed"]?.stringValue?.count == 64)
        #expect(keyJSON["publicKey"]?.stringValue?.count == 64)

        let sent = try run(["transfer", "--node", node.url, "--key", dir + "/dev.key", "--to", address, "--amount", "1000", "--wait"])
        #expect(sent.status == 0, "\(sent.err)")
        #expect(sent.out.contains("committed"), "\(sent.out)")
        let again = try run(["transfer", "--node", node.url, "--key", dir + "/dev.key", "--to", address, "--amount", "1", "--fee", "0", "--wait"])
        #expect(again.status == 0, "nonce fetched from the node: \(again.err)")
        #expect(try node.json("GET", "/balance/\(address)").body["balance"]?.intValue == 1001)

        let status = try run(["status", "--node", node.url])
        #expect(status.status == 0)
        #expect(status.out.contains("leader") && status.out.contains("height 3"), "\(status.out)")
        let json = try run(["status", "--node", node.url, "--json"])
        #expect(try JSON.parse(Array(json.out.utf8))["height"]?.intValue == 3)
    }

    /// `bench --single` is the unbatched client of the benchmarks: one transfer per `/submit-tx`
    /// request on each keep-alive connection, every admitted transfer seen committed.
    @Test func benchSingle_sendsOneTransferPerSubmitTxRequest_andSeesEachCommitted() throws {
        let node = try NodeProcess()
        try node.start()
        defer { node.stop() }
        let dir = TestDirs.make("cli-bench")
        #expect(try run(["keygen", "--dev", "--out", dir + "/dev.key"]).status == 0)
        let bench = try run(["bench", "--node", node.url, "--key", dir + "/dev.key", "--accounts", "20", "--txs", "120",
                             "--concurrency", "8", "--single", "--timeout", "120", "--json", dir + "/bench.json"])
        #expect(bench.status == 0, "\(bench.err)")
        #expect(bench.out.contains("one transfer per /submit-tx request"), "\(bench.out)")
        let figures = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/bench.json"))))
        #expect(figures["batch"]?.intValue == 1)
        #expect(figures["submitted"]?.intValue == 120)
        #expect(figures["committed"]?.intValue == 120, "\(bench.out)")
        #expect(figures["unconfirmed"]?.intValue == 0)
        let metrics = try node.request("GET", "/metrics").bodyText
        let singles = metrics.split(separator: "\n").filter { $0.hasPrefix("autochain_http_requests_total{") && $0.contains("\"/submit-tx\"") }
        let served = singles.compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        #expect(served >= 120, "every bench transfer is its own /submit-tx request: \(singles)")
    }

    @Test func everyCommandHasHelpAndErrorsAreOneLine() throws {
        for command in ["node", "keygen", "transfer", "status", "bench", "load"] {
            let help = try run([command, "--help"])
            #expect(help.status == 0, "\(command) --help")
            #expect(help.out.contains("usage: autochain \(command)"), "\(command): \(help.out)")
        }
        let unknown = try run(["frobnicate"])
        #expect(unknown.status == 2)
        let badFlag = try run(["transfer", "--nope"])
        #expect(badFlag.status == 2)
        #expect(badFlag.err.split(separator: "\n").count == 1, "\(badFlag.err)")
        let missing = try run(["transfer", "--node", "http://127.0.0.1:1", "--key", "/nonexistent"])
        #expect(missing.status != 0)
        #expect(missing.err.split(separator: "\n").count == 1, "\(missing.err)")
        let overdraft = try NodeProcess()
        try overdraft.start()
        defer { overdraft.stop() }
        let dir = TestDirs.make("cli")
        _ = try run(["keygen", "--out", dir + "/poor.key"])
        let poor = try run(["transfer", "--node", overdraft.url, "--key", dir + "/poor.key", "--to", KeyPair.development.address.hex, "--amount", "5"])
        #expect(poor.status == 1)
        #expect(poor.err.contains("insufficient_funds"), "\(poor.err)")
    }

    @Test func nodeRefusesABadConfigWithFileLineAndKey() throws {
        let dir = TestDirs.make("badconfig")
        let path = dir + "/config.toml"
        _ = FileManager.default.createFile(atPath: path, contents: Data("[api]\naddr = 8080\n".utf8))
        let r = try run(["node", "--config", path, "--data-dir", dir + "/data"])
        #expect(r.status == 2)
        #expect(r.err.contains("config.toml:2") && r.err.contains("api.addr"), "\(r.err)")
    }

    @Test func nodeRefusesADataDirectoryOfAnotherChain() throws {
        let node = try NodeProcess()
        try node.start()
        node.stop()
        let dir = TestDirs.make("otherchain")
        let path = dir + "/config.toml"
        _ = FileManager.default.createFile(atPath: path, contents: Data("[genesis]\nchain_id = \"other\"\n".utf8))
        let r = try run(["node", "--config", path, "--data-dir", node.dataDir, "--api-addr", "127.0.0.1:0"])
        #expect(r.status == 1)
        #expect(r.err.contains("belongs to chain 'autochain-dev'"), "\(r.err)")
    }

    @Test func nodeRefusesAGarbageDatabaseClearly() throws {
        let dir = TestDirs.make("garbage")
        _ = FileManager.default.createFile(atPath: dir + "/chain.db", contents: Data(repeating: 0x42, count: 8192))
        let r = try run(["node", "--data-dir", dir, "--api-addr", "127.0.0.1:0"])
        #expect(r.status == 1)
        #expect(r.err.contains("not a database"), "\(r.err)")
    }
}
