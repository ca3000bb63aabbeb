import Chain
import Foundation
import Testing

/// Block sync between real processes: a node catching up a chain of big blocks judges its peer on
/// the peer's replies, not on its own time spent checking and writing the blocks.
@Suite("ProcessTests.BlockSync", .serialized) struct BlockSyncProcessTests {
    typealias Cluster = ClusterTests.Cluster
    static let dev = KeyPair.development

    /// Commits `batches` × 4,000 transfers from the development key on `node` (full 2,000-transfer
    /// blocks), each batch waited for (bounded) before the next: the mempool holds 4,096 per sender.
    static func load(_ node: NodeProcess, batches: Int) throws {
        var nonce = UInt64(try node.json("GET", "/balance/\(dev.address.hex)").body["nonce"]?.intValue ?? 0)
        let to = KeyPair.generate().address
        for _ in 0..<batches {
            let txs = (0..<4_000).map { i in
                Transaction.signed(chainId: "autochain-dev", to: to, amount: 1, fee: 1, nonce: nonce + UInt64(i), keyPair: dev).json
            }
            let (status, body) = try node.json("POST", "/submit-txs", ["txs": .array(txs)])
            #expect(status == 202, "\(body)")
            nonce += 4_000
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline,
                  UInt64(try node.json("GET", "/balance/\(dev.address.hex)").body["nonce"]?.intValue ?? 0) < nonce {
                usleep(50_000)
            }
        }
    }

    /// The height in the node's "block sync finished" line, if it logged one.
    static func finishedHeight(_ log: String) -> UInt64? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains("block sync finished") }),
              let field = line.split(separator: " ").first(where: { $0.hasPrefix("height=") }) else { return nil }
        return UInt64(field.dropFirst("height=".count))
    }

    @Test func aNodeCatchingUpBigBlocks_syncsToTheHeadWithoutIgnoringItsPeer() throws {
        let c = Cluster()
        defer { c.stopAll() }
        try c.start("n1", join: false)
        let loading = Date()
        try Self.load(c.nodes["n1"]!, batches: 20)
        print("loaded in \(String(format: "%.1f", Date().timeIntervalSince(loading))) s")
        let chainHeight = UInt64(try #require(c.status("n1")?["height"]?.intValue))
        #expect(chainHeight > 34, "about 40 blocks of 2,000 transfers")
        // n1 serves the 8 requests n2 has outstanding one after another (a debug build on a loaded
        // machine: about 2 s each here), and n2 checks and writes between them: n1 is judged on
        // its deliveries, never ignored, and sync ends at the head, not early. The timeout is
        // above one reply's time with room for a loaded machine (the core's specifications in
        // NodeCoreTests/BlockSyncPacingTests pin the timing rules themselves).
        let config = TestDirs.make("sync-config") + "/config.toml"
        _ = FileManager.default.createFile(atPath: config,
                                           contents: Data("[p2p]\nsync_request_timeout_ms = 10000\nsync_ignore_peer_ms = 600000\n".utf8))
        print("cluster under \(c.base)")
        let started = Date()
        try c.start("n2", join: true, config: config, waitUntilReady: false)
        try c.eventually("n2 has n1's chain", timeout: 120) {
            (c.status("n2")?["height"]?.intValue).map { UInt64($0) >= chainHeight } ?? false
        }
        let seconds = Date().timeIntervalSince(started)
        // The "finished" line comes from the sync step after the one that wrote the last block:
        // it can follow the height by a moment (a stress run read the log in between).
        let readLog = { (try? String(contentsOfFile: c.nodes["n2"]!.logPath, encoding: .utf8)) ?? "" }
        try c.eventually("n2 logs the end of its block sync", timeout: 30) { Self.finishedHeight(readLog()) != nil }
        let log = readLog()
        #expect(log.contains("block sync started"), "n2 this far behind block-syncs")
        #expect(!log.contains("its claim is ignored"), "n1 delivered all along:\n\(c.nodes["n2"]!.tailOfLog())")
        let finished = Self.finishedHeight(log)
        #expect(finished.map { $0 + 2 >= chainHeight } == true, "sync finished at \(String(describing: finished)) of \(chainHeight)")
        print("block sync of \(chainHeight) blocks (≈\(chainHeight * 2_000) transfers) in \(String(format: "%.1f", seconds)) s")
    }

    /// `sync_transfer_signatures = "trust_leader_signed"` reaches the syncing node's core (its
    /// log says so) and the node ends on the leader's chain and state.
    @Test func aNodeTrustingLeaderSignedBlocks_syncsToTheSameHeadAndBalances() throws {
        let c = Cluster()
        defer { c.stopAll() }
        try c.start("n1", join: false)
        try Self.load(c.nodes["n1"]!, batches: 10)
        let head = try #require(c.status("n1")?["height"]?.intValue)
        let config = TestDirs.make("sync-trust-config") + "/config.toml"
        _ = FileManager.default.createFile(atPath: config, contents: Data("[p2p]\nsync_transfer_signatures = \"trust_leader_signed\"\n".utf8))
        try c.start("n2", join: true, config: config, waitUntilReady: false)
        try c.eventually("n2 has n1's chain", timeout: 120) { (c.status("n2")?["height"]?.intValue).map { $0 >= head } ?? false }
        let log = (try? String(contentsOfFile: c.nodes["n2"]!.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("block sync started") && log.contains("transfer_signatures=trust_leader_signed"),
                "\(c.nodes["n2"]!.tailOfLog())")
        let path = "/block/\(head)"
        #expect(try c.nodes["n2"]!.json("GET", path).body["hash"] == c.nodes["n1"]!.json("GET", path).body["hash"])
        let balance = "/balance/\(Self.dev.address.hex)"
        #expect(try c.nodes["n2"]!.json("GET", balance).body == c.nodes["n1"]!.json("GET", balance).body)
    }
}
