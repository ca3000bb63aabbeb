import Foundation
import Testing
import Chain
@testable import NodeCore
@testable import SimulationSupport

/// Runs seeded schedules of the cluster simulator over the real runtime cores; every failure
/// names its seed, the first broken invariant with its step, and the command that replays it.
/// `SIM_VERBOSE=1` prints a summary per seed.
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
        let simulation = ClusterSimulation(seed: seed)
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

/// A bug planted in the real runtime core (a leader cuts blocks on committed state, ignoring its
/// blocks in flight, so a later block spends what an earlier one already spent) is found within
/// the first seeds: the leader's own ledger no longer conserves supply, or followers refuse the
/// block and halt. The same seed passes with the core as it is.
@Test func simulator_findsABugPlantedInTheRealRuntimeCore() {
    var found: (seed: UInt64, violation: String)?
    for seed in UInt64(0)..<20 where found == nil {
        let planted = ClusterSimulation(seed: seed, plantedBug: .cutIgnoresSpeculation)
        planted.run()
        if let first = planted.violations.first { found = (seed, first) }
    }
    let violation = found?.violation ?? "no violation"
    #expect(violation.contains("supply") || violation.contains("halted"), "\(violation)")
    guard let seed = found?.seed else { return }
    let honest = ClusterSimulation(seed: seed)
    honest.run()
    #expect(honest.violations.isEmpty, "\(honest.violations)")
}
