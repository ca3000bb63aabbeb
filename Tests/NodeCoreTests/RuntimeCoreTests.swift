// The runtime core's rules as specifications: each test drives real cores with an injected
// clock (CoreHarness.swift) and checks one decision.
import Chain
import Consensus
import NodeCore
import Testing

@Suite struct RuntimeCoreTests {
    @Test func aLoneNodeBootstrapsItsChainAndLeadsIt() throws {
        let cluster = try CoreCluster.bootstrapped()
        let a = cluster.nodes["a"]!
        #expect(a.core.isLeader)
        #expect(a.store.headHeight == 1 && a.store.membership.voters == ["a"])
        #expect(try a.store.block(at: 1)?.membership?.kind == .bootstrap)
    }

    @Test func aLeaderCutsNoBlockBeforeTheIntervalPassed_thenCutsOneOfTheWaitingTransactions() throws {
        let cluster = try CoreCluster.bootstrapped()
        let a = cluster.nodes["a"]!
        // The clock starts 1 s after the last cut (0): a block is due at once; then not again
        // until 100 ms (`blockIntervalMs`) later unless a full block waits.
        #expect(a.core.cutDemand(readyCount: 1, now: cluster.now) == 50)
        #expect(a.cutBlocks(from: [CoreFixture.transfer(nonce: 0)], now: cluster.now).isEmpty)
        #expect(a.core.cutDemand(readyCount: 1, now: cluster.now) == nil)
        cluster.advance(ms: 99)
        #expect(a.core.cutDemand(readyCount: 1, now: cluster.now) == nil)
        #expect(a.core.cutDemand(readyCount: 50, now: cluster.now) == 50)
        cluster.advance(ms: 1)
        #expect(a.core.cutDemand(readyCount: 1, now: cluster.now) == 50)
        cluster.settle()
        #expect(a.store.headHeight == 2 && a.store.blocks[2].txs.count == 1)
        #expect(a.store.accounts[CoreFixture.payee]?.balance == 10)
    }

    /// The runtime sleeps until `cutIntervalEndsNs` while transfers wait (arrivals do not wake
    /// it): that must be exactly when `cutDemand` turns due, never later.
    @Test func theIntervalEndsWhenTheNextBlockFallsDue_oneIntervalAfterTheLastCut() throws {
        let cluster = try CoreCluster.bootstrapped()
        let a = cluster.nodes["a"]!
        let cutAt = cluster.now.monotonicNs
        #expect(a.cutBlocks(from: [CoreFixture.transfer(nonce: 0)], now: cluster.now).isEmpty)
        #expect(a.core.cutIntervalEndsNs == cutAt + 100 * 1_000_000)
        cluster.advance(ms: 99)
        #expect(cluster.now.monotonicNs < a.core.cutIntervalEndsNs)
        #expect(a.core.cutDemand(readyCount: 1, now: cluster.now) == nil)
        cluster.advance(ms: 1)
        #expect(cluster.now.monotonicNs == a.core.cutIntervalEndsNs)
        #expect(a.core.cutDemand(readyCount: 1, now: cluster.now) == 50)
    }

    /// Read-your-writes across nodes: a follower learns a commit from the leader's messages, so
    /// the leader publishes the committed state (balances, its mempool's nonces) before any
    /// message of the same round leaves. Otherwise a client told "committed" by a follower could
    /// find the leader a step behind (seen as `nonce_conflict` instead of `nonce_too_low`).
    @Test func aLeaderPublishesWhatItCommitsBeforeItsMessagesOfThatRoundLeave() throws {
        let cluster = try CoreCluster.threeVoters()
        let leader = try #require(cluster.electLeader())
        leader.afterPersist = []
        cluster.advance(ms: 1_000)
        _ = leader.cutBlocks(from: [CoreFixture.transfer(nonce: 0)], now: cluster.now)
        cluster.settle()
        cluster.tick()
        #expect(leader.store.accounts[CoreFixture.payee]?.balance == 10, "the transfer committed")
        let rounds = leader.afterPersist.filter { $0.contains("publish") && $0.contains("send") }
        #expect(!rounds.isEmpty, "a round both published and sent: \(leader.afterPersist)")
        for kinds in rounds {
            #expect(kinds.firstIndex(of: "publish")! < kinds.firstIndex(of: "send")!, "\(kinds)")
        }
    }

