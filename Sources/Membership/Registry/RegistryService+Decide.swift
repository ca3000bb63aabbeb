import Chain
import Dispatch
import Foundation
import P2P

/// Observe → decide → act. The decision is the autoscaler's (pure); this file only gathers what
/// it needs and carries out what it returns, recording each action as an event with its reason.
extension RegistryService {
    /// An action still being carried out is forgotten after this long (it failed or took effect).
    static let inFlightTimeoutS = 20.0

    func decideOnce(now: Double) {
        let managed = Set(provider.knownNodes())
        let (observed, suspects, actionsToRun, seen) = state.withLock { s -> (ObservedCluster, [(String, String)], [ScalingAction], SeriesInput) in
            // Actions whose effect is already seen are done: a second failure of the same node, or
            // the next voter change, need not wait out the timeout below.
            let current = s
            s.inFlight.removeAll { Self.tookEffect($0.action, since: $0.since, current) }
            // A restart that has not brought its node back in time counts as a failed attempt
            // (counted then, not when issued, so the last allowed attempt is still under way).
            for expired in s.inFlight where now - expired.since > Self.inFlightTimeoutS {
                if case .restart(let node, _) = expired.action { s.restartFailures[node, default: 0] += 1 }
            }
            s.inFlight.removeAll { now - $0.since > Self.inFlightTimeoutS }
            let observed = observe(&s, managed: managed, now: now)
            // Probed at the address the provider started it on when it runs it; otherwise at the one
            // the node reported: only nodes with a record, so only nodes whose key verified.
            let suspects = observed.nodes.filter { $0.health == .suspect }.compactMap { n in
                s.nodes[n.id].map { (n.id, provider.apiURL(n.id) ?? $0.apiUrl) }
            }
            let actions = s.autoscaler.decide(observed, settings: settings.autoscaler, now: now)
            s.decisions += 1
            var fresh = actions.filter { a in a.key == nil || !s.inFlight.contains { $0.action.key == a.key } }
            fresh = Self.spawnsThatCanJoin(fresh, observed: observed, known: s.allKnownIds.union(managed), reserved: s.reservedIds)
            for a in fresh where a.isLongRunning { s.inFlight.append((a, now)) }
            return (observed, suspects, fresh, seriesInput(s, observed))
        }
        series.withLock { _ = $0.sample(at: now - startedAt, seen) }
        metrics.update(observed)
        for (id, url) in suspects { probe(id, url) }
        for action in actionsToRun { carryOut(action, observed: observed) }
    }

    /// What the dashboard's series sample this round: the verified chain's transactions, the
    /// nodes' reported heights and latency, the autoscaler's load figure and target, and roles.
    func seriesInput(_ s: RegistryState, _ observed: ObservedCluster) -> SeriesInput {
        let live = observed.nodes.filter { $0.health != .dead }
        let serving = live.filter { $0.health == .alive && !$0.draining }
        let figures = serving.compactMap { $0.load.value(of: settings.autoscaler.metric) }.filter { $0.isFinite && $0 >= 0 }
        let heights = Dictionary(live.compactMap { n in s.nodes[n.id].map { (n.id, $0.height) } }, uniquingKeysWith: max)
        return SeriesInput(
            committedTxs: s.chain.transactions, heights: heights,
            submitP99Ms: live.compactMap(\.load.submitLatencyMs).filter(\.isFinite).max(),
            load: figures.isEmpty ? nil : figures.reduce(0, +) / Double(figures.count),
            desiredNodes: s.autoscaler.desiredNodes, leaders: observed.leader == nil ? 0 : 1,
            voters: observed.voters.count, learners: observed.learners.count, alive: live.count)
    }

