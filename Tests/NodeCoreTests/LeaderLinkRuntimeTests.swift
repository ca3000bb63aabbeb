// The runtime core's half of the leader-link election: it holds the short randomized delay
// between "the link to my leader closed" and the pre-vote, and the new leader's term-start block
// commits with no tick in between.
import Chain
import Consensus
import NodeCore
import Testing

@Suite struct LeaderLinkRuntimeTests {
    /// Tells every live node but the leader that the leader's link closed.
    private func killLeader(_ cluster: CoreCluster) throws -> CoreNode {
        let old = try #require(cluster.leader)
        cluster.down.insert(old.id)
        for id in cluster.nodes.keys.sorted() where id != old.id {
            let node = cluster.nodes[id]!
            node.perform(node.core.handle(.peerLinkClosed(old.id), now: cluster.now), now: cluster.now)
        }
        return old
    }

    @Test func aKilledLeadersSurvivorsElectAndCommitWithinTheFirstDelay_withNoTick() throws {
        let cluster = try CoreCluster.threeVoters()
        let old = try killLeader(cluster)
        let start = cluster.now.monotonicNs
        let survivors = cluster.nodes.values.filter { $0.id != old.id }.sorted { $0.id < $1.id }
        // In turn, by ID: the first survivor after the minimum, the last after the maximum.
        #expect(survivors.map(\.core.leaderLinkElectionAtNs) == [start + 10_000_000, start + 210_000_000])
        for node in survivors {
            let due = try #require(node.core.leaderLinkElectionAtNs)
            node.core.leaderLinkElectionDue(now: cluster.now)
            #expect(node.core.status.role == .follower && node.core.leaderLinkElectionAtNs == due, "not before it is due")
        }
        cluster.settle()
        let heads = survivors.map(\.store.headHeight)
        cluster.advance(ms: 10)
        for node in survivors {
            node.core.leaderLinkElectionDue(now: cluster.now)
            cluster.settle()
        }
        let new = try #require(cluster.leader)
        #expect(new.id == survivors[0].id && new.core.status.term == old.core.status.term + 1)
        #expect(!survivors[1].core.raft.awaitsLeaderLinkElection, "it granted the first one's pre-vote and stays quiet")
        // The new leader cuts and commits a client's transfer at once, still with no tick.
        #expect(new.cutBlocks(from: [CoreFixture.transfer(nonce: 0)], now: cluster.now).isEmpty)
        cluster.settle()
        #expect(zip(survivors, heads).allSatisfy { $0.store.headHeight == $1 + 1 }, "the transfer's block is committed everywhere")
        #expect(cluster.now.monotonicNs - start == 10_000_000)
    }

    @Test func aLinkClosedToAFollowerSchedulesNothing() throws {
        let cluster = try CoreCluster.threeVoters()
        let leader = try #require(cluster.leader)
        let follower = try #require(cluster.nodes.values.first { $0.id != leader.id })
        let other = try #require(cluster.nodes.values.first { $0.id != leader.id && $0.id != follower.id })
        other.perform(other.core.handle(.peerLinkClosed(follower.id), now: cluster.now), now: cluster.now)
        leader.perform(leader.core.handle(.peerLinkClosed(follower.id), now: cluster.now), now: cluster.now)
        #expect(other.core.leaderLinkElectionAtNs == nil && leader.core.leaderLinkElectionAtNs == nil)
    }
}
