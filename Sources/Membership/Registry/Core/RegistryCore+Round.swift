import Chain
import Consensus

/// One round: settle what took effect or timed out, move retirements on, observe, ask
/// `Autoscaler.decide`, and turn its actions into effects.
public struct RegistryRound: Sendable {
    /// What the autoscaler saw this round (for metrics and the dashboard).
    public var observed: ObservedCluster
    public var effects: [RegistryEffect]
}

extension RegistryCore {
    public mutating func tick(_ facts: ProviderFacts, at now: Double) -> RegistryRound {
        // Actions whose effect is already seen are done: a second failure of the same node, or
        // the next voter change, need not wait out the timeout below.
        let current = self
        inFlight.removeAll { current.tookEffect($0.action, since: $0.since) }
        // A restart that has not brought its node back in time counts as a failed attempt
        // (counted then, not when issued, so the last allowed attempt is still under way).
        for expired in inFlight where now - expired.since > settings.inFlightTimeoutS {
            if case .restart(let node, _) = expired.action {
                restartFailures[node, default: 0] += 1
            }
        }
        inFlight.removeAll { now - $0.since > settings.inFlightTimeoutS }
        var effects = advanceRetirements(at: now)
        let observed = observe(facts, now: now)
        effects += retireUnseenDrains(observed)
        // Probed at the address the provider started it on when it runs it; otherwise at the one
        // the node reported: only nodes with a record, so only nodes whose key verified.
        for n in observed.nodes where n.health == .suspect {
            if let r = nodes[n.id] { effects.append(.probe(node: n.id, url: facts.apiURLs[n.id] ?? r.apiUrl)) }
        }
        let actions = autoscaler.decide(observed, settings: settings.autoscaler, now: now)
        decisions += 1
        var fresh = actions.filter { a in a.key == nil || !inFlight.contains { $0.action.key == a.key } }
        fresh = Self.spawnsThatCanJoin(fresh, observed: observed, known: allKnownIds.union(facts.managed), reserved: reservedIds)
        for a in fresh where a.isLongRunning { inFlight.append((a, now)) }
        for a in fresh { effects += carryOut(a, observed: observed, facts: facts, now: now) }
        return RegistryRound(observed: observed, effects: effects)
    }

    /// A node the operator drains that the autoscaler does not see (neither a member nor the
    /// provider's: it only registered) has no configuration to leave: it is retired at once.
    mutating func retireUnseenDrains(_ observed: ObservedCluster) -> [RegistryEffect] {
        let seen = Set(observed.nodes.map(\.id))
        var effects: [RegistryEffect] = []
        for id in drainRequested.sorted() where !seen.contains(id) && retirements[id] == nil && !retired.contains(id) {
            retirements[id] = .destroying
            effects.append(.destroy(ticket: issue(.destroy(id)), node: id))
        }
        return effects
    }

