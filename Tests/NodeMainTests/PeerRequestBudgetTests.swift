import Testing
@testable import NodeMain

/// Each peer's share of the serving queue: bounded, and dropped when the peer disconnects.
@Suite struct PeerRequestBudgetTests {
    @Test func aPeerOverItsLimit_isRefused_othersAreNot() {
        let budget = PeerRequestBudget(limitPerPeer: 2)
        let held = [budget.enter("n3"), budget.enter("n3")]
        #expect(held.allSatisfy { $0 != nil })
        #expect(budget.enter("n3") == nil)
        #expect(budget.enter("n1") != nil, "another peer has its own share")
        budget.leave(held[0]!)
        #expect(budget.enter("n3") != nil, "a finished request gives its place back")
    }

    @Test func whatAPeerHasWaiting_isStaleOnceItDisconnects() {
        let budget = PeerRequestBudget(limitPerPeer: 2)
        let before = budget.enter("n3")!
        budget.disconnected("n3")
        #expect(!budget.isCurrent(before))
        let after = budget.enter("n3")!
        #expect(budget.isCurrent(after), "a reconnected peer's new requests are served")
        budget.leave(before)  // the skipped request leaves without touching the new share
        #expect(budget.pending == 1)
    }
}
