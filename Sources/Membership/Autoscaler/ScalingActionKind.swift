// The kinds of scaling action as one closed list: the registry's events, its metric labels
// (autochain_registry_actions_total{kind}) and the dashboard's marks all use these raw values.

/// What the autoscaler asks a human to look at, when it will not act itself. The raw value is the
/// alert's stable name (the `alert_` kinds below, the Prometheus alert rules).
public enum AlertKind: String, Sendable, CaseIterable {
    /// Fewer voters are reachable than a quorum needs, and restarting cannot bring them back.
    case quorumLost = "quorum-lost"
    /// A node reported a consensus failure while no voter is dead: nothing for the autoscaler to fix.
    case consensusFailure = "consensus-failure"
}

/// The kind of a `ScalingAction`. The raw value is stable: it is an event kind in `GET /events`,
/// a `kind` label value of the registry's action metrics and a mark on the dashboard.
public enum ScalingActionKind: String, Sendable, CaseIterable {
    case restart
    case spawn
    case removeMember = "remove_member"
    case transferLeadership = "transfer_leadership"
    case retire
    case alertQuorumLost = "alert_quorum-lost"
    case alertConsensusFailure = "alert_consensus-failure"

    /// The kinds the registry carries out (and that can fail), as opposed to alerts it raises.
    public static let carriedOut: [ScalingActionKind] = [.restart, .spawn, .removeMember, .transferLeadership, .retire]

    public init(_ alert: AlertKind) {
        switch alert {
        case .quorumLost: self = .alertQuorumLost
        case .consensusFailure: self = .alertConsensusFailure
        }
    }
}
