import Chain
import Consensus
import NodeCore
import Testing

/// Block sync judges a peer on its own silence, never on the syncing node's slowness, and asks
/// ahead only for as much work as the node can apply soon.
@Suite struct BlockSyncPacingTests {
    static let s: UInt64 = 1_000_000_000

    static func asks(_ effects: [RuntimeEffect]) -> [(from: UInt64, count: Int, peer: String)] {
        effects.compactMap { e in
            if case .requestBlocks(let from, let count, let peer) = e { return (from, count, peer) } else { return nil }
        }
    }

    /// Delivers `peer`'s answer to a request, as the runtime's inbox hands it over.
    static func deliver(_ ask: (from: UInt64, count: Int, peer: String), of server: CoreNode, to node: CoreNode, now: RuntimeTime) {
        node.perform(node.core.handle(.blocks(server.store.blocks(from: ask.from, count: ask.count), from: ask.peer), now: now), now: now)
    }

    /// The shell's sync steps, each write taking `writeMs` (checking and storing the blocks):
    /// the clock moves on while the node takes no replies.
    static func writeSynced(_ node: CoreNode, connected: [(id: String, height: UInt64)], cluster: CoreCluster,
                            writeMs: UInt64) -> [RuntimeEffect] {
        var all: [RuntimeEffect] = []
        while true {
            let list = node.core.syncDuties(connected: connected, now: cluster.now)
            all += list
            guard case .persist(let batch) = list.last else { return all }
            node.perform(Array(list.dropLast()), now: cluster.now)
            node.store.persist(batch)
            cluster.advance(ms: writeMs)
            node.perform(node.core.persisted(now: cluster.now), now: cluster.now)
            node.perform(node.core.applied(now: cluster.now), now: cluster.now)
        }
    }

    @Test func aPeerWhoseRepliesWaitedWhileTheNodeWroteBlocks_isNotIgnored_andItsRangesAreTaken() throws {
        let (cluster, a, b) = try CoreCluster.withFreshNodeBehind()
        let target = a.store.headHeight
        let claims = [(id: "a", height: target)]
        let asks = Self.asks(b.core.syncDuties(connected: claims, now: cluster.now))
        #expect(asks.count >= 2 && asks.allSatisfy { $0.peer == "a" })
        // "a" answers the first range at once; the node's write of it takes 4 s (more than the
        // 3 s request timeout), and a's other replies wait in its inbox meanwhile.
        Self.deliver(asks[0], of: a, to: b, now: cluster.now)
        _ = Self.writeSynced(b, connected: claims, cluster: cluster, writeMs: 4_000)
        #expect(!b.core.sync.isIgnored("a", now: cluster.now.monotonicNs), "a's replies were waiting on this node, not missing")
        #expect(b.core.sync.target == target)
        #expect(b.core.sync.active, "sync did not end with the cluster far ahead")
        for ask in asks.dropFirst() { Self.deliver(ask, of: a, to: b, now: cluster.now) }
        #expect(!b.effects.contains { if case .unsolicitedBlocks = $0 { true } else { false } }, "a's late replies were still asked for")
        _ = Self.writeSynced(b, connected: claims, cluster: cluster, writeMs: 4_000)
        #expect(!b.core.sync.active && b.store.headHeight == target && b.store.headHash == a.store.headHash)
    }

    @Test func aPeerThatDeliversNothingWhileTheNodeWaits_isTimedOut_andItsRangeIsAskedOfAnother() throws {
        let (cluster, a, b) = try CoreCluster.withFreshNodeBehind()
        b.perform(b.core.handle(.joinAnswered(from: "c", accepted: true, leaderHint: nil), now: cluster.now), now: cluster.now)
        let target = a.store.headHeight
        let claims = [(id: "a", height: target), (id: "c", height: target)]
        let asks = Self.asks(b.core.syncDuties(connected: claims, now: cluster.now))
        let silent = try #require(asks.first { $0.peer == "c" }, "the ranges are spread over both peers")
        // "a" answers all it was asked (and the node writes slowly); "c" never answers.
        for ask in asks where ask.peer == "a" { Self.deliver(ask, of: a, to: b, now: cluster.now) }
        _ = Self.writeSynced(b, connected: claims, cluster: cluster, writeMs: 4_000)
        #expect(!b.core.sync.isIgnored("c", now: cluster.now.monotonicNs), "writing is not waiting: c is not judged on it")
        cluster.advance(ms: 3_100)  // idle, able to take replies, and nothing comes from c
        let again = Self.asks(Self.writeSynced(b, connected: claims, cluster: cluster, writeMs: 0))
        #expect(b.core.sync.isIgnored("c", now: cluster.now.monotonicNs))
        #expect(again.contains { $0.from == silent.from && $0.peer == "a" }, "c's range is asked of a: \(again)")
    }

