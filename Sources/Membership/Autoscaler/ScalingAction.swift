// The autoscaler's output: directives for the shell (registry + provider), each with the reason
// that is kept as an event and shown to the operator.

/// One thing the shell should do. Every case carries a human reason.
public enum ScalingAction: Sendable, Equatable {
    /// Start the same node again, same identity, same data.
    case restart(node: String, reason: String)
    /// Start a brand-new node (the shell picks a fresh ID); it joins as a learner.
    case spawn(reason: String)
    /// Ask the leader to drop `node` from the configuration.
    case removeMember(node: String, reason: String)
    /// Ask the leader `from` to hand leadership to another voter.
    case transferLeadership(from: String, reason: String)
    /// Drain, remove from the configuration, stop, delete data.
    case retire(node: String, reason: String)
    /// Tell a human; the autoscaler will not do it itself (e.g. forcing a new cluster).
    case alert(kind: AlertKind, message: String)

    public var reason: String {
        switch self {
        case .restart(_, let r), .spawn(let r), .removeMember(_, let r), .transferLeadership(_, let r),
             .retire(_, let r): r
        case .alert(_, let message): message
        }
    }

    /// What the action is about, for "is this already under way": equal keys are duplicates.
    /// Spawns have no subject (each one is a new node), so they are counted, not matched.
    public var key: String? {
        switch self {
        case .restart(let n, _): "restart:\(n)"
        case .spawn: nil
        case .removeMember(let n, _): "remove:\(n)"
        case .transferLeadership(let n, _): "transfer:\(n)"
        case .retire(let n, _): "retire:\(n)"
        case .alert(let kind, let message): "alert:\(kind.rawValue):\(message)"
        }
    }

    /// The node the action is about, if any.
    public var node: String? {
        switch self {
        case .restart(let n, _), .removeMember(let n, _), .transferLeadership(let n, _), .retire(let n, _): n
        case .spawn, .alert: nil
        }
    }
}