    /// A lone leader's block commits in the round that appends it; its signatures were checked
    /// when its transfers were admitted, so nothing checks them again (before: a third
    /// verification of every transfer, a quarter of a lone node's CPU at its peak).
    @Test func aLoneLeaderDoesNotPrecheckItsOwnBlocks() throws {
        let cluster = try CoreCluster.bootstrapped()
        let a = cluster.nodes["a"]!
        a.effects = []
        cluster.advance(ms: 1_000)
        #expect(a.cutBlocks(from: (0..<3).map { CoreFixture.transfer(nonce: $0) }, now: cluster.now).isEmpty)
        cluster.settle()
        #expect(a.store.headHeight == 2, "the block committed")
        let prechecked = a.effects.flatMap { effect -> [UInt64] in
            if case .precheckEntries(let records) = effect { records.map(\.index) } else { [] }
        }
        #expect(prechecked.isEmpty, "prechecked its own blocks at \(prechecked)")
    }

    /// A follower checks the leader's blocks ahead, before they commit.
    @Test func aFollowerPrechecksTheLeadersBlocksBeforeTheyCommit() throws {
        let cluster = try CoreCluster.threeVoters()
        let leader = try #require(cluster.electLeader())
        let followers = cluster.nodes.values.filter { $0.id != leader.id }
        for f in followers { f.effects = [] }
        cluster.advance(ms: 1_000)
        #expect(leader.cutBlocks(from: [CoreFixture.transfer(nonce: 0)], now: cluster.now).isEmpty)
        cluster.settle()
        let height = leader.core.status.lastIndex
        for f in followers {
            let checked = f.effects.flatMap { effect -> [UInt64] in
                if case .precheckEntries(let records) = effect { records.map(\.index) } else { [] }
            }
            #expect(checked.contains(height), "\(f.id) checked \(checked), the block is at \(height)")
        }
    }

    @Test func aLeaderDropsCandidatesThatDoNotExecute_andCutsNothingWithoutValidOnes() throws {
        let cluster = try CoreCluster.bootstrapped()
        let a = cluster.nodes["a"]!
        let gap = CoreFixture.transfer(nonce: 5)
        let (cut, effects) = a.core.cut(candidates: [gap], now: cluster.now)
        #expect(!cut)
        guard case .dropTransactions(let dropped) = effects.first else { Issue.record("no drop: \(effects)"); return }
        #expect(dropped.map(\.0) == [gap])
        #expect(a.core.inflight.isEmpty)
    }

    @Test func aJoinFromARemovedNodeIDIsRefused() throws {
        let cluster = try CoreCluster.bootstrapped()
        let a = cluster.nodes["a"]!
        let x = CoreFixture.key("x").publicKey
        #expect(cluster.change(MembershipChange(kind: .addLearner, nodeId: "x", nodeKey: x), on: a) == .proposed(height: 2))
        #expect(cluster.change(MembershipChange(kind: .remove, nodeId: "x"), on: a) == .proposed(height: 3))
        let answer = a.core.handle(.join(nodeId: "x", nodeKey: x, from: "x"), now: cluster.now)
        guard case .answerJoin(_, "x", let accepted, let reason, _)? = answer.last else { Issue.record("\(answer)"); return }
        #expect(!accepted && reason.contains("retired"))
    }

    /// Fencing's tombstones in consensus: a removed member's key never comes back, not even
    /// under a new node ID (a join or an add of it is refused with `retired_key`).
    @Test func aRemovedMembersKey_isRefusedUnderANewNodeID() throws {
        let cluster = try CoreCluster.bootstrapped()
        let a = cluster.nodes["a"]!
        let x = CoreFixture.key("x").publicKey
        #expect(cluster.change(MembershipChange(kind: .addLearner, nodeId: "x", nodeKey: x), on: a) == .proposed(height: 2))
        #expect(cluster.change(MembershipChange(kind: .remove, nodeId: "x"), on: a) == .proposed(height: 3))
        #expect(a.store.membership.retiredKeys == ["x": x])
        let add = cluster.change(MembershipChange(kind: .addLearner, nodeId: "x2", nodeKey: x), on: a)
        #expect(add == .refused(.retiredKey(of: "x")))
        #expect(MembershipRejection.retiredKey(of: "x").code == "retired_key")
        let answer = a.core.handle(.join(nodeId: "x2", nodeKey: x, from: "x2"), now: cluster.now)
        guard case .answerJoin(_, "x2", let accepted, let reason, _)? = answer.last else { Issue.record("\(answer)"); return }
        #expect(!accepted && reason.contains("retired node x"))
        #expect(a.store.membership.learners.isEmpty)
    }

