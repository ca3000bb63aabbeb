import Chain
import Foundation
import Testing

/// `[consensus] replicated_transfer_signatures` between real processes: followers that trust the
/// leader's signature verify none of the transfers it replicates, and still end on its chain and
/// state; by default they verify each one.
@Suite("ProcessTests.ReplicationTrust", .serialized) struct ReplicationTrustProcessTests {
    typealias Cluster = ClusterTests.Cluster

    /// The followers' `autochain_replicated_transfer_signatures_verified_total` after 4,000
    /// transfers committed on a three-voter cluster started with `setting`, once every node has
    /// the leader's head and the sender's balance; nil when leadership moved meanwhile (a new
    /// leader's followers verify the blocks of the earlier term, as they must).
    static func followersVerified(setting: String) throws -> [Double]? {
        let config = TestDirs.make("replication-trust") + "/config.toml"
        _ = FileManager.default.createFile(atPath: config,
                                           contents: Data("[consensus]\nreplicated_transfer_signatures = \"\(setting)\"\n".utf8))
        let c = try Cluster.three(config: config)
        defer { c.stopAll() }
        let all = ["n1", "n2", "n3"]
        let leader = try #require(c.leader(among: all))
        let term = c.status(leader)?["term"]?.intValue
        try BlockSyncProcessTests.load(c.nodes[leader]!, batches: 1)
        try c.eventually("every node on the leader's head") { Set(c.heads(all)).count == 1 && c.heads(all)[0] != "?" }
        let balance = "/balance/\(KeyPair.development.address.hex)"
        let expected = try c.nodes[leader]!.json("GET", balance).body
        guard all.allSatisfy({ c.status($0)?["term"]?.intValue == term }) else { return nil }
        return try all.filter { $0 != leader }.map { id in
            let node = try #require(c.nodes[id])
            #expect(try node.json("GET", balance).body == expected)
            let metrics = try node.request("GET", "/metrics").bodyText
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("autochain_replicated_transfer_signatures_verified_total ") }
            return try #require(line.flatMap { Double($0.split(separator: " ").last ?? "") })
        }
    }

    /// `followersVerified`, on a fresh cluster again (at most 3 times) while leadership moved.
    static func followersVerifiedInOneTerm(setting: String) throws -> [Double] {
        for _ in 0..<3 {
            if let counts = try followersVerified(setting: setting) { return counts }
        }
        Issue.record("leadership moved during each of 3 clusters")
        return []
    }

    @Test func trustingFollowers_verifyNoReplicatedTransfer_andReachTheLeadersState() throws {
        #expect(try Self.followersVerifiedInOneTerm(setting: "trust_leader_signed") == [0, 0])
    }

    @Test func verifyingFollowers_verifyEveryReplicatedTransfer() throws {
        let counts = try Self.followersVerifiedInOneTerm(setting: "verify")
        #expect(counts.count == 2 && counts.allSatisfy { $0 >= 4_000 }, "\(counts)")
    }
}