    /// What the autoscaler sees: the members of the verified membership and the nodes the provider
    /// runs or has data for. A node that registered but is neither (not the registry's, not a
    /// member) is not the autoscaler's to count, restart or retire.
    func observe(_ facts: ProviderFacts, now: Double) -> ObservedCluster {
        let m = membership
        let running = nodes.keys.filter { facts.running.contains($0) }
        // A node our provider saw exit stays in view after its data went (the provider no longer
        // lists it) and after it left the configuration, so that it is retired, not kept forever.
        let exited = nodes.keys.filter { detector.exitSeen(node: $0) }
        // Nodes the verified membership lists as removed (retired IDs) that are still around hold no slot.
        let removed = Set(verified.retired).subtracting(m.voters).subtracting(m.learners)
        // A removed node the registry still has a record of stays in view until it is retired,
        // even when neither the provider nor an exit vouches for it (a container and volume
        // deleted from outside, whose last heartbeat raced the exit): the chain says its ID never
        // comes back, so retiring it loses nothing; out of view it stayed "dead" for ever.
        let removedKnown = nodes.keys.filter { removed.contains($0) }
        var ids = Set(m.voters).union(m.learners).union(facts.managed).union(running).union(exited).union(removedKnown)
        ids.subtract(retired)
        let list = ids.sorted().map { id -> NodeObservation in
            let r = nodes[id]
            return NodeObservation(
                id: id, health: detector.health(node: id, now: now), role: r?.role, height: r?.height ?? 0,
                managed: facts.managed.contains(id) || facts.running.contains(id), hasData: facts.withData.contains(id),
                restartFailures: restartFailures[id] ?? 0, lastActionAt: lastActionAt[id], startingSince: startingSince(id),
                draining: isDraining(id) || removed.contains(id),
                load: r?.load ?? NodeLoad(), caughtUp: (r?.height ?? 0) + 3 >= m.commit,
                lastHeardAt: detector.lastHeardAt(node: id), stoppedDeliberately: facts.stoppedDeliberately.contains(id),
                exitSeen: detector.exitSeen(node: id))
        }
        return ObservedCluster(nodes: list, voters: m.voters, learners: m.learners, leader: m.leader,
                               consensusFailureReportedAt: consensusFailureAt, operatorTarget: operatorTarget,
                               registryStartedAt: startedAt, inFlight: inFlight.map(\.action))
    }

    /// When the registry started `node`, if it has neither heard from it nor seen it exit since:
    /// a node on its way up, which cannot have registered yet.
    func startingSince(_ node: String) -> Double? {
        guard let started = lastStartedAt[node] else { return nil }
        if let heard = detector.lastHeardAt(node: node), heard >= started { return nil }
        if let exited = detector.exitedAt(node: node), exited >= started { return nil }
        return started
    }

    /// The core already sees what `action` (issued at `since`) was for: a restarted node heard
    /// from again, a removed member out of the configuration, leadership moved on, a retired
    /// node retired. Spawns name no node, so they run out their timeout.
    func tookEffect(_ action: ScalingAction, since: Double) -> Bool {
        let m = membership
        switch action {
        case .restart(let node, _):
            guard let heard = detector.lastHeardAt(node: node) else { return false }
            return heard > since
        case .removeMember(let node, _):
            return m.leader != nil && !m.voters.contains(node) && !m.learners.contains(node)
        case .transferLeadership(let from, _):
            return m.leader != nil && m.leader != from
        case .retire(let node, _):
            return retired.contains(node)
        case .spawn, .alert:
            return false
        }
    }

    // MARK: - Carrying out

    mutating func carryOut(_ action: ScalingAction, observed: ObservedCluster, facts: ProviderFacts, now: Double) -> [RegistryEffect] {
        if let node = action.node { lastActionAt[node] = now }
        var effects: [RegistryEffect] = [.decided(action)]
        switch action {
        case .removeMember, .retire:
            // Nothing is taken out or destroyed on the word of a node.
            guard isMembershipVerified else { return effects + failed(action, RegistryActionError.chainNotVerified) }
        default: break
        }
        let peers = nodes.values.filter { detector.health(node: $0.id, now: now) != .dead }.map(\.p2pAddr).sorted()
        switch action {
        case .restart(let node, _):
            // A restart is of a node of ours on its own data; never a fresh node under someone else's ID.
            guard facts.withData.contains(node) || facts.running.contains(node) else {
                return effects + failed(action, RegistryActionError.notOurs(node))
            }
            lastStartedAt[node] = now
            effects.append(.restart(ticket: issue(.restart(node)), node: node, peers: peers))
        case .spawn:
            let known = allKnownIds.union(facts.managed).union(reservedIds)
            guard let id = Self.nextId(after: known) else { return effects + failed(action, RegistryActionError.noNodeIdLeft) }
            reservedIds.insert(id)
            lastStartedAt[id] = now
            lastActionAt[id] = now
            let bootstrap = known.isEmpty
            effects.append(.spawn(ticket: issue(.spawn(id, bootstrap: bootstrap)), node: id, bootstrap: bootstrap, peers: peers))
        case .removeMember(let node, _):
            guard let leader = observed.leader, let url = nodes[leader]?.apiUrl else { return effects + failed(action, RegistryActionError.noLeader) }
            effects.append(.removeMember(ticket: issue(.removeMember(node)), node: node, leader: leader, leaderURL: url))
        case .transferLeadership(let from, _):
            guard let url = nodes[from]?.apiUrl else { break }
            effects.append(.transferLeadership(ticket: issue(.transferLeadership(from)), node: from, url: url))
        case .retire(let node, _):
            effects += beginRetirement(node, observed: observed, now: now)
        case .alert:
            break
        }
        return effects
    }

