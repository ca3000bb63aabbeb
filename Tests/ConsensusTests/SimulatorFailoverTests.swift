import Foundation
import Testing
@testable import SimulationSupport

/// A killed leader's sockets close at once: in simulated time over the real runtime cores, the
/// survivors commit a block of a new term within half a second (5 ticks) in most seeds, against
/// an election timeout or more when the leader only goes silent; safety holds in every run.
@Test func simulator_killedLeaderFailsOverInUnderHalfASecond() {
    let seeds = UInt64(0)..<40
    var killed: [Int] = [], silent: [Int] = []
    for seed in seeds {
        for closesLinks in [true, false] {
            let simulation = ClusterSimulation(seed: seed)
            let ticks = simulation.failoverTicks(closesLinks: closesLinks)
            #expect(simulation.violations.isEmpty, "seed \(seed) closesLinks \(closesLinks): \(simulation.violations.first ?? "")")
            guard let ticks else { Issue.record("seed \(seed) closesLinks \(closesLinks): no new leader committed"); continue }
            if closesLinks { killed.append(ticks) } else { silent.append(ticks) }
        }
    }
    killed.sort(); silent.sort()
    print("simulated failover, ticks of 100 ms: killed median \(killed[killed.count / 2]) max \(killed.last ?? -1); "
          + "silent median \(silent[silent.count / 2]) max \(silent.last ?? -1)")
    #expect(killed.count == seeds.count && silent.count == seeds.count)
    #expect(killed.filter { $0 < 5 }.count * 10 >= killed.count * 9, "under 0.5 s in at least 9 seeds of 10: \(killed)")
    #expect(silent[silent.count / 2] >= 10, "a silent leader still costs an election timeout: \(silent)")
}
