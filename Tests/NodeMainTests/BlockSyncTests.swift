import Chain
import NodeCore
import Consensus
import Testing
@testable import NodeMain

/// Block sync's bookkeeping: its target comes only from connected members' claims and forgets
/// claims that go stale; only blocks it asked for are taken.
@Suite struct BlockSyncTests {
    static let key = KeyPair.generate()
    static let s: UInt64 = 1_000_000_000

    static func blocks(_ heights: ClosedRange<UInt64>) -> [Block] {
        heights.map { Block.make(height: $0, prevHash: .zero, stateRoot: .zero, timestamp: 1, term: 1, txs: [], proposerKey: key) }
    }

    /// The node's defaults: a request given up after 3 s, its peer then ignored for 60 s.
    static func fresh() -> BlockSync { BlockSync(requestTimeoutNs: 3 * s, ignorePeerNs: 60 * s) }

    static func syncing(_ claims: [(id: String, height: UInt64)]) -> BlockSync {
        var sync = fresh()
        sync.refresh(connected: claims, now: s)
        sync.active = true
        return sync
    }

    @Test func theTargetIsTheHighestClaimOfAConnectedMember_andForgetsOneThatDisconnected() {
        var sync = Self.syncing([("n1", 100), ("n3", 5_000)])
        #expect(sync.target == 5_000)
        sync.refresh(connected: [("n1", 100)], now: 2 * Self.s)
        #expect(sync.target == 100, "n3 disconnected: its claim is gone")
    }

    @Test func aPeerThatDoesNotDeliverWithinTheTimeout_isIgnoredForTheIgnoreTime() {
        var sync = Self.syncing([("n3", UInt64.max)])
        let asked = sync.requests(head: 10, now: Self.s)
        #expect(!asked.isEmpty && asked.allSatisfy { $0.peer == "n3" })
        #expect(sync.requests(head: 10, now: 3 * Self.s).isEmpty, "still within the timeout: nothing asked again")
        #expect(sync.requests(head: 10, now: 4 * Self.s + 1).isEmpty, "timed out: n3 is not asked again")
        #expect(sync.target == 0, "n3's claim no longer counts")
        sync.refresh(connected: [("n3", UInt64.max)], now: 30 * Self.s)
        #expect(sync.target == 0, "a fresh claim (ping, reconnect) during the ignore time still counts for nothing")
        sync.refresh(connected: [("n3", UInt64.max)], now: 65 * Self.s)
        #expect(sync.target == UInt64.max, "after the ignore time its claim counts again")
    }

    @Test func anAppendsCommitIndexCountsAsItsSendersClaim() {
        var sync = Self.syncing([("n1", 10)])
        sync.noteLeaderCommit(Message(from: "n1", to: "n2", term: 2, kind: .append(prevIndex: 0, prevTerm: 0, entries: [], commit: 90)),
                              now: Self.s)
        #expect(sync.target == 90)
    }

    @Test func blocksNobodyAskedFor_areIgnored() {
        var sync = Self.syncing([("n1", 100), ("n3", 100)])
        let asked = sync.requests(head: 0, now: Self.s)
        let toN1 = asked.first { $0.peer == "n1" }!
        #expect(sync.received(Self.blocks(toN1.from...toN1.from + 1), from: "n3", now: Self.s).isEmpty, "asked of n1, sent by n3")
        #expect(sync.received(Self.blocks(900...901), from: "n1", now: Self.s).isEmpty, "a range nobody asked for")
        #expect(sync.buffered.isEmpty)
        let taken = sync.received(Self.blocks(toN1.from...toN1.from + UInt64(toN1.count) + 5), from: "n1", now: Self.s)
        #expect(taken.count == toN1.count, "at most the range asked for")
        #expect(sync.received(Self.blocks(toN1.from...toN1.from), from: "n1", now: Self.s).isEmpty, "answered once: a repeat is unsolicited")
    }

    @Test func whileNotSyncing_blocksAreIgnored() {
        var sync = Self.fresh()
        sync.refresh(connected: [("n1", 100)], now: Self.s)
        #expect(sync.received(Self.blocks(1...2), from: "n1", now: Self.s).isEmpty)
    }
}
