import Testing
@testable import NodeMain

@Suite("ArrivalWake") struct ArrivalWakeTests {
    @Test func anArmedGateWakesForTheFirstArrivalOnly() {
        let gate = ArrivalWake()
        gate.arm(true)
        #expect(gate.arrived())
        #expect(!gate.arrived())
        #expect(!gate.isArmed)
    }

    @Test func aDisarmedGateWakesForNoArrival() {
        let gate = ArrivalWake()
        gate.arm(false)
        #expect(!gate.arrived() && !gate.arrived())
    }

    @Test func startsArmed_soTheFirstTransferAfterStartWakesTheRuntime() {
        #expect(ArrivalWake().arrived())
    }
}