    @Test func aJoinOfANewNodeAddsItAsALearner_andAFollowerPointsToTheLeader() throws {
        let cluster = try CoreCluster.threeVoters()
        let leader = try #require(cluster.leader)
        let follower = try #require(cluster.nodes.values.first { $0.id != leader.id })
        let key = CoreFixture.key("n").publicKey
        let refused = follower.core.handle(.join(nodeId: "n", nodeKey: key, from: "n"), now: cluster.now)
        guard case .answerJoin(_, _, false, _, let hint)? = refused.last else { Issue.record("\(refused)"); return }
        #expect(hint == leader.id)
        let list = leader.core.handle(.join(nodeId: "n", nodeKey: key, from: "n"), now: cluster.now)
        leader.perform(list, now: cluster.now)
        cluster.settle()
        guard case .answerJoin(_, _, true, _, _)? = list.last else { Issue.record("\(list)"); return }
        #expect(cluster.nodes.values.allSatisfy { $0.store.membership.learners == ["n"] })
    }

    @Test func aConnectedCaughtUpLearnerIsPromotedOnlyAfterTheStabilizationTime() throws {
        let cluster = try CoreCluster.bootstrapped()
        let a = cluster.nodes["a"]!
        _ = cluster.change(MembershipChange(kind: .addLearner, nodeId: "b", nodeKey: CoreFixture.key("b").publicKey), on: a)
        cluster.nodes["b"] = try CoreNode("b", store: MemoryBlockStore(copying: a.store), seed: 2)
        cluster.tick()
        #expect(a.store.membership.learners == ["b"])
        // 2,000 ms of being caught up and connected (`promotionStabilizationMs`), counted from the
        // first tick that saw it so; one tick short of it nothing happens.
        for _ in 0..<20 { cluster.tick() }
        #expect(a.store.membership.learners == ["b"])
        cluster.tick()
        cluster.tick()
        #expect(a.store.membership.voters == ["a", "b"] && a.store.membership.learners.isEmpty)
    }

    @Test func aLearnerCaughtUpWhileTheVotersWereFullIsPromotedAsSoonAsAVoterLeaves() throws {
        // A replacement that caught up before its dead voter was removed: it has been stable all
        // along, so the removal is followed by its promotion, not by a stabilization time.
        let cluster = try CoreCluster.threeVoters()
        let leader = try #require(cluster.leader)
        let leaving = try #require(["a", "b", "c"].first { $0 != leader.id })
        _ = cluster.change(MembershipChange(kind: .addLearner, nodeId: "d", nodeKey: CoreFixture.key("d").publicKey), on: leader)
        cluster.nodes["d"] = try CoreNode("d", store: MemoryBlockStore(copying: leader.store), seed: 4)
        for _ in 0..<25 { cluster.tick() }   // 2.5 s caught up and connected, but no voter slot free
        #expect(leader.store.membership.learners == ["d"])
        _ = cluster.change(MembershipChange(kind: .remove, nodeId: leaving), on: leader)
        cluster.down.insert(leaving)
        cluster.tick()
        cluster.tick()
        #expect(leader.store.membership.learners.isEmpty && leader.store.membership.voters.contains("d"))
    }

    @Test func aDisconnectedLearnerIsNotPromoted() throws {
        let cluster = try CoreCluster.bootstrapped()
        let a = cluster.nodes["a"]!
        _ = cluster.change(MembershipChange(kind: .addLearner, nodeId: "b", nodeKey: CoreFixture.key("b").publicKey), on: a)
        for _ in 0..<40 { cluster.tick() }  // b never started: not connected, no match
        #expect(a.store.membership.voters == ["a"] && a.store.membership.learners == ["b"])
    }