    /// Out of the configuration first (a learner's removal never touches the quorum; the
    /// autoscaler removes voters before retiring them), then stopped and its data set aside. A
    /// node the verified membership does not list (and did not remove) waits for the leader's
    /// report made after the decision and for the chain verified that far (`awaitingMembership`,
    /// half a second or so): a learner added in blocks not yet verified would otherwise be
    /// stopped while still in the configuration (the eleventh session's scale-down from 5 to 3
    /// did that to both new learners, and left them there as dead learners for 8 s).
    mutating func beginRetirement(_ node: String, observed: ObservedCluster, now: Double) -> [RegistryEffect] {
        let m = membership
        guard m.voters.contains(node) || m.learners.contains(node), plantedBug != .retireDestroysMembers else {
            // A node the verified chain removed never comes back: nothing to wait for.
            retirements[node] = plantedBug == .retireDestroysMembers || verified.retired.contains(node)
                ? .awaitingRemoval(deadline: now + settings.retireRemovalWaitS)
                : .awaitingMembership(since: now, height: nil, deadline: now + settings.retireRemovalWaitS)
            return advanceRetirements(at: now)
        }
        return removeForRetirement(node, leader: observed.leader)
    }

    /// Asks `leader` to take `node` out of the configuration, for its retirement.
    mutating func removeForRetirement(_ node: String, leader: String?) -> [RegistryEffect] {
        guard let leader, let url = nodes[leader]?.apiUrl else {
            retirements[node] = nil
            return failed(.retire(node: node, reason: ""), RegistryActionError.noLeader)
        }
        retirements[node] = .removing
        return [.removeMember(ticket: issue(.retireRemoval(node)), node: node, leader: leader, leaderURL: url)]
    }

    /// Retirements whose node left the configuration are destroyed; those that waited too long
    /// are given up (never destroy a node the membership still lists).
    mutating func advanceRetirements(at now: Double) -> [RegistryEffect] {
        var effects: [RegistryEffect] = []
        let m = membership
        for (node, stage) in retirements.sorted(by: { $0.key < $1.key }) {
            if case .awaitingMembership(let since, let known, let deadline) = stage {
                effects += advanceUnlisted(node, since: since, known: known, deadline: deadline, membership: m, at: now)
                continue
            }
            guard case .awaitingRemoval(let deadline) = stage else { continue }
            let listed = m.voters.contains(node) || m.learners.contains(node)
            if !listed || plantedBug == .retireDestroysMembers {
                retirements[node] = .destroying
                effects.append(.destroy(ticket: issue(.destroy(node)), node: node))
            } else if now >= deadline {
                retirements[node] = nil
                effects += failed(.retire(node: node, reason: ""), RegistryActionError.stillAMember(node))
            }
        }
        return effects
    }

