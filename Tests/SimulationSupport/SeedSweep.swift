// The loop every seeded simulator test runs: each seed of a chunk, with the trap report armed,
// stopping at the first broken invariant with the command that replays it.
import Foundation
import Testing

/// A simulation run for one seed, as the seed loop reads it: a one-line summary and the broken
/// invariants, empty when every invariant held.
protocol SeededSimulation {
    var summary: String { get }
    var violations: [String] { get }
}

/// What a chunk's sweep covered when every seed passed.
struct SeedSweep: Sendable {
    let seedCount: Int
    let elapsed: Duration
}

extension SeedPlan {
    /// Runs `simulate` for each seed of `chunk` (it builds and runs the simulation, and may tally
    /// figures of its own). `SIM_VERBOSE=1` prints each seed's summary. A core precondition kills
    /// the process before an issue can be recorded, so the trap report names the running seed.
    /// On the first seed with a broken invariant, records an issue naming the seed, the
    /// invariant, the run and the replay command, and returns nil.
    func sweep<Simulation: SeededSimulation>(chunk: Int, sourceLocation: SourceLocation = #_sourceLocation,
                                             _ simulate: (UInt64) -> Simulation) -> SeedSweep? {
        let verbose = ProcessInfo.processInfo.environment["SIM_VERBOSE"] != nil
        let seeds = seeds(chunk: chunk)
        let started = ContinuousClock.now
        SimulatorTrapReport.install()
        let slot = trapSlotBase + chunk
        defer { SimulatorTrapReport.running(nil, slot: slot) }
        for seed in seeds {
            SimulatorTrapReport.running(seed, slot: slot)
            let simulation = simulate(seed)
            if verbose { print("\(name) seed \(seed): \(simulation.summary)") }
            if let first = simulation.violations.first {
                Issue.record("""
                    \(name) seed \(seed) failed at \(first)
                    run: \(simulation.summary)
                    replay: \(replayCommand(seed))
                    """, sourceLocation: sourceLocation)
                return nil
            }
        }
        return SeedSweep(seedCount: seeds.count, elapsed: ContinuousClock.now - started)
    }
}