    @Test func aNewLeaderTakesTheEarlierLeadersUncommittedBlockIntoItsSpeculation() throws {
        let cluster = try CoreCluster.threeVoters()
        let old = try #require(cluster.leader)
        let head = old.store.headHeight
        // The old leader's block reaches its followers' logs, but the old leader dies before the
        // acknowledgements make it committed.
        #expect(old.cutBlocks(from: [CoreFixture.transfer(nonce: 0)], now: cluster.now).isEmpty)
        old.drain(now: cluster.now)
        let appends = old.outbox
        old.outbox = []
        cluster.down.insert(old.id)
        for m in appends { cluster.nodes[m.to]!.perform(cluster.nodes[m.to]!.core.handle(.raft(m), now: cluster.now), now: cluster.now) }
        for id in cluster.nodes.keys where id != old.id { cluster.nodes[id]!.drain(now: cluster.now); cluster.nodes[id]!.outbox = [] }
        let new = try #require(cluster.electLeader())
        #expect(new.id != old.id)
        // The term-start block commits the earlier block; both were executed on election, so
        // the new leader can cut on top of them at once.
        #expect(new.store.headHeight == head + 2)
        #expect(new.store.blocks[Int(head + 1)].txs.count == 1 && new.store.blocks[Int(head + 2)].txs.isEmpty)
        #expect(new.core.specHead.height == new.core.status.lastIndex)
        #expect(new.cutBlocks(from: [CoreFixture.transfer(nonce: 1)], now: cluster.now).isEmpty)
        cluster.settle()
        #expect(new.store.accounts[CoreFixture.payee]?.balance == 20)
    }

    @Test func aFollowerFarBehindAsksARangeOfAPeerThatClaimsIt() throws {
        let cluster = try CoreCluster.bootstrapped()
        let b = try CoreNode("b", store: MemoryBlockStore(copying: cluster.nodes["a"]!.store), seed: 2)
        let head = b.store.headHeight
        #expect(b.core.syncDuties(connected: [(id: "p", height: head + 10)], now: cluster.now).isEmpty)  // not far enough
        let effects = b.core.syncDuties(connected: [(id: "p", height: head + 100)], now: cluster.now)
        let asks = effects.compactMap { e -> (UInt64, Int, String)? in
            if case .requestBlocks(let from, let count, let peer) = e { return (from, count, peer) } else { return nil }
        }
        #expect(b.core.sync.active)
        #expect(asks.first.map { $0.0 == head + 1 && $0.1 == BlockSync.rangeBlocks && $0.2 == "p" } == true)
    }

    @Test func syncedBlocksAreWrittenInOrder_andSyncHandsOverToRaftWhenCaughtUp() throws {
        let (cluster, a, b) = try CoreCluster.withFreshNodeBehind()
        let target = a.store.headHeight
        var asks = b.core.syncDuties(connected: [(id: "a", height: target)], now: cluster.now)
        for _ in 0..<10 {
            for case .requestBlocks(let from, let count, "a") in asks {
                b.perform(b.core.handle(.blocks(a.store.blocks(from: from, count: count), from: "a"), now: cluster.now), now: cluster.now)
            }
            asks = []
            while true {
                let list = b.core.syncDuties(connected: [(id: "a", height: target)], now: cluster.now)
                b.perform(list, now: cluster.now)
                asks += list
                guard case .persist = list.last else { break }
            }
            if !b.core.sync.active { break }
        }
        #expect(!b.core.sync.active)
        #expect(b.store.headHeight == target && b.store.headHash == a.store.headHash)
        #expect(b.store.accounts == a.store.accounts)
    }

    /// Found by the healing simulator: a `--join` node that synced blocks before it was added,
    /// then restarted, stopped asking to join and stayed outside the cluster for good.
    @Test func aJoiningNodeRestartedOnSyncedBlocksStillAsksToJoin() throws {
        let cluster = try CoreCluster.bootstrapped()
        let a = cluster.nodes["a"]!
        let synced = MemoryBlockStore(copying: a.store)
        #expect(synced.headHeight > 0 && !synced.membership.contains("b"))
        var b = try CoreNode("b", store: synced, joining: true, seed: 2).core
        let asks = b.tick(now: cluster.now, connected: [(id: "a", height: a.store.headHeight)])
        #expect(asks.contains { if case .requestJoin = $0 { true } else { false } })
    }

