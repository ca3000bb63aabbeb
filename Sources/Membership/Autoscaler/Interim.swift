// INTERIM: replaced by the autoscaler core being written on branch `scaler`.
public enum NodeHealth: String, Sendable { case alive, suspect, dead }

public struct NodeLoad: Sendable, Equatable {
    public var cpu: Double?
    public var requestRate: Double?
    public var mempool: Double?
    public var submitLatencyMs: Double?
    public init(cpu: Double? = nil, requestRate: Double? = nil, mempool: Double? = nil, submitLatencyMs: Double? = nil) {
        self.cpu = cpu; self.requestRate = requestRate; self.mempool = mempool; self.submitLatencyMs = submitLatencyMs
    }
}

public struct NodeObservation: Sendable, Equatable {
    public var id: String
    public var health: NodeHealth
    public var role: String
    public var height: UInt64
    public var managed: Bool
    public var hasData: Bool
    public var restartFailures: Int
    public var lastActionAt: Double?
    public var draining: Bool
    public var load: NodeLoad
    public var caughtUp: Bool
    public init(id: String, health: NodeHealth, role: String, height: UInt64, managed: Bool, hasData: Bool, restartFailures: Int,
                lastActionAt: Double?, draining: Bool, load: NodeLoad, caughtUp: Bool) {
        self.id = id; self.health = health; self.role = role; self.height = height; self.managed = managed; self.hasData = hasData
        self.restartFailures = restartFailures; self.lastActionAt = lastActionAt; self.draining = draining; self.load = load; self.caughtUp = caughtUp
    }
}

public struct ObservedCluster: Sendable {
    public var nodes: [NodeObservation]
    public var voters: [String]
    public var learners: [String]
    public var leader: String?
    public var consensusFailureReportedAt: Double?
    public var operatorTarget: Int?
    public var registryStartedAt: Double
    public var inFlight: [ScalingAction]
    public init(nodes: [NodeObservation], voters: [String], learners: [String], leader: String?, consensusFailureReportedAt: Double?,
                operatorTarget: Int?, registryStartedAt: Double, inFlight: [ScalingAction]) {
        self.nodes = nodes; self.voters = voters; self.learners = learners; self.leader = leader
        self.consensusFailureReportedAt = consensusFailureReportedAt; self.operatorTarget = operatorTarget
        self.registryStartedAt = registryStartedAt; self.inFlight = inFlight
    }
}

public enum ScalingAction: Sendable, Equatable {
    case restart(node: String, reason: String)
    case spawn(reason: String)
    case removeMember(node: String, reason: String)
    case transferLeadership(from: String, reason: String)
    case retire(node: String, reason: String)
    case alert(kind: String, message: String)

    public var reason: String {
        switch self {
        case .restart(_, let r), .spawn(let r), .removeMember(_, let r), .transferLeadership(_, let r), .retire(_, let r): r
        case .alert(_, let m): m
        }
    }
}

public enum ScalingMetric: String, Sendable { case cpu, requestRate = "request_rate", mempool, submitLatency = "submit_latency" }

public struct AutoscalerSettings: Sendable {
    public var minNodes = 3, maxNodes = 7, targetVoters = 3
    public var metric: ScalingMetric = .cpu
    public var targetValue = 0.7, tolerance = 0.1
    public var scaleUpMaxPercent = 100.0, scaleUpPeriodS = 30.0, scaleDownMaxPercent = 50.0, scaleDownPeriodS = 60.0
    public var downStabilizationS = 60.0
    public var maxRestartFailures = 3
    public var restartBackoffS = 2.0
    public var gracePeriodS = 10.0
    public init() {}
}

public struct Autoscaler: Sendable {
    public init() {}
    public mutating func decide(_ o: ObservedCluster, settings: AutoscalerSettings, now: Double) -> [ScalingAction] {
        var out: [ScalingAction] = []
        let target = max(settings.minNodes, min(settings.maxNodes, o.operatorTarget ?? settings.minNodes))
        for n in o.nodes where n.health == .dead && n.managed && n.hasData && n.restartFailures < settings.maxRestartFailures && !n.draining {
            let a = ScalingAction.restart(node: n.id, reason: "\(n.id) dead, data intact: restart")
            if !o.inFlight.contains(where: { if case .restart(let x, _) = $0 { return x == n.id }; return false }) { out.append(a) }
        }
        let living = o.nodes.filter { $0.health != .dead || ($0.hasData && $0.restartFailures < settings.maxRestartFailures) }.count
        let spawning = o.inFlight.filter { if case .spawn = $0 { return true }; return false }.count
        let bootstrapped = !o.voters.isEmpty || o.nodes.isEmpty
        if living + spawning < target && spawning == 0 && (o.leader != nil || o.nodes.isEmpty) && bootstrapped {
            out.append(.spawn(reason: "\(living) of \(target) nodes: spawn one"))
        }
        let deadVoters = o.voters.filter { v in o.nodes.first { $0.id == v }.map { $0.health == .dead && !($0.hasData && $0.restartFailures < settings.maxRestartFailures) } ?? false }
        let aliveVoters = o.voters.count - o.nodes.filter { o.voters.contains($0.id) && $0.health == .dead }.count
        if let d = deadVoters.first, aliveVoters * 2 > o.voters.count, o.learners.contains(where: { l in o.nodes.first { $0.id == l }?.caughtUp ?? false }) {
            out.append(.removeMember(node: d, reason: "\(d) is dead for good and a learner is caught up: remove it"))
        }
        return out
    }
}

public struct FailureDetectorSettings: Sendable {
    public var heartbeatIntervalS = 0.5, suspectAfterMissed = 3.0, deadAfterSuspectS = 1.5
    public init() {}
}

public struct FailureDetector: Sendable {
    let settings: FailureDetectorSettings
    var beats: [String: Double] = [:]
    var exits: [String: Double] = [:]
    var probes: [String: (ok: Bool, at: Double)] = [:]
    public init(settings: FailureDetectorSettings) { self.settings = settings }
    public mutating func observeHeartbeat(node: String, at: Double) { beats[node] = at; exits[node] = nil }
    public mutating func observeProbe(node: String, ok: Bool, at: Double) { probes[node] = (ok, at); if ok { beats[node] = max(beats[node] ?? 0, at - settings.heartbeatIntervalS) } }
    public mutating func observeProcessExit(node: String, at: Double) { exits[node] = at }
    public func health(node: String, now: Double) -> NodeHealth {
        if let e = exits[node], e >= (beats[node] ?? 0) { return .dead }
        guard let b = beats[node] else { return .dead }
        let late = now - b
        if late <= settings.heartbeatIntervalS * settings.suspectAfterMissed { return .alive }
        if late <= settings.heartbeatIntervalS * settings.suspectAfterMissed + settings.deadAfterSuspectS { return .suspect }
        return .dead
    }
}
