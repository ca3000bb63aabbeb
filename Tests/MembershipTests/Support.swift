@testable import Membership

/// The registry started at 0; rounds happen at `t0`, long after the grace period.
let t0 = 1_000.0

/// A node heard from a moment ago, at height 100, at the target load.
func node(_ id: String, _ health: NodeHealth = .alive, height: UInt64 = 100, cpu: Double? = 0.7,
          managed: Bool = true, hasData: Bool = true, failures: Int = 0, lastActionAt: Double? = nil,
          draining: Bool = false, caughtUp: Bool = true, heardAt: Double? = t0 - 0.2) -> NodeObservation {
    NodeObservation(id: id, health: health, role: .follower, height: height, managed: managed, hasData: hasData,
                    restartFailures: failures, lastActionAt: lastActionAt, draining: draining,
                    load: NodeLoad(cpu: cpu), caughtUp: caughtUp, lastHeardAt: heardAt)
}

/// `count` healthy nodes n1...nN: the first `voters` vote, n1 leads, the rest are learners.
func cluster(_ count: Int, voters: Int = 3, cpu: Double? = 0.7) -> ObservedCluster {
    let nodes = (1...count).map { node("n\($0)", cpu: cpu) }
    let ids = nodes.map(\.id)
    return ObservedCluster(nodes: nodes, voters: Array(ids.prefix(voters)), learners: Array(ids.dropFirst(voters)),
                           leader: "n1", registryStartedAt: 0)
}

extension ObservedCluster {
    /// Replaces the node with the same ID.
    func with(_ changed: NodeObservation) -> ObservedCluster {
        var copy = self
        let i = copy.nodes.firstIndex { $0.id == changed.id }!
        copy.nodes[i] = changed
        return copy
    }

    func adding(_ extra: NodeObservation, asLearner: Bool = true) -> ObservedCluster {
        var copy = self
        copy.nodes.append(extra)
        if asLearner { copy.learners.append(extra.id) }
        return copy
    }

    func load(_ cpu: Double?) -> ObservedCluster {
        var copy = self
        for i in copy.nodes.indices { copy.nodes[i].load.cpu = cpu }
        return copy
    }
}

extension ScalingAction {
    var isSpawn: Bool { if case .spawn = self { true } else { false } }
    var isMembershipChange: Bool {
        switch self {
        case .spawn, .removeMember, .retire, .transferLeadership: true
        case .restart, .alert: false
        }
    }
}

func restarts(_ a: [ScalingAction]) -> [String] {
    a.compactMap { if case .restart(let n, _) = $0 { n } else { nil } }
}
func removals(_ a: [ScalingAction]) -> [String] {
    a.compactMap { if case .removeMember(let n, _) = $0 { n } else { nil } }
}
func retirements(_ a: [ScalingAction]) -> [String] {
    a.compactMap { if case .retire(let n, _) = $0 { n } else { nil } }
}
func transfers(_ a: [ScalingAction]) -> [String] {
    a.compactMap { if case .transferLeadership(let n, _) = $0 { n } else { nil } }
}
func spawns(_ a: [ScalingAction]) -> Int { a.count(where: \.isSpawn) }
func alerts(_ a: [ScalingAction]) -> [(kind: AlertKind, message: String)] {
    a.compactMap { if case .alert(let k, let m) = $0 { (k, m) } else { nil } }
}

/// One decision with a fresh autoscaler.
func decideOnce(_ observed: ObservedCluster, _ settings: AutoscalerSettings = AutoscalerSettings(),
                now: Double = t0) -> [ScalingAction] {
    var scaler = Autoscaler()
    return scaler.decide(observed, settings: settings, now: now)
}

/// A seeded generator (SplitMix64) so every simulated run replays from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func changesMembership(_ a: [ScalingAction]) -> Bool { a.contains { $0.isMembershipChange } }