    /// `joinRetryMs` (`[p2p] join_retry_ms`) spaces a joining node's requests.
    @Test func aJoiningNodeAsksAgainOnlyAfterItsJoinRetryInterval() throws {
        var settings = CoreFixture.settings("b")
        settings.joinRetryMs = 3_000
        var b = try CoreNode("b", store: MemoryBlockStore(genesis: CoreFixture.genesis), joining: true, seed: 2, settings: settings).core
        var now = RuntimeTime(monotonicNs: 10_000_000_000, wallMs: CoreFixture.wallStartMs)
        func asks(afterMs ms: UInt64) -> Bool {
            now.monotonicNs += ms * 1_000_000
            return b.tick(now: now, connected: []).contains { if case .requestJoin = $0 { true } else { false } }
        }
        #expect(asks(afterMs: 0), "the first tick asks")
        #expect(!asks(afterMs: 1_000), "the default interval (1 s) is not the one in force")
        #expect(!asks(afterMs: 1_999))
        #expect(asks(afterMs: 1), "3 s after the last request")
    }

    /// `mempoolEvictionIntervalMs` (`[mempool] eviction_interval_ms`) spaces the searches for
    /// transactions stuck past their TTL.
    @Test func staleTransactionsAreLookedForOnlyEveryEvictionInterval() throws {
        var settings = CoreFixture.settings("b")
        settings.mempoolFutureTtlS = 1
        settings.mempoolEvictionIntervalMs = 5_000
        var b = try CoreNode("b", store: MemoryBlockStore(genesis: CoreFixture.genesis), seed: 2, settings: settings).core
        var now = RuntimeTime(monotonicNs: 10_000_000_000, wallMs: CoreFixture.wallStartMs)
        func evicts(afterMs ms: UInt64) -> Bool {
            now.monotonicNs += ms * 1_000_000
            return b.tick(now: now, connected: []).contains { if case .evictStaleTransactions = $0 { true } else { false } }
        }
        #expect(evicts(afterMs: 0))
        #expect(!evicts(afterMs: 1_000), "the default interval (1 s) is not the one in force")
        #expect(!evicts(afterMs: 3_999))
        #expect(evicts(afterMs: 1), "5 s after the last search")
    }

    @Test func unsolicitedBlocksAreIgnored() throws {
        let cluster = try CoreCluster.bootstrapped()
        let a = cluster.nodes["a"]!
        var b = try CoreNode("b", store: MemoryBlockStore(genesis: CoreFixture.genesis), joining: true, seed: 2).core
        #expect(b.handle(.blocks(a.store.blocks(from: 1, count: 1), from: "a"), now: cluster.now).count == 1)
        if case .unsolicitedBlocks? = b.handle(.blocks(a.store.blocks(from: 1, count: 1), from: "a"), now: cluster.now).first {} else {
            Issue.record("unsolicited blocks were taken")
        }
    }

    /// Found by the runtime simulator: a leader that cut a block after proposing its own removal
    /// made every replica halt (the block's proposer is no longer a voter where it stands).
    @Test func aLeaderThatProposedItsOwnRemovalCutsNoMoreBlocks() throws {
        let cluster = try CoreCluster.threeVoters()
        let leader = try #require(cluster.leader)
        cluster.down.formUnion(cluster.nodes.keys.filter { $0 != leader.id })  // the removal stays uncommitted
        let list = leader.core.handle(.membership(MembershipChange(kind: .remove, nodeId: leader.id), request: 1), now: cluster.now)
        guard case .answerMembership(1, .proposed)? = list.last else { Issue.record("\(list)"); return }
        cluster.advance(ms: 1_000)
        #expect(leader.core.isLeader)
        #expect(leader.core.cutDemand(readyCount: 50, now: cluster.now) == nil)
        let next = leader.core.handle(.membership(MembershipChange(kind: .addLearner, nodeId: "z", nodeKey: CoreFixture.key("z").publicKey),
                                                  request: 2), now: cluster.now)
        guard case .answerMembership(2, .refused)? = next.last else { Issue.record("\(next)"); return }
    }

