import Testing
@testable import NodeMain

@Suite("WorkGate") struct WorkGateTests {
    @Test func admitsUpToItsLimit_refusesBeyond_andCountsRefusals() {
        let gate = WorkGate(limit: 2)
        #expect(gate.enter() && gate.enter())
        #expect(!gate.enter())
        #expect(gate.count == 2 && gate.refusedCount == 1)
        gate.leave()
        #expect(gate.enter())
        #expect(gate.count == 2)
    }
}
