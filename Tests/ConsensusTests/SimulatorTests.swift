import Foundation
import Testing

/// Runs seeded schedules; `SIM_SEED=n` replays one, `SIM_SEEDS=k` runs k seeds from 0.
@Test func simulator_randomSchedulesKeepSafetyAndMakeProgress() {
    let environment = ProcessInfo.processInfo.environment
    let seeds: [UInt64]
    if let one = environment["SIM_SEED"].flatMap(UInt64.init) {
        seeds = [one]
    } else {
        let count = environment["SIM_SEEDS"].flatMap(UInt64.init) ?? 300
        seeds = Array(0..<count)
    }
    // A core precondition kills the process before Issue.record can name the seed;
    // SIM_VERBOSE=1 prints each seed as it finishes, so the next one is the culprit.
    for seed in seeds {
        let simulation = Simulation(seed: seed)
        simulation.run()
        if environment["SIM_VERBOSE"] != nil { print("sim seed \(seed): \(simulation.summary)") }
        if let first = simulation.violations.first {
            Issue.record("""
                simulator seed \(seed) failed: \(first)
                replay: SIM_SEED=\(seed) swift test --filter ConsensusTests.simulator_randomSchedulesKeepSafetyAndMakeProgress
                """)
            return
        }
    }
}