    @Test func aPeerThatDeliversOneRange_keepsItsOtherRequestsAlive_untilItFallsSilent() {
        var sync = BlockSync(requestTimeoutNs: 3 * Self.s, ignorePeerNs: 60 * Self.s)
        sync.refresh(connected: [("n1", 10_000)], now: Self.s)
        sync.active = true
        let asked = sync.requests(head: 0, now: Self.s)
        #expect(asked.count == BlockSync.maxOutstanding)
        // It serves one range after another, each well within the timeout of the last.
        for (i, ask) in asked.prefix(3).enumerated() {
            let now = Self.s + UInt64(i + 1) * 2 * Self.s
            #expect(!sync.received(Self.blocks(ask.from, ask.count, txs: 0), from: "n1", now: now).isEmpty)
            _ = sync.requests(head: 0, now: now)
            #expect(!sync.isIgnored("n1", now: now), "delivering at \(now / Self.s) s")
        }
        _ = sync.requests(head: 0, now: 10 * Self.s)  // 3 s after its last delivery at 7 s
        #expect(sync.isIgnored("n1", now: 10 * Self.s))
    }

    @Test func withBigBlocks_theBlocksAskedAheadHoldAtMostTheWindowsTransfers() {
        var sync = BlockSync(requestTimeoutNs: 3 * Self.s, ignorePeerNs: 60 * Self.s, expectedTransfersPerBlock: 2_000)
        sync.refresh(connected: [("n1", 100_000), ("n2", 100_000)], now: Self.s)
        sync.active = true
        var head: UInt64 = 0
        for round in 0..<4 {
            let now = Self.s + UInt64(round) * Self.s / 10
            for ask in sync.requests(head: head, now: now) {
                _ = sync.received(Self.blocks(ask.from, ask.count, txs: 2_000), from: ask.peer, now: now)
            }
            let aheadBlocks = sync.buffered.count + sync.requested.values.reduce(0) { $0 + $1.count }
            #expect(aheadBlocks * 2_000 <= BlockSync.maxWindowTransfers, "round \(round): \(aheadBlocks) blocks of 2,000 ahead")
            #expect(aheadBlocks * 2_000 > BlockSync.maxWindowTransfers / 2, "round \(round): the window is used")
            let batch = sync.takeContiguous(after: head, max: BlockSync.applyBatchBlocks, maxTransfers: BlockSync.applyBatchTransfers)
            #expect(!batch.isEmpty && batch.count * 2_000 <= BlockSync.applyBatchTransfers)
            head += UInt64(batch.count)
        }
    }

    @Test func withSmallBlocks_theWindowIsBoundByBlocksAsBefore() {
        var sync = BlockSync(requestTimeoutNs: 3 * Self.s, ignorePeerNs: 60 * Self.s)
        sync.refresh(connected: [("n1", 100_000)], now: Self.s)
        sync.active = true
        let asked = sync.requests(head: 0, now: Self.s)
        #expect(asked.count == BlockSync.maxOutstanding && asked.allSatisfy { $0.count == BlockSync.rangeBlocks })
    }

    @Test func anApplyBatchEndsBeforeTheBlockThatWouldTakeItPastItsTransfers() {
        var sync = BlockSync(requestTimeoutNs: 3 * Self.s, ignorePeerNs: 60 * Self.s)
        sync.refresh(connected: [("n1", 100)], now: Self.s)
        sync.active = true
        let ask = sync.requests(head: 0, now: Self.s)[0]
        let big = BlockSync.applyBatchTransfers * 2 / 5  // two fit in a batch, three do not
        _ = sync.received(Self.blocks(ask.from, 3, txs: big), from: "n1", now: Self.s)
        #expect(sync.takeContiguous(after: 0, max: 64, maxTransfers: BlockSync.applyBatchTransfers).count == 2)
        #expect(sync.takeContiguous(after: 2, max: 64, maxTransfers: BlockSync.applyBatchTransfers).count == 1)
    }
}

extension BlockSyncPacingTests {
    static let key = KeyPair(seed: [UInt8](repeating: 7, count: 32))
    static let tx = CoreFixture.transfer(nonce: 0)

    /// `count` blocks from height `from`, each holding `txs` transfers (copies of one: block sync's
    /// bookkeeping only counts them).
    static func blocks(_ from: UInt64, _ count: Int, txs: Int) -> [Block] {
        (0..<UInt64(count)).map {
            Block.make(height: from + $0, prevHash: .zero, stateRoot: .zero, timestamp: 1, term: 1,
                       txs: Array(repeating: tx, count: txs), proposerKey: key)
        }
    }
}
