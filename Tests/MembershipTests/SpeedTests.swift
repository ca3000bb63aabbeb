import Glibc
import Testing
@testable import Membership

/// The input `autochain bench-decide` measures (SyntheticCluster): 1,000 nodes, 5 voters, the
/// rest learners, some dead (restartable and lost), some missing the metric. The figure to quote
/// comes from that program; this only guards against a large regression.
@Test func speed_decideOverAThousandNodes() {
    let settings = SyntheticCluster.settings(nodes: 1_000)
    var worstUs = 0.0
    for shape in SyntheticCluster.Shape.allCases {
        let observed = SyntheticCluster.observed(nodes: 1_000, shape: shape, now: t0)
        var scaler = Autoscaler()
        let rounds = 200
        var total = 0
        // Thread CPU time, not wall time: other tests share the cores.
        func cpuSeconds() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }
        let started = cpuSeconds()
        for r in 0..<rounds { total &+= scaler.decide(observed, settings: settings, now: t0 + Double(r)).count }
        let perCallUs = (cpuSeconds() - started) * 1e6 / Double(rounds)
        worstUs = max(worstUs, perCallUs)
        #expect(total > 0)
        print("decide over 1,000 nodes (\(shape.rawValue)): \(decimal(perCallUs, 1)) µs per call")
    }
    #if DEBUG
    print("debug build: the 1 ms goal is checked in release (swift test -c release --filter speed_)")
    #expect(worstUs < 20_000)
    #else
    #expect(worstUs < 1_000, "decide must stay under 1 ms per call at 1,000 nodes")
    #endif
}

/// A week of load sitting at the threshold: the demand that 3 nodes carry at exactly the target,
/// ±25 % noise every 15 s (a perfect shell carries out every action at once).
@Test func stability_aNoisyWeekAtTheThreshold_makesAtMostOneMovePerStabilizationWindow() {
    let settings = AutoscalerSettings()
    var rng = SplitMix64(seed: 20_240_607)
    var scaler = Autoscaler()
    var observed = cluster(3)
    var nextID = 0
    var moves: [Double] = []
    let stepS = 15.0, weekS = 7 * 24 * 3600.0
    var now = t0
    while now < t0 + weekS {
        let noise = Double(rng.next() % 10_001) / 10_000 * 0.5 - 0.25
        let demand = 3 * settings.targetValue * (1 + noise)
        observed = observed.load(demand / Double(observed.nodes.count))
        let actions = scaler.decide(observed, settings: settings, now: now)
        if actions.contains(where: { $0.isSpawn }) || !retirements(actions).isEmpty { moves.append(now) }
        for action in actions {
            switch action {
            case .spawn:
                nextID += 1
                observed = observed.adding(node("s\(nextID)"))
            case .retire(let id, _):
                observed.nodes.removeAll { $0.id == id }
                observed.learners.removeAll { $0 == id }
            default: Issue.record("unexpected \(action)")
            }
        }
        now += stepS
    }
    let closest = zip(moves, moves.dropFirst()).map { $1 - $0 }.min() ?? .infinity
    let windows = Int(weekS / settings.downStabilizationS)
    print("noisy week: \(moves.count) scaling moves in \(windows) stabilization windows; closest two \(decimal(closest, 0)) s apart")
    #expect(closest >= settings.downStabilizationS)
}

/// Verifying headers (the registry's chain walk): an Ed25519 verification, a hash and a few
/// comparisons each. Guards against a large regression; prints the figure.
@Test func speed_verifyingChainHeaders() throws {
    var b = ChainBuilder(voters: ["node1", "node2", "node3"])
    for _ in 0..<2_000 { b.addEmpty(by: "node2") }
    let entries = b.entries
    func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
    let started = cpuSeconds()
    var chain = VerifiedChain()
    try chain.apply(entries, pinnedKey: ChainBuilder.pinned)
    let perHeaderUs = (cpuSeconds() - started) * 1e6 / Double(entries.count)
    #expect(chain.height == UInt64(entries.count))
    print("verifying \(entries.count) chain headers: \(decimal(perHeaderUs, 1)) µs per header")
    #expect(perHeaderUs < 5_000, "\(perHeaderUs) µs per header")
}