    /// Found by the runtime simulator: a voter whose log removes it (not yet applied) won an
    /// election, and its term-start block named a proposer the chain no longer counts as a voter.
    @Test func aVoterWhoseLogRemovesItDoesNotStandForElection() throws {
        let cluster = try CoreCluster.threeVoters()
        let leader = try #require(cluster.leader)
        let leaving = try #require(cluster.nodes.values.sorted { $0.id < $1.id }.first { $0.id != leader.id })
        // The removal reaches `leaving` only, and its acknowledgement is lost: uncommitted there.
        let list = leader.core.handle(.membership(MembershipChange(kind: .remove, nodeId: leaving.id), request: 1), now: cluster.now)
        leader.perform(list, now: cluster.now)
        leader.drain(now: cluster.now)
        for m in leader.outbox where m.to == leaving.id { leaving.perform(leaving.core.handle(.raft(m), now: cluster.now), now: cluster.now) }
        leader.outbox = []
        leaving.drain(now: cluster.now)
        leaving.outbox = []
        #expect(leaving.core.view.tail.contains { $0.conf == "remove:\(leaving.id)" })
        // Alone past many election timeouts, it asks nobody for a vote.
        for _ in 0..<40 {
            cluster.advance(ms: 100)
            leaving.perform(leaving.core.tick(now: cluster.now, connected: []), now: cluster.now)
            leaving.drain(now: cluster.now)
        }
        let asks = leaving.outbox.filter { m in
            switch m.kind {
            case .preVote, .vote: true
            default: false
            }
        }
        #expect(asks.isEmpty, "\(asks.count) vote requests")
    }

    /// Found by the runtime simulator: block sync's progress line subtracted its start height
    /// from a target that had dropped below it (its peers left), and the node trapped.
    @Test func aSyncWhosePeersAllLeftEndsWithoutTrapping() throws {
        let cluster = try CoreCluster.bootstrapped()
        let b = try CoreNode("b", store: MemoryBlockStore(copying: cluster.nodes["a"]!.store), seed: 2)
        b.perform(b.core.syncDuties(connected: [(id: "p", height: 500)], now: cluster.now), now: cluster.now)
        #expect(b.core.sync.active)
        cluster.advance(ms: 4_000)  // past the request timeout (3 s): the range is given up
        b.perform(b.core.syncDuties(connected: [], now: cluster.now), now: cluster.now)
        #expect(!b.core.sync.active && b.halt == nil)
    }

    @Test func aTransferWaiterIsAnsweredWhenLeadershipMoved() throws {
        let cluster = try CoreCluster.threeVoters()
        let leader = try #require(cluster.leader)
        let target = leader.id == "a" ? "b" : "a"
        leader.perform(leader.core.handle(.transferLeadership(to: target, request: 9), now: cluster.now), now: cluster.now)
        cluster.settle()
        cluster.tick()
        #expect(cluster.leader?.id == target)
        #expect(leader.effects.contains { if case .answerTransfer(9, true) = $0 { true } else { false } })
    }

    /// A transfer whose target never takes over is answered false after two election timeouts
    /// (`transferWaitMs`), not before.
    @Test func aTransferThatDoesNotHappenIsAnsweredFalseAfterTwoElectionTimeouts() throws {
        let cluster = try CoreCluster.threeVoters()
        let leader = try #require(cluster.leader)
        let target = try #require(cluster.nodes.keys.sorted().first { $0 != leader.id })
        cluster.down.insert(target)
        leader.effects = []
        leader.perform(leader.core.handle(.transferLeadership(to: target, request: 4), now: cluster.now), now: cluster.now)
        #expect(leader.core.settings.transferWaitMs == 2_000)
        func answered() -> Bool { leader.effects.contains { if case .answerTransfer(4, false) = $0 { true } else { false } } }
        for _ in 0..<20 { cluster.tick() }  // 2 s: not yet past the deadline
        #expect(!answered(), "answered before two election timeouts")
        cluster.tick()
        #expect(answered())
        #expect(cluster.leader?.id == leader.id)
    }

    @Test func aTransferToANonVoterIsRefusedAtOnce() throws {
        let cluster = try CoreCluster.threeVoters()
        let leader = try #require(cluster.leader)
        let list = leader.core.handle(.transferLeadership(to: "stranger", request: 3), now: cluster.now)
        guard case .answerTransfer(3, false)? = list.last else { Issue.record("\(list)"); return }
    }
}
