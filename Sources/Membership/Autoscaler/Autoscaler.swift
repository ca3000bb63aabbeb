// The autoscaler: a pure decision core. The registry (the shell) observes the cluster, calls
// `decide` once per round and carries out the actions; nothing here does I/O or reads a clock.

/// Decides, from the observed cluster, what to restart, spawn, remove or retire, preferring the
/// least disruptive repair. A value: its only memory is recent recommendations, scale moves and
/// alerts, all bounded, all soft (a fresh `Autoscaler` after a registry restart is safe).
///
/// Order of preference: restart a dead node on its own data; replace it (spawn a learner, then
/// remove the dead voter once the replacement caught up); on quorum loss only restart voters
/// (or alert the operator); then size the cluster on the operator's target or the load.
public struct Autoscaler: Sendable {
    /// The node count decided last round (voters + learners); nil until the first round.
    public internal(set) var desiredNodes: Int?
    var recommendations = RollingMax()
    var scaleEvents = ScaleEvents()
    var alertsSentAt: [String: Double] = [:]

    public init() {}

    /// The actions for this round. `settings` must have passed `validate()`; `now` is the
    /// registry's clock in seconds (the same clock as every time in `observed`).
    public mutating func decide(_ observed: ObservedCluster, settings: AutoscalerSettings, now: Double) -> [ScalingAction] {
        assert((try? settings.validate()) != nil, "settings must be validated before deciding")
        precondition(now.isFinite, "now must be a finite number of seconds")
        let view = ClusterView(observed, settings: settings, now: now)
        var plan = Plan(view)
        if let loss = view.quorumLoss {
            planQuorumLoss(view, why: loss, into: &plan)
        } else {
            let target = updateTarget(view, now: now)
            planRepairs(view, into: &plan)
            if !plan.changedVoters { planCapacity(view, target: target, into: &plan) }
        }
        plan.checkInvariants(view)
        return suppressRepeatedAlerts(plan.actions, settings: settings, now: now)
    }

    /// The same alert (kind and message) at most once per `alertRepeatS`.
    mutating func suppressRepeatedAlerts(_ actions: [ScalingAction], settings: AutoscalerSettings, now: Double) -> [ScalingAction] {
        alertsSentAt = alertsSentAt.filter { now - $0.value < settings.alertRepeatS }
        let kept = actions.filter { action in
            guard case .alert = action, let key = action.key else { return true }
            if alertsSentAt[key] != nil { return false }
            if alertsSentAt.count >= MembershipLimits.maxAlertsKept,
               let oldest = alertsSentAt.min(by: { $0.value < $1.value }) { alertsSentAt[oldest.key] = nil }
            alertsSentAt[key] = now
            return true
        }
        assert(alertsSentAt.count <= MembershipLimits.maxAlertsKept)
        return kept
    }
}

/// The actions of one round, with the rules that bind them together.
struct Plan {
    private(set) var actions: [ScalingAction] = []
    private var keys: Set<String>
    /// A voter left or is leaving the configuration this round: nothing else changes membership.
    private(set) var changedVoters = false

    init(_ view: ClusterView) { keys = view.inFlightKeys }

    /// Adds `action` unless it is in flight or already planned; true when added.
    @discardableResult
    mutating func add(_ action: ScalingAction) -> Bool {
        precondition(!action.reason.isEmpty, "every action has a reason")
        if let key = action.key {
            guard keys.insert(key).inserted else { return false }
        }
        actions.append(action)
        return true
    }

    /// The round's one voter change: a removal or a leadership transfer, alone with restarts.
    mutating func addVoterChange(_ action: ScalingAction) {
        precondition(!changedVoters, "one voter change per round")
        if add(action) { changedVoters = true }
    }

    /// Rules no policy may break, checked on the way out.
    func checkInvariants(_ view: ClusterView) {
        var voterChanges = 0
        for action in actions {
            switch action {
            case .retire(let n, _):
                precondition(!view.isVoter(n), "a voter is removed from the configuration before it is retired")
            case .removeMember(let n, _):
                precondition(n != view.leader, "the leader hands over leadership before it is removed")
                voterChanges += 1
            case .transferLeadership: voterChanges += 1
            default: break
            }
        }
        precondition(voterChanges <= 1, "at most one voter change per round")
        let others = actions.contains { if case .spawn = $0 { true } else if case .retire = $0 { true } else { false } }
        precondition(voterChanges == 0 || !others, "a voter change is alone in its round")
    }
}
