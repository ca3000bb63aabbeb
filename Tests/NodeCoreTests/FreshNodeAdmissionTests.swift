// A fresh `--join` node (no members known yet) and strangers: it follows only the leader that
// admitted it (an anchor, learned from a join answer the shell authenticated), so a valid key
// that is not in the cluster can neither halt it with junk nor hand it a chain of its own.
import Chain
import Consensus
import NodeCore
import Testing

@Suite struct FreshNodeAdmissionTests {
    /// A `--join` node with an empty chain, not yet answered.
    private func freshNode(_ id: String = "n") throws -> CoreNode {
        try CoreNode(id, store: MemoryBlockStore(genesis: CoreFixture.genesis), joining: true, seed: 5)
    }

    private func refusals(of node: CoreNode) -> [RefusalReason] {
        node.effects.compactMap { if case .refused(_, let reason) = $0 { reason } else { nil } }
    }

    /// Found by the hostile simulator: before this rule, the junk was committed and the node halted.
    @Test func aStrangersCommittedJunkIsRefused_andTheFreshNodeDoesNotHalt() throws {
        let cluster = try CoreCluster.bootstrapped()
        let n = try freshNode()
        let junk = Message(from: "x", to: "n", term: 1, kind: .append(
            prevIndex: 0, prevTerm: 0, entries: [Entry(index: 1, term: 1, data: [0xde, 0xad])], commit: 1))
        n.perform(n.core.handle(.raft(junk), now: cluster.now), now: cluster.now)
        n.drain(now: cluster.now)
        #expect(n.halt == nil)
        #expect(refusals(of: n) == [.notMember])
        #expect(n.core.status.lastIndex == 0 && n.store.headHeight == 0)
    }

    /// A stranger that bootstrapped a chain of its own leads it; its appends do not reach a
    /// fresh node that joins another cluster.
    @Test func aStrangersOwnChainIsNotAdopted() throws {
        let stranger = try CoreCluster.bootstrapped()  // "a", a lone leader of a chain of its own
        let a = try #require(stranger.leader)
        let n = try freshNode()
        stranger.nodes["n"] = n
        // It adds "n" to its chain and replicates to it, as a real leader would.
        _ = stranger.change(MembershipChange(kind: .addLearner, nodeId: "n", nodeKey: CoreFixture.key("n").publicKey), on: a)
        for _ in 0..<5 { stranger.tick() }
        #expect(n.halt == nil)
        #expect(n.store.headHeight == 0 && n.store.membership.voters.isEmpty)
        #expect(refusals(of: n).allSatisfy { $0 == .notMember } && !refusals(of: n).isEmpty)
    }

    /// The join flow: the leader's accepted answer makes it an anchor; its appends then bring
    /// the fresh node the whole chain, and from then on the membership decides.
    @Test func theLeaderThatAcceptedTheJoin_catchesTheFreshNodeUp() throws {
        let cluster = try CoreCluster.bootstrapped()
        let a = try #require(cluster.leader)
        let n = try freshNode()
        let answer = a.core.handle(.join(nodeId: "n", nodeKey: CoreFixture.key("n").publicKey, from: "n"), now: cluster.now)
        a.perform(answer, now: cluster.now)
        guard case .answerJoin("n", "n", true, _, let hint)? = answer.last else { Issue.record("\(answer)"); return }
        n.perform(n.core.handle(.joinAnswered(from: a.id, accepted: true, leaderHint: hint), now: cluster.now), now: cluster.now)
        cluster.nodes["n"] = n
        for _ in 0..<5 { cluster.tick() }
        #expect(n.halt == nil && refusals(of: n).isEmpty)
        #expect(n.store.headHeight == a.store.headHeight && n.store.headHash == a.store.headHash)
        #expect(n.store.membership.learners == ["n"])
    }

    /// A refused join (or a peer that merely names a leader) makes no anchor.
    @Test func aRefusedJoinAnswerMakesNoAnchor() throws {
        let cluster = try CoreCluster.bootstrapped()
        let a = try #require(cluster.leader)
        let n = try freshNode()
        n.perform(n.core.handle(.joinAnswered(from: a.id, accepted: false, leaderHint: a.id), now: cluster.now), now: cluster.now)
        cluster.nodes["n"] = n
        _ = cluster.change(MembershipChange(kind: .addLearner, nodeId: "n", nodeKey: CoreFixture.key("n").publicKey), on: a)
        for _ in 0..<3 { cluster.tick() }
        #expect(n.store.headHeight == 0 && !refusals(of: n).isEmpty)
    }

    /// Block sync, too: before an anchor exists, no peer's claimed height starts it.
    @Test func aStrangersClaimedHeightStartsNoSyncOnAFreshNode() throws {
        let cluster = try CoreCluster.bootstrapped()
        let n = try freshNode()
        n.perform(n.core.handle(.peerHeight("x", 1_000), now: cluster.now), now: cluster.now)
        let asks = n.core.syncDuties(connected: [(id: "x", height: 1_000)], now: cluster.now)
        #expect(!n.core.sync.active && asks.isEmpty)
    }
}
