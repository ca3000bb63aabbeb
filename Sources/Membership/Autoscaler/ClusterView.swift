// The observed cluster classified once per round, so every policy reads the same facts.

/// What a node is to the autoscaler this round.
enum NodeCondition: Equatable {
    /// Not heard from since the registry started, or since the registry started the node (a
    /// spawn, a restart), and still inside the grace period: hands off.
    case unknown
    case alive
    /// Late: only holds scale-downs; nothing is done to it.
    case suspect
    /// Dead, ours, data intact, restarts not exhausted.
    case restartable
    /// Dead because someone stopped it on purpose, less than `stoppedNodeHoldS` ago: left alone
    /// and still counted as capacity (not replaced yet), but dead for the quorum.
    case stopped
    /// Dead and beyond restarting (not ours, data gone, too many failed restarts, or stopped on
    /// purpose for longer than the hold): replace it.
    case lost

    var isDead: Bool { self == .restartable || self == .stopped || self == .lost }
}

struct ClusterView {
    let now: Double
    let settings: AutoscalerSettings
    /// Observed nodes, plus a stand-in (dead, unmanaged, no data) for members never observed.
    let nodes: [NodeObservation]
    let states: [NodeCondition]
    let voters: Set<String>
    let learners: Set<String>
    let leader: String?
    let operatorTarget: Int?
    let consensusFailureReportedAt: Double?
    /// Keys of in-flight actions (`ScalingAction.key`).
    let inFlightKeys: Set<String>
    let pendingSpawns: Int
    /// Nodes with a retirement under way (no longer counted, never acted on again).
    let retiring: Set<String>
    /// Nodes that serve or will serve again (not lost, not leaving), plus spawns under way.
    let capacity: Int
    /// A removal, transfer or voter retirement is under way: voter changes go one at a time.
    let voterChangeInFlight: Bool

    init(_ observed: ObservedCluster, settings: AutoscalerSettings, now: Double) {
        precondition(observed.nodes.count <= MembershipLimits.maxNodes, "more nodes than MembershipLimits.maxNodes")
        self.now = now
        self.settings = settings
        voters = Set(observed.voters)
        learners = Set(observed.learners).subtracting(voters)
        leader = observed.leader
        operatorTarget = observed.operatorTarget
        consensusFailureReportedAt = observed.consensusFailureReportedAt
        var all = observed.nodes
        let seen = Set(all.map(\.id))
        for id in observed.voters + observed.learners where !seen.contains(id) {
            all.append(NodeObservation(id: id, health: .dead, managed: false, hasData: false, caughtUp: false))
        }
        nodes = all
        let inGrace = now < observed.registryStartedAt + settings.gracePeriodS
        states = all.map { Self.classify($0, inGrace: inGrace, settings: settings, now: now) }
        inFlightKeys = Set(observed.inFlight.compactMap(\.key))
        pendingSpawns = observed.inFlight.count { if case .spawn = $0 { true } else { false } }
        retiring = Set(observed.inFlight.compactMap { if case .retire(let n, _) = $0 { n } else { nil } })
        let voterSet = voters
        voterChangeInFlight = observed.inFlight.contains {
            switch $0 {
            case .removeMember, .transferLeadership: true
            case .retire(let n, _): voterSet.contains(n)
            default: false
            }
        }
        var count = pendingSpawns
        for (n, s) in zip(nodes, states) where s != .lost && !n.draining && !retiring.contains(n.id) { count += 1 }
        capacity = count
        assert(states.count == nodes.count)
        assert(capacity >= pendingSpawns && capacity <= nodes.count + pendingSpawns)
    }

    static func classify(_ n: NodeObservation, inGrace: Bool, settings: AutoscalerSettings, now: Double) -> NodeCondition {
        if n.lastHeardAt == nil && inGrace { return .unknown }
        // Started by the registry and not heard from (nor seen to exit) since: it cannot have
        // registered yet. Judged dead, a node spawned a moment ago was "restarted" at once, and
        // on Swarm that forced a second task that killed the first.
        if let started = n.startingSince, now - started < settings.gracePeriodS { return .unknown }
        switch n.health {
        case .alive: return .alive
        case .suspect: return .suspect
        case .dead where n.stoppedDeliberately:
            // Never heard from since the registry started: stopped before it, so held long enough.
            let downS = n.lastHeardAt.map { now - $0 } ?? .infinity
            return downS < settings.stoppedNodeHoldS ? .stopped : .lost
        case .dead:
            let restartable = n.managed && n.hasData && n.restartFailures < settings.maxRestartFailures
            return restartable ? .restartable : .lost
        }
    }

    /// Known never to come back as itself: our provider saw its process end (not mere silence;
    /// only our provider reports exits) and its data is gone, so nothing can restart it. Waiting
    /// on such a node buys nothing. (Not `managed`: a provider forgets a dead node without data.)
    func isGone(_ n: NodeObservation) -> Bool { n.exitSeen && !n.hasData }

    func isRetiring(_ id: String) -> Bool { retiring.contains(id) }
    func isVoter(_ id: String) -> Bool { voters.contains(id) }
    var majority: Int { voters.count / 2 + 1 }

    /// Voters whose state satisfies `test`.
    func voterCount(where test: (NodeCondition) -> Bool) -> Int {
        zip(nodes, states).count { n, s in voters.contains(n.id) && test(s) }
    }

    /// Why the cluster cannot commit, or nil: a majority of voters dead, or a fresh consensus-failure
    /// report that no alive leader backed by alive voters contradicts.
    var quorumLoss: String? {
        guard !voters.isEmpty else { return nil }
        let dead = voterCount(where: { $0.isDead })
        if voters.count - dead < majority { return "\(dead) of \(voters.count) voters dead" }
        guard let reportedAt = consensusFailureReportedAt,
              now - reportedAt <= settings.consensusFailureHoldS else { return nil }
        let leaderAlive = leader.map { id in isVoter(id) && zip(nodes, states).contains { $0.id == id && $1 == .alive } }
        if leaderAlive == true && voterCount(where: { $0 == .alive }) >= majority { return nil }
        return "consensus failure reported \(decimal(now - reportedAt, 1)) s ago and no alive leader with a quorum"
    }

    /// "dead for 4.2 s" or "never heard from".
    func silence(_ n: NodeObservation) -> String {
        n.lastHeardAt.map { "dead for \(decimal(now - $0, 1)) s" } ?? "never heard from"
    }
}

/// `x` with `places` decimals, without Foundation.
func decimal(_ x: Double, _ places: Int) -> String {
    precondition(places >= 0 && places <= 6)
    guard x.isFinite else { return "\(x)" }
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = Int64((abs(x) * scale).rounded())
    let unit = Int64(scale)
    let whole = scaled / unit, fraction = scaled % unit
    let sign = x < 0 && scaled != 0 ? "-" : ""
    guard places > 0 else { return "\(sign)\(whole)" }
    var digits = String(fraction)
    while digits.count < places { digits = "0" + digits }
    return "\(sign)\(whole).\(digits)"
}
