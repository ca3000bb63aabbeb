import Chain
import Foundation
import Testing

/// A killed leader's sockets close at once: its survivors see the links close and elect without
/// waiting the election timeout. With a timeout of 8 s, a survivor commits a transfer within 5 s
/// of the kill (in well under a second on an idle machine); waiting the timeout would take 8 s or
/// more. The second survivor's delay is 1 s, so even a loaded machine's pre-vote round trip
/// reaches it before it would ask too and split the vote.
@Suite("ProcessTests.LinkFailover", .serialized) struct LinkFailoverTests {
    @Test func killedLeadersSurvivorsCommitLongBeforeAnElectionTimeout() throws {
        let config = TestDirs.make("link-failover") + "/config.toml"
        let text = "[consensus]\nelection_timeout_ms = 8000\nleader_link_closed_election_max_ms = 1000\n"
        _ = FileManager.default.createFile(atPath: config, contents: Data(text.utf8))
        let c = try ClusterTests.Cluster.three(config: config)
        defer { c.stopAll() }
        let all = ["n1", "n2", "n3"]
        let leader = try #require(c.leader(among: all))
        let dev = KeyPair.development
        func transfer(_ node: String, nonce: UInt64) throws -> Int {
            let tx = Transaction.signed(chainId: "autochain-dev", to: KeyPair.generate().address, amount: 1, fee: 1, nonce: nonce, keyPair: dev)
            return try c.nodes[node]!.json("POST", "/submit-tx?wait=commit", tx.json).status
        }
        let nonce = UInt64(try c.nodes[leader]!.json("GET", "/balance/\(dev.address.hex)").body["nonce"]?.intValue ?? 0)
        #expect(try transfer(leader, nonce: nonce) == 200)
        try c.eventually("every node holds the same head") { Set(c.heads(all)).count == 1 }

        let killedAt = Date()
        c.nodes[leader]!.kill9()
        let survivors = all.filter { $0 != leader }
        var seen: String?
        try c.eventually("a new leader among the survivors", timeout: 20) { seen = c.leader(among: survivors); return seen != nil }
        let newLeader = try #require(seen)
        #expect(try transfer(newLeader, nonce: nonce + 1) == 200)
        let elapsedS = Date().timeIntervalSince(killedAt)
        print("link failover: kill -9 of \(leader) to a commit on \(newLeader) in \(String(format: "%.2f", elapsedS)) s")
        #expect(elapsedS < 5, "the survivors waited for the election timeout: \(elapsedS) s")
    }
}