    /// What the autoscaler sees: the members of the verified chain and the nodes the provider
    /// runs or has data for. A node that registered but is neither (not the registry's, not in
    /// the chain) is not the autoscaler's to count, restart or retire.
    func observe(_ s: inout RegistryState, managed: Set<String>, now: Double) -> ObservedCluster {
        let m = s.membership
        let running = s.nodes.keys.filter { provider.isRunning($0) }
        var ids = Set(m.voters).union(m.learners).union(managed).union(running)
        ids.subtract(s.retired)
        let leaderCommit = m.commit
        // Nodes the verified chain lists as removed (retired IDs) that are still around hold no slot.
        let removed = Set(s.chain.membership.retired).subtracting(m.voters).subtracting(m.learners)
        let nodes = ids.sorted().map { id -> NodeObservation in
            let r = s.nodes[id]
            let health = s.detector.health(node: id, now: now)
            return NodeObservation(
                id: id, health: health, role: r?.role ?? "unknown", height: r?.height ?? 0,
                managed: managed.contains(id) || provider.isRunning(id), hasData: provider.hasData(id),
                restartFailures: s.restartFailures[id] ?? 0, lastActionAt: s.lastActionAt[id],
                draining: (r?.draining ?? false) || removed.contains(id),
                load: r?.load ?? NodeLoad(), caughtUp: (r?.height ?? 0) + 3 >= leaderCommit,
                lastHeardAt: s.detector.lastHeardAt(node: id), stoppedDeliberately: provider.stoppedDeliberately(id))
        }
        return ObservedCluster(nodes: nodes, voters: m.voters, learners: m.learners, leader: m.leader,
                               consensusFailureReportedAt: s.consensusFailureAt, operatorTarget: s.operatorTarget,
                               registryStartedAt: startedAt, inFlight: s.inFlight.map(\.action))
    }

    /// The registry already sees what `action` (issued at `since`) was for: a restarted node heard
    /// from again, a removed member out of the leader's configuration, leadership moved on, a
    /// retired node retired. Spawns name no node, so they run out their timeout.
    static func tookEffect(_ action: ScalingAction, since: Double, _ s: RegistryState) -> Bool {
        let m = s.membership
        switch action {
        case .restart(let node, _):
            guard let heard = s.detector.lastHeardAt(node: node) else { return false }
            return heard > since
        case .removeMember(let node, _):
            return m.leader != nil && !m.voters.contains(node) && !m.learners.contains(node)
        case .transferLeadership(let from, _):
            return m.leader != nil && m.leader != from
        case .retire(let node, _):
            return s.retired.contains(node)
        case .spawn, .alert:
            return false
        }
    }

    /// A late heartbeat: ask the node itself, so a slow node is told from a dead one.
    func probe(_ id: String, _ apiUrl: String) {
        probes.async { [self] in
            var ok = false
            if let client = try? HTTPClient(baseURL: apiUrl) {
                let r = try? client.request(method: "GET", path: "/health/live", timeout: .milliseconds(settings.probeTimeoutMs))
                ok = r?.status == 200
                client.close()
            }
            let now = Self.now()
            _ = state.withLock { $0.detector.observeProbe(node: id, ok: ok, at: now) }
        }
    }

    func carryOut(_ action: ScalingAction, observed: ObservedCluster) {
        record(action.kind, action.node, action.reason)
        metrics.actions.inc(1, action.kind)
        let now = Self.now()
        series.withLock { $0.mark(DecisionMark(at: now - startedAt, kind: action.kind, node: action.node, reason: action.reason)) }
        if let node = action.node { state.withLock { $0.lastActionAt[node] = now } }
        actions.async { [self] in
            do {
                try perform(action, observed: observed)
            } catch {
                record("action_failed", action.node, "\(action.kind) \(action.node ?? ""): \(error)")
                if case .restart(let node, _) = action { state.withLock { $0.restartFailures[node, default: 0] += 1 } }
            }
        }
    }

