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
    let sweep = SimulatorPlans.cluster.sweep(chunk: chunk) { seed in
        let simulation = ClusterSimulation(seed: seed)
        simulation.run()
        return simulation
    }
    guard let sweep else { return }
    print("simulator chunk \(chunk): \(sweep.seedCount) seeds in \(sweep.elapsed)")
}

extension ClusterSimulation: SeededSimulation {}

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
