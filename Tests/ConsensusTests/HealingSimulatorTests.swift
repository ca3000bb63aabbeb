import Foundation
import Testing
@testable import Consensus
@testable import Membership

/// The healing simulator's seeds: `SIM_SEED=n` replays one, `SIM_SEEDS=k` runs 0..<k.
enum HealingRun {
    static let plan = SeedPlan(testID: "ConsensusTests.healingSimulator_registryRepairsWithoutCostingQuorumAndHeals",
                               defaultSeedCount: 1000, trapSlotBase: SeedPlan.chunkCount)

    /// `SIM_TODAYS_RULES=1`: run the sweep with the old rule of bug 1 in the simulator's mirror
    /// of the runtime (see the known-issue tests below), to find seeds that show it. Registry
    /// bugs are not mirrored: the simulator runs the real RegistryCore.
    static func todaysRules(_ s: inout HealingSettings) {
        let bugs = ProcessInfo.processInfo.environment["SIM_TODAYS_RULES"]?.split(separator: ",") ?? []
        if bugs.contains("1") { s.promotionTimerResetByInflightBlocks = true }
    }
}

/// Seeded runs of nodes, registry and provider under crashes, data loss, hangs and partitions:
/// safety holds throughout, no registry action costs quorum, conf changes go one at a time, and
/// after the faults stop the cluster is back at its target size and voter count within a bound.
/// Every failure names its seed, the first broken invariant with its step, and the replay command.
@Test(arguments: 0..<SeedPlan.chunkCount)
func healingSimulator_registryRepairsWithoutCostingQuorumAndHeals(chunk: Int) {
    let verbose = ProcessInfo.processInfo.environment["SIM_VERBOSE"] != nil
    let seeds = HealingRun.plan.seeds(chunk: chunk)
    let started = ContinuousClock.now
    SimulatorTrapReport.install()
    let slot = HealingRun.plan.trapSlotBase + chunk
    defer { SimulatorTrapReport.running(nil, slot: slot) }
    var slowestHealTicks = 0
    for seed in seeds {
        SimulatorTrapReport.running(seed, slot: slot)
        let simulation = HealingSimulation(seed: seed, adjust: HealingRun.todaysRules)
        simulation.run()
        if verbose { print("heal seed \(seed): \(simulation.summary)") }
        if let first = simulation.violations.first {
            Issue.record("""
                healing simulator seed \(seed) failed at \(first)
                run: \(simulation.summary)
                replay: \(HealingRun.plan.replayCommand(seed))
                """)
            return
        }
        slowestHealTicks = max(slowestHealTicks, simulation.stats.healTicks)
    }
    print("healing chunk \(chunk): \(seeds.count) seeds in \(ContinuousClock.now - started), slowest heal \(slowestHealTicks) ticks")
}

// Bugs the healing simulator found in Sources, fixed there; each seed that showed one now runs
// clean with the real rules (the sweep runs them too). `SIM_TODAYS_RULES=1` still replays the
// old rule of bug 1 in the simulator's mirror of the runtime, to study it.

/// Bug 1 (RuntimeLoop.autoPromote): blocks in flight reset every learner's caught-up timer, so
/// under steady load no learner was ever promoted.
@Test func healingSimulator_learnersArePromotedUnderSteadyLoad() {
    let simulation = HealingSimulation(seed: 24)
    simulation.run()
    #expect(simulation.violations.isEmpty, "\(simulation.violations.first ?? "")")
}

/// Bug 2 (RegistryService.observe, now RegistryCore.observe): a removed voter that came back counted as capacity forever.
@Test func healingSimulator_removedNodeThatComesBackHoldsNoSlot() {
    let simulation = HealingSimulation(seed: 184)
    simulation.run()
    #expect(simulation.violations.isEmpty, "\(simulation.violations.first ?? "")")
}

/// Bug 3 (RegistryService.perform, now RegistryCore.tick): a restart counted as failed when issued, so a voter whose last
/// allowed restart was under way was removed as lost, which could cost the quorum.
@Test func healingSimulator_voterIsNotRemovedWhileItsRestartIsUnderWay() {
    let simulation = HealingSimulation(seed: 516)
    simulation.run()
    #expect(simulation.violations.isEmpty, "\(simulation.violations.first ?? "")")
}

/// Bug 4 (Autoscaler.planQuorumLoss): a dead voter whose removal was under way was restarted to
/// regain quorum; its return committed its own removal and lost the quorum again.
@Test func healingSimulator_quorumLossDoesNotRestartAVoterBeingRemoved() {
    let simulation = HealingSimulation(seed: 50)
    simulation.run()
    #expect(simulation.violations.isEmpty, "\(simulation.violations.first ?? "")")
}

/// The simulator drives the real RegistryCore, so a bug in it is found: here a retirement that
/// destroys its node without taking it out of the configuration first (planted in the core
/// through its test-only switch) leaves a member down for good, and seed 0 shows it.
@Test func healingSimulator_findsABugPlantedInTheRealRegistryCore() {
    let planted = HealingSimulation(seed: 0) { $0.plantedRegistryBug = .retireDestroysMembers }
    planted.run()
    #expect(planted.violations.first?.contains("not healed") == true, "\(planted.violations.first ?? "no violation")")
    let real = HealingSimulation(seed: 0)
    real.run()
    #expect(real.violations.isEmpty, "\(real.violations.first ?? "")")
}