    func perform(_ action: ScalingAction, observed: ObservedCluster) throws {
        let peers = state.withLock { s in s.nodes.values.filter { s.detector.health(node: $0.id, now: Self.now()) != .dead }.map(\.p2pAddr) }
        // Membership changes and retirements wait until the chain is verified: nothing is taken
        // out or destroyed on the word of a node.
        switch action {
        case .removeMember, .retire:
            guard state.withLock({ $0.chain.isVerified }) else { throw RegistryActionError.chainNotVerified }
        default: break
        }
        switch action {
        case .restart(let node, _):
            // A restart is of a node of ours on its own data; never a fresh node under someone else's ID.
            guard provider.hasData(node) || provider.isRunning(node) else { throw RegistryActionError.notOurs(node) }
            _ = try provider.start(node, bootstrap: false, peers: peers)
        case .spawn:
            // IDs are reserved under the lock: spawns carried out at once never share one.
            let (next, bootstrap) = state.withLock { s -> (String?, Bool) in
                let known = s.allKnownIds.union(provider.knownNodes()).union(s.reservedIds)
                let id = Self.nextId(after: known)
                if let id { s.reservedIds.insert(id) }
                return (id, known.isEmpty)
            }
            guard let id = next else { throw RegistryActionError.noNodeIdLeft }
            let started = try provider.start(id, bootstrap: bootstrap, peers: peers)
            record("node_spawned", id, "\(id) started at \(started.apiUrl) (p2p \(started.p2pAddr))" + (bootstrap ? ", starting a new cluster" : ", joining as a learner"))
        case .removeMember(let node, _):
            try callLeader(observed, "/members/remove", ["nodeId": .string(node)])
        case .transferLeadership(let from, _):
            guard let url = state.withLock({ $0.nodes[from]?.apiUrl }) else { return }
            try post(url, "/leadership/transfer", [:])
        case .retire(let node, _):
            state.withLock { $0.nodes[node]?.draining = true }
            // Out of the configuration first (a learner's removal never touches the quorum;
            // the autoscaler removes voters before retiring them), then stopped and deleted.
            let m = state.withLock { $0.membership }
            if m.voters.contains(node) || m.learners.contains(node) {
                try callLeader(observed, "/members/remove", ["nodeId": .string(node)])
                let deadline = Self.now() + 10
                while Self.now() < deadline, state.withLock({ $0.membership.learners.contains(node) || $0.membership.voters.contains(node) }) {
                    usleep(100_000)
                }
            }
            // Never destroy a node the membership still lists (its removal failed or is not seen yet).
            let stillListed = state.withLock { s in s.membership.voters.contains(node) || s.membership.learners.contains(node) }
            if stillListed {
                state.withLock { $0.nodes[node]?.draining = false }
                throw RegistryActionError.stillAMember(node)
            }
            provider.destroy(node)
            state.withLock { s in
                s.retired.insert(node)
                s.nodes[node] = nil
                s.pins.forget(node)
            }
            record("node_retired", node, "\(node) stopped, its data set aside for \(settings.retiredDataKeepS) s; its ID is never reused")
        case .alert:
            break
        }
    }

    func callLeader(_ observed: ObservedCluster, _ path: String, _ body: JSON) throws {
        guard let leader = observed.leader, let url = state.withLock({ $0.nodes[leader]?.apiUrl }) else {
            throw RegistryActionError.noLeader
        }
        try post(url, path, body)
    }

    func post(_ base: String, _ path: String, _ body: JSON) throws {
        let client = try HTTPClient(baseURL: base)
        defer { client.close() }
        var headers = HTTPHeaders([("Content-Type", "application/json")])
        if !settings.clusterToken.isEmpty { headers.add("Authorization", "Bearer \(settings.clusterToken)") }
        let r = try client.request(method: "POST", path: path, headers: headers, body: body.serialized(), timeout: .seconds(10))
        guard (200..<300).contains(r.status) else { throw RegistryActionError.refused(status: r.status, body: r.bodyText) }
    }

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

enum RegistryActionError: Error, CustomStringConvertible {
    case noLeader
    case noNodeIdLeft
    case stillAMember(String)
    case chainNotVerified
    case notOurs(String)
    case refused(status: Int, body: String)
    var description: String {
        switch self {
        case .noLeader: "no leader known"
        case .chainNotVerified: "the registry has not verified the chain yet; it retires and removes nothing until it has"
        case .notOurs(let node): "\(node) has no data of this registry's provider; not started"
        case .stillAMember(let node): "\(node) is still in the configuration; not destroyed"
        case .noNodeIdLeft: "no node ID left: node\(RegistryService.maxNodeNumber) is taken"
        case .refused(let status, let body): "refused with \(status): \(body.prefix(200))"
        }
    }
}

extension ScalingAction {
    var kind: String {
        switch self {
        case .restart: "restart"
        case .spawn: "spawn"
        case .removeMember: "remove_member"
        case .transferLeadership: "transfer_leadership"
        case .retire: "retire"
        case .alert(let kind, _): "alert_" + kind
        }
    }

    /// Actions that take a while to show their effect; they are not repeated meanwhile.
    var isLongRunning: Bool {
        if case .alert = self { return false }
        return true
    }
}
