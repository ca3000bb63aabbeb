// Alive, suspect or dead from heartbeats, probes and process exits — pure, clock passed in.
// alive → suspect when heartbeats are late (the shell then probes GET /health/live) → dead when the
// probe fails or the silence outlasts the extra time; a successful probe keeps a slow node alive;
// a process exit is dead at once (until the node is heard from again).

/// When a node is late and when it is dead. Defaults: suspect after 1.5 s of silence, dead 1.5 s later.
public struct FailureDetectorSettings: Sendable, Equatable {
    /// How often nodes send a heartbeat, seconds.
    public var heartbeatIntervalS = 0.5
    /// Heartbeats missed in a row before a node is suspect.
    public var suspectAfterMissed = 3
    /// Further silence after suspicion, seconds, before it is dead without a failed probe.
    public var deadAfterSuspectS = 1.5

    public init() {}

    /// Seconds of silence before suspicion.
    public var suspectAfterS: Double { heartbeatIntervalS * Double(suspectAfterMissed) }

    public func validate() throws(MembershipSettingsError) {
        if !(heartbeatIntervalS > 0 && heartbeatIntervalS <= 60) {
            throw .badValue(key: "heartbeatIntervalS", value: "\(heartbeatIntervalS)", expected: "(0, 60] seconds")
        }
        if !(1...100).contains(suspectAfterMissed) {
            throw .badValue(key: "suspectAfterMissed", value: "\(suspectAfterMissed)", expected: "1...100")
        }
        if !(deadAfterSuspectS >= 0 && deadAfterSuspectS <= 600) {
            throw .badValue(key: "deadAfterSuspectS", value: "\(deadAfterSuspectS)", expected: "0...600 seconds")
        }
    }
}

/// Judges node health from what the shell saw and when. A value; times may arrive out of order
/// (the latest of each kind wins). Tracks at most `MembershipLimits.maxTrackedNodes` nodes.
public struct FailureDetector: Sendable {
    struct Record: Sendable {
        var lastSignAt: Double?        // heartbeat or successful probe
        var lastProbeFailedAt: Double?
        var exitedAt: Double?
    }

    public let settings: FailureDetectorSettings
    private var records: [String: Record] = [:]

    public init(settings: FailureDetectorSettings = FailureDetectorSettings()) {
        assert((try? settings.validate()) != nil, "failure detector settings must be validated")
        self.settings = settings
    }

    /// False when the node is new and the table is full (the heartbeat is ignored).
    @discardableResult
    public mutating func observeHeartbeat(node: String, at: Double) -> Bool {
        update(node) { $0.lastSignAt = max($0.lastSignAt ?? at, at) }
    }

    /// The result of a `GET /health/live` probe the shell sent because the node was suspect.
    @discardableResult
    public mutating func observeProbe(node: String, ok: Bool, at: Double) -> Bool {
        update(node) { r in
            if ok { r.lastSignAt = max(r.lastSignAt ?? at, at) } else { r.lastProbeFailedAt = max(r.lastProbeFailedAt ?? at, at) }
        }
    }

    /// The provider saw the process end: dead at once, until the node is heard from afterwards.
    @discardableResult
    public mutating func observeProcessExit(node: String, at: Double) -> Bool {
        update(node) { $0.exitedAt = max($0.exitedAt ?? at, at) }
    }

    /// Stops tracking `node` (retired).
    public mutating func forget(node: String) { records[node] = nil }

    /// When the provider last reported the node's process ended, nil when never.
    public func exitedAt(node: String) -> Double? { records[node]?.exitedAt }

    /// The last heartbeat or successful probe, nil when never heard from.
    public func lastHeardAt(node: String) -> Double? { records[node]?.lastSignAt }

    /// The provider saw the node's process end and the node has not been heard from since: dead
    /// by observation, not by mere silence (which a partition also causes).
    public func exitSeen(node: String) -> Bool {
        guard let r = records[node], let exited = r.exitedAt else { return false }
        return r.lastSignAt.map { exited >= $0 } ?? true
    }

    /// A node never heard from is dead: the autoscaler's grace period covers a registry restart.
    public func health(node: String, now: Double) -> NodeHealth {
        guard let r = records[node], let sign = r.lastSignAt else { return .dead }
        if let exited = r.exitedAt, exited >= sign { return .dead }
        let silenceS = now - sign
        if silenceS <= settings.suspectAfterS { return .alive }
        if let failed = r.lastProbeFailedAt, failed > sign { return .dead }
        return silenceS > settings.suspectAfterS + settings.deadAfterSuspectS ? .dead : .suspect
    }

    /// The shell should probe `node`: it is suspect and no probe has answered since its last sign.
    public func shouldProbe(node: String, now: Double) -> Bool {
        health(node: node, now: now) == .suspect
    }

    private mutating func update(_ node: String, _ change: (inout Record) -> Void) -> Bool {
        precondition(!node.isEmpty, "node IDs are never empty")
        if records[node] == nil && records.count >= MembershipLimits.maxTrackedNodes { return false }
        change(&records[node, default: Record()])
        assert(records.count <= MembershipLimits.maxTrackedNodes)
        return true
    }
}
