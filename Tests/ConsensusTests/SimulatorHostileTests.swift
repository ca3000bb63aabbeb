import Foundation
import Testing
@testable import Consensus
@testable import NodeCore
@testable import SimulationSupport

/// The hostile-member simulator's seeds: each seed draws the faulty node's role (stranger,
/// learner or voter) and its own fault odds. `SIM_SEEDS`/`SIM_FIRST_SEED`/`SIM_SEED` as for
/// the other simulators; `make sim-long` runs many more.
enum HostileRun {
    static func role(seed: UInt64) -> HostileRole {
        HostileRole.allCases[Int(seed % UInt64(HostileRole.allCases.count))]
    }
}

/// A faulty member sends the real cores absurd terms and indexes, malformed and junk appends,
/// a second leadership claim for a term, appends rewriting committed entries, replays, floods,
/// and messages speaking for others. Every invariant of the honest simulator still holds on the
/// honest nodes (no trap, no committed entry lost or changed, one committed prefix), evidence is
/// kept only against the faulty node, and the cluster makes progress after healing while the
/// faulty node keeps attacking.
@Test(arguments: 0..<SeedPlan.chunkCount)
func simulator_aFaultyMemberCannotBreakSafetyOrStopProgress(chunk: Int) {
    var attacks = 0
    var evidence = 0
    let sweep = SimulatorPlans.hostile.sweep(chunk: chunk) { seed in
        let simulation = ClusterSimulation(seed: seed, hostile: HostileRun.role(seed: seed))
        simulation.run()
        attacks += simulation.hostile?.attacksSent ?? 0
        evidence += simulation.evidenceSeen
        return simulation
    }
    guard let sweep else { return }
    print("hostile simulator chunk \(chunk): \(sweep.seedCount) seeds, \(attacks) attacks, \(evidence) evidence, in \(sweep.elapsed)")
}

/// The check can fail: with the leader-of-term rule turned off in the honest cores, a faulty
/// voter's second leadership claim gets junk entries appended and committed, and the simulator
/// reports it; the same seed with the rule is safe.
@Test func simulator_catchesACoreThatAcceptsASecondLeaderForATerm() throws {
    let failing = (0..<UInt64(60)).lazy
        .filter { HostileRun.role(seed: $0) == .voter }
        .first { seed in
            let planted = ClusterSimulation(seed: seed, hostile: .voter, withoutLeaderOfTermRule: true)
            planted.run()
            return !planted.violations.isEmpty
        }
    let seed = try #require(failing, "no seed caught the planted bug")
    let planted = ClusterSimulation(seed: seed, hostile: .voter, withoutLeaderOfTermRule: true)
    planted.run()
    print("planted bug caught by seed \(seed): \(planted.violations.first ?? "")")
    let honest = ClusterSimulation(seed: seed, hostile: .voter)
    honest.run()
    #expect(honest.violations.isEmpty, "seed \(seed) with the rule: \(honest.violations.first ?? "")")
    #expect(honest.evidenceSeen > 0, "the rule did refuse the faulty claims")
}

/// The attacks reach every rule: across a few seeds of each role, the honest cores refuse the
/// faulty node's messages for every reason a peer can cause and keep both kinds of evidence.
@Test func simulator_faultyMemberRunsIntoEveryRule() {
    var refused: [RefusalReason: Int] = [:]
    var evidence: [Evidence.Kind: Int] = [:]
    var cuts = 0
    for seed in UInt64(0)..<24 {
        let simulation = ClusterSimulation(seed: seed, hostile: HostileRun.role(seed: seed))
        simulation.run()
        #expect(simulation.violations.isEmpty, "seed \(seed): \(simulation.violations.first ?? "")")
        refused.merge(simulation.refusedByReason, uniquingKeysWith: +)
        evidence.merge(simulation.evidenceByKind, uniquingKeysWith: +)
        cuts += simulation.linkCuts
    }
    for reason in RefusalReason.allCases where reason != .misaddressed {  // the link delivers only to the addressee
        #expect(refused[reason, default: 0] > 0, "no message refused as \(reason)")
    }
    for kind in Evidence.Kind.allCases { #expect(evidence[kind, default: 0] > 0, "no \(kind) evidence") }
    #expect(cuts > 0, "no forged sender reached the link")
}
