// Which seeds each seeded simulator test runs, and the command that replays one.
import Foundation

/// Which seeds a seeded test covers. `SIM_SEED=n` replays one; `SIM_SEEDS=k` runs seeds 0..<k
/// (k=200 is the quick inner loop), `SIM_FIRST_SEED=f` shifts them to f..<f+k for long sweeps.
struct SeedPlan: Sendable {
    /// The exact Swift Testing id the replay command filters on.
    let testID: String
    /// How failures and verbose lines name the simulator.
    let name: String
    let defaultSeedCount: UInt64
    /// Seeds are dealt round-robin to this many test cases, which Swift Testing runs in parallel.
    static let chunkCount = 2
    /// This plan's first slot in `SimulatorTrapReport` (one slot per chunk).
    let trapSlotBase: Int

    func replayCommand(_ seed: UInt64) -> String { "SIM_SEED=\(seed) swift test --filter \(testID)" }

    func seeds(chunk: Int) -> [UInt64] {
        precondition(chunk >= 0 && chunk < Self.chunkCount)
        let environment = ProcessInfo.processInfo.environment
        if let one = environment["SIM_SEED"].flatMap(UInt64.init) { return chunk == 0 ? [one] : [] }
        let count = environment["SIM_SEEDS"].flatMap(UInt64.init) ?? defaultSeedCount
        let first = environment["SIM_FIRST_SEED"].flatMap(UInt64.init) ?? 0
        return stride(from: first + UInt64(chunk), to: first + count, by: Self.chunkCount).map { $0 }
    }
}

/// Every seeded simulator test, with its replay test ID and default seed count. `SIM_SEED`,
/// `SIM_SEEDS` and `SIM_FIRST_SEED` apply to each.
enum SimulatorPlans {
    /// The cluster simulator over the real runtime cores. With the two others, 5,000 schedules
    /// in `swift test` (docs/TESTING.md, "The simulators": the seed table and its cost).
    static let cluster = SeedPlan(testID: "ConsensusTests.simulator_randomSchedulesKeepSafetyAndMakeProgress",
                                  name: "simulator", defaultSeedCount: 3600, trapSlotBase: 0)
    /// The healing simulator: nodes, registry and provider.
    static let healing = SeedPlan(testID: "HealingSimulatorTests.healingSimulator_registryRepairsWithoutCostingQuorumAndHeals",
                                  name: "healing simulator", defaultSeedCount: 1000, trapSlotBase: SeedPlan.chunkCount)
    /// The hostile-member simulator: each seed draws the faulty node's role and its own fault odds.
    static let hostile = SeedPlan(testID: "ConsensusTests.simulator_aFaultyMemberCannotBreakSafetyOrStopProgress",
                                  name: "hostile simulator", defaultSeedCount: 400, trapSlotBase: 2 * SeedPlan.chunkCount)
    static let all = [cluster, healing, hostile]
}