    /// One round of an `awaitingMembership` retirement (see there).
    private mutating func advanceUnlisted(_ node: String, since: Double, known: UInt64?, deadline: Double,
                                          membership m: (voters: [String], learners: [String], leader: String?, commit: UInt64),
                                          at now: Double) -> [RegistryEffect] {
        let height = known ?? leaderCommit(m.leader, after: since)
        if m.voters.contains(node) {
            // A voter leaves only by the autoscaler's voter path (quorum kept, leadership handed
            // on first): this retirement ends, and is decided again soon.
            retirements[node] = nil
            return refused(.retire(node: node, reason: ""), "\(node) turned out to be a voter", at: now)
        }
        if m.learners.contains(node) { return removeForRetirement(node, leader: m.leader) }
        if let height, verifiedHeight >= height {
            retirements[node] = .destroying
            return [.destroy(ticket: issue(.destroy(node)), node: node)]
        }
        if now >= deadline {
            retirements[node] = nil
            return failed(.retire(node: node, reason: ""), RegistryActionError.membershipBehind(verified: verifiedHeight, reported: height))
        }
        if known == nil, let height { retirements[node] = .awaitingMembership(since: since, height: height, deadline: deadline) }
        return []
    }

    /// A ticket for an effect whose result is awaited.
    mutating func issue(_ what: Pending) -> UInt64 {
        let ticket = nextTicket
        nextTicket += 1
        pending[ticket] = what
        return ticket
    }

    /// The event of a failed action; a failed restart counts against its node.
    mutating func failed(_ action: ScalingAction, _ why: any Error) -> [RegistryEffect] {
        if case .restart(let node, _) = action { restartFailures[node, default: 0] += 1 }
        return [.actionFailed(action: action.kind, node: action.node, message: "\(action.kind.rawValue) \(action.node ?? ""): \(why)")]
    }

    // MARK: - Results

    /// The result of the effect with `ticket`; unknown tickets are ignored.
    public mutating func finished(_ ticket: UInt64, _ result: ActionResult, at now: Double) -> [RegistryEffect] {
        guard let what = pending.removeValue(forKey: ticket) else { return [] }
        let failure: String? = if case .failed(let why) = result { why } else { nil }
        switch what {
        case .restart(let node):
            if let failure { return failed(.restart(node: node, reason: ""), ActionFailure(failure)) }
        case .spawn(let id, let bootstrap):
            if let failure { return [.actionFailed(action: .spawn, node: id, message: "spawn \(id): \(failure)")] }
            guard case .started(let apiUrl, let p2pAddr) = result else { return [] }
            return [.record(kind: .nodeSpawned, node: id, message: "\(id) started at \(apiUrl) (p2p \(p2pAddr))"
                + (bootstrap ? ", starting a new cluster" : ", joining as a learner"))]
        case .removeMember(let node):
            if let failure { return refused(.removeMember(node: node, reason: ""), failure, at: now) }
        case .transferLeadership(let node):
            if let failure { return refused(.transferLeadership(from: node, reason: ""), failure, at: now) }
        case .retireRemoval(let node):
            if let failure {
                retirements[node] = nil
                return refused(.retire(node: node, reason: ""), failure, at: now)
            }
            retirements[node] = .awaitingRemoval(deadline: now + settings.retireRemovalWaitS)
            return advanceRetirements(at: now)
        case .destroy(let node):
            return retire(node)
        }
        return []
    }

    /// The event of an action the leader refused; it stays in flight only `refusedActionRetryS`
    /// more, so the next rounds may decide it again. (It used to wait out `inFlightTimeoutS`:
    /// `autochain scale 3` from five members took 20.5-21 s when the second learner's removal was
    /// refused while the first was still pending.) Done by moving the entry's start back: it expires as any
    /// other entry does, and a retry is at most one entry, never a loop of its own.
    mutating func refused(_ action: ScalingAction, _ why: String, at now: Double) -> [RegistryEffect] {
        if let key = action.key {
            let since = now + settings.refusedActionRetryS - settings.inFlightTimeoutS
            for i in inFlight.indices where inFlight[i].action.key == key { inFlight[i].since = min(inFlight[i].since, since) }
        }
        return failed(action, ActionFailure(why))
    }

