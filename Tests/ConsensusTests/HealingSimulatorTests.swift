import Foundation
import Testing
@testable import Consensus

/// The healing simulator's seeds: `SIM_SEED=n` replays one, `SIM_SEEDS=k` runs 0..<k.
enum HealingRun {
    static let plan = SeedPlan(testID: "ConsensusTests.healingSimulator_registryRepairsWithoutCostingQuorumAndHeals",
                               defaultSeedCount: 1000, trapSlotBase: SeedPlan.chunkCount)

    /// `SIM_TODAYS_RULES=1,2,3`: run the sweep with the rules of known bugs as Sources has them
    /// today (see the known-issue tests below), to find seeds that show them.
    static func todaysRules(_ s: inout HealingSettings) {
        let bugs = ProcessInfo.processInfo.environment["SIM_TODAYS_RULES"]?.split(separator: ",") ?? []
        if bugs.contains("1") { s.promotionTimerResetByInflightBlocks = true }
        if bugs.contains("2") { s.removedNodesCountAsCapacity = true }
        if bugs.contains("3") { s.restartCountsAsFailedWhenIssued = true }
        if bugs.contains("4") { s.restartsVoterBeingRemoved = true }
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

// Known bugs in Sources, replayed with the rule as it is today. Each is a known issue: when the
// fix lands the issue stops being recorded, `withKnownIssue` fails, and the sweep's setting
// (HealingSettings) should be flipped to the real rule. A change to the simulator moves seeds:
// find a new one with `SIM_TODAYS_RULES=<bug> SIM_SEEDS=300 swift test --filter <the sweep's id>`.

/// Bug 1, RuntimeLoop.autoPromote: a block in flight at a tick resets every learner's caught-up
/// timer, so under steady load a learner is never promoted and the cluster stays at 2 voters.
@Test func healingSimulator_knownIssue_promotionStarvesUnderSteadyLoad() {
    let simulation = HealingSimulation(seed: 24) { $0.promotionTimerResetByInflightBlocks = true }
    simulation.run()
    withKnownIssue("RuntimeLoop.autoPromote resets caught-up timers whenever a block is in flight") {
        #expect(simulation.violations.isEmpty, "\(simulation.violations.first ?? "")")
    }
}

/// Bug 2, RegistryService.observe: a voter removed from the configuration that comes back alive
/// (a hang that ends) counts as capacity forever, so no replacement is spawned.
@Test func healingSimulator_knownIssue_removedNodeThatComesBackHoldsASlot() {
    let simulation = HealingSimulation(seed: 184) { $0.removedNodesCountAsCapacity = true }
    simulation.run()
    withKnownIssue("a removed node that runs again is counted as capacity and never retired") {
        #expect(simulation.violations.isEmpty, "\(simulation.violations.first ?? "")")
    }
}

/// Bug 3, RegistryService.perform: restartFailures counts restarts issued, so the last allowed
/// attempt makes a voter "lost" while that restart is under way, and it is removed; with another
/// voter hung (not yet suspect) and the restarted one back, the removal commits and costs the quorum.
@Test func healingSimulator_knownIssue_voterRemovedWhileItsRestartIsUnderWay() {
    let simulation = HealingSimulation(seed: 516) { $0.restartCountsAsFailedWhenIssued = true }
    simulation.run()
    withKnownIssue("a dead voter whose restart is in flight is removed as lost") {
        #expect(simulation.violations.isEmpty, "\(simulation.violations.first ?? "")")
    }
}

/// Bug 4, Autoscaler.planQuorumLoss: a dead voter whose removal is under way is restarted to regain
/// quorum; its return commits its own removal, and the smaller configuration lacks a quorum again.
@Test func healingSimulator_knownIssue_quorumLossRestartsAVoterBeingRemoved() {
    let simulation = HealingSimulation(seed: 50) { $0.restartsVoterBeingRemoved = true }
    simulation.run()
    withKnownIssue("planQuorumLoss restarts a voter whose removal is in flight") {
        #expect(simulation.violations.isEmpty, "\(simulation.violations.first ?? "")")
    }
}
