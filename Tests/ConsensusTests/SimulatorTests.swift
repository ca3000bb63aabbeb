import Foundation
import Testing
import Chain
@testable import Consensus
@testable import SimulationSupport

/// Runs seeded schedules; every failure names its seed, the first broken invariant with its
/// step, and the command that replays it. `SIM_VERBOSE=1` prints a summary per seed.
@Test(arguments: 0..<SeedPlan.chunkCount)
func simulator_randomSchedulesKeepSafetyAndMakeProgress(chunk: Int) {
    let verbose = ProcessInfo.processInfo.environment["SIM_VERBOSE"] != nil
    let seeds = SimulatorPlans.cluster.seeds(chunk: chunk)
    let started = ContinuousClock.now
    SimulatorTrapReport.install()
    let slot = SimulatorPlans.cluster.trapSlotBase + chunk
    defer { SimulatorTrapReport.running(nil, slot: slot) }
    for seed in seeds {
        // A core precondition kills the process before Issue.record; the trap handler names the seed.
        SimulatorTrapReport.running(seed, slot: slot)
        let simulation = Simulation(seed: seed)
        simulation.run()
        if verbose { print("sim seed \(seed): \(simulation.summary)") }
        if let first = simulation.violations.first {
            Issue.record("""
                simulator seed \(seed) failed at \(first)
                run: \(simulation.summary)
                replay: \(SimulatorPlans.cluster.replayCommand(seed))
                """)
            return
        }
    }
    print("simulator chunk \(chunk): \(seeds.count) seeds in \(ContinuousClock.now - started)")
}

@Test func simLedger_replayOfAppliedBlocksReachesTheSameRootAndConservesSupply() throws {
    let (a, b, c) = (SimChain.addresses[0], SimChain.addresses[1], SimChain.addresses[2])
    let blocks = [
        SimBlock(proposal: 1, txs: [SimChain.transfer(from: a, to: b, amount: 500, fee: 2, nonce: 0),
                                    SimChain.transfer(from: b, to: c, amount: 1_000_100, fee: 1, nonce: 0)]),
        SimBlock(proposal: 0, txs: []),
        SimBlock(proposal: 2, txs: [SimChain.transfer(from: a, to: c, amount: 7, fee: 0, nonce: 1)]),
    ]
    let log = [Entry(index: 0, term: 0)] + blocks.enumerated().map { Entry(index: UInt64($0 + 1), term: 1, data: $1.encoded) }
    var ledger = SimLedger()
    for entry in log.dropFirst() { try ledger.apply(entry) }
    // b spends a credit received earlier in the same block.
    #expect(ledger.account(b) == Account(address: b, balance: 399, nonce: 1))
    #expect(ledger.account(c).balance == 2_000_107 && ledger.account(a).balance == 1_000_000 - 509)
    #expect(ledger.feesBurned == 3 && ledger.supply == SimChain.genesisSupply)
    let rebuilt = try SimLedger.replay(log, through: 3)
    #expect(rebuilt.stateRoot == ledger.stateRoot && rebuilt.appliedIndex == 3)
    #expect(try SimLedger.replay(log, through: 2).stateRoot != ledger.stateRoot)
}

@Test func simLedger_blockWithAnInvalidTransferDoesNotExecute() {
    let (a, b) = (SimChain.addresses[0], SimChain.addresses[1])
    let bad = SimBlock(proposal: 1, txs: [SimChain.transfer(from: a, to: b, amount: 1, fee: 0, nonce: 5)])
    var ledger = SimLedger()
    #expect(throws: SimApplyError.self) { try ledger.apply(Entry(index: 1, term: 1, data: bad.encoded)) }
    #expect(ledger.appliedIndex == 0 && ledger.stateRoot == SimChain.genesisRoot)
}