    /// `node` is stopped and its data set aside: its ID is retired for good and everything the
    /// core kept about it goes (the failure detector's record too, so the table never fills up).
    mutating func retire(_ node: String) -> [RegistryEffect] {
        retirements[node] = nil
        drainRequested.remove(node)
        retired.insert(node)
        if let key = nodes[node]?.nodeKey, !key.isEmpty { retiredKeys.insert(key) }
        nodes[node] = nil
        incarnations[node] = nil
        issuedIncarnations[node] = nil
        detector.forget(node: node)
        restartFailures[node] = nil
        lastActionAt[node] = nil
        lastStartedAt[node] = nil
        return [.record(kind: .nodeRetired, node: node,
                        message: "\(node) stopped, its data set aside for \(settings.retiredDataKeepS) s; its ID is never reused")]
    }

    // MARK: - Rules

    /// A new node joins through the leader; with no leader known only the very first node of an
    /// empty cluster may start (it bootstraps), one at a time. Other spawns wait for a leader.
    static func spawnsThatCanJoin(_ actions: [ScalingAction], observed: ObservedCluster, known: Set<String>,
                                  reserved: Set<String>) -> [ScalingAction] {
        guard observed.leader == nil else { return actions }
        let empty = known.isEmpty && reserved.isEmpty && observed.voters.isEmpty
        var allowed = empty ? 1 : 0
        return actions.filter { a in
            guard case .spawn = a else { return true }
            allowed -= 1
            return allowed >= 0
        }
    }

    /// The largest N the registry gives a `node<N>` ID. IDs it did not make (registered from
    /// outside) with larger numbers are ignored when choosing: it never makes one, so none collides.
    static let maxNodeNumber: UInt64 = 999_999_999

    /// `node<N>` with N above every number ever used (IDs are never reused), or nil when the
    /// numbers are used up. Numbers are read as plain decimal digits only (`node-1`, `node+1` and
    /// numbers beyond `maxNodeNumber` name nothing the registry made): an ID from outside never
    /// reaches an overflow.
    static func nextId(after known: Set<String>) -> String? {
        let numbers = known.compactMap { id -> UInt64? in
            guard id.hasPrefix("node") else { return nil }
            let digits = id.utf8.dropFirst(4)
            guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
            return UInt64(String(decoding: digits, as: UTF8.self))
        }
        let highest = numbers.max() ?? 0
        guard highest < maxNodeNumber else { return nil }
        return "node\(highest + 1)"
    }
}

/// A failure the shell reported, as text.
struct ActionFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum RegistryActionError: Error, CustomStringConvertible {
    case noLeader
    case noNodeIdLeft
    case stillAMember(String)
    case chainNotVerified
    case notOurs(String)
    case refused(status: Int, body: String)
    case membershipBehind(verified: UInt64, reported: UInt64?)
    var description: String {
        switch self {
        case .noLeader: "no leader known"
        case .chainNotVerified: "the registry has not verified the chain yet; it retires and removes nothing until it has"
        case .notOurs(let node): "\(node) has no data of this registry's provider; not started"
        case .stillAMember(let node): "\(node) is still in the configuration; not destroyed"
        case .noNodeIdLeft: "no node ID left: node\(RegistryCore.maxNodeNumber) is taken"
        case .refused(let status, let body): "refused with \(status): \(body.prefix(200))"
        case .membershipBehind(let verified, let reported):
            "the membership is verified to block \(verified) only, "
                + (reported.map { "the leader reported \($0) committed" } ?? "the leader has not reported since the retirement began")
                + "; it may list the node, which is not destroyed"
        }
    }
}

extension ScalingAction {
    var kind: ScalingActionKind {
        switch self {
        case .restart: .restart
        case .spawn: .spawn
        case .removeMember: .removeMember
        case .transferLeadership: .transferLeadership
        case .retire: .retire
        case .alert(let kind, _): ScalingActionKind(kind)
        }
    }

    /// Actions that take a while to show their effect; they are not repeated meanwhile.
    var isLongRunning: Bool {
        if case .alert = self { return false }
        return true
    }
}
