import Foundation
import Testing
import Chain
@testable import NodeCore
@testable import SimulationSupport

/// Seeded schedules over the real runtime core; a failure names its seed and the replay command.
@Test(arguments: 0..<SeedPlan.chunkCount)
func runtimeSimulator_randomSchedulesKeepTheChainSafeAndLive(chunk: Int) {
    let verbose = ProcessInfo.processInfo.environment["SIM_VERBOSE"] != nil
    let seeds = SimulatorPlans.runtime.seeds(chunk: chunk)
    let started = ContinuousClock.now
    SimulatorTrapReport.install()
    let slot = SimulatorPlans.runtime.trapSlotBase + chunk
    defer { SimulatorTrapReport.running(nil, slot: slot) }
    for seed in seeds {
        SimulatorTrapReport.running(seed, slot: slot)
        let simulation = RuntimeSimulation(seed: seed)
        simulation.run()
        if verbose { print("runtime sim seed \(seed): \(simulation.summary)") }
        if let first = simulation.violations.first {
            Issue.record("""
                runtime simulator seed \(seed) failed at \(first)
                run: \(simulation.summary)
                replay: \(SimulatorPlans.runtime.replayCommand(seed))
                """)
            return
        }
    }
    print("runtime simulator chunk \(chunk): \(seeds.count) seeds in \(ContinuousClock.now - started)")
}

/// A bug planted in the real runtime core (a leader cuts blocks on committed state, ignoring its
/// blocks in flight, so a later block spends what an earlier one already spent) is found within
/// the first seeds: the leader's own ledger no longer conserves supply, or followers refuse the
/// block and halt. The same seeds pass with the core as it is.
@Test func runtimeSimulator_findsABugPlantedInTheRealRuntimeCore() {
    var found: (seed: UInt64, violation: String)?
    for seed in UInt64(0)..<20 where found == nil {
        let planted = RuntimeSimulation(seed: seed, plantedBug: .cutIgnoresSpeculation)
        planted.run()
        if let first = planted.violations.first { found = (seed, first) }
    }
    let violation = found?.violation ?? "no violation"
    #expect(violation.contains("supply") || violation.contains("halted"), "\(violation)")
    guard let seed = found?.seed else { return }
    let honest = RuntimeSimulation(seed: seed)
    honest.run()
    #expect(honest.violations.isEmpty, "\(honest.violations)")
}
