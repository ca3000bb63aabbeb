// The simulated registry: the shell of RegistryService (+Decide, +Routes) over simulated time,
// with the real pure parts — FailureDetector, Autoscaler.decide, spawnsThatCanJoin, nextId — and a
// simulated provider whose starts take time and sometimes die before the first heartbeat.
@testable import Consensus
@testable import Membership

/// A node's last heartbeat, as the registry keeps it.
struct HeartbeatReport {
    var role: String
    var height: UInt64
    var commit: UInt64
    var term: UInt64
    var leader: NodeID?
    var voters: [NodeID]
    var learners: [NodeID]
    var retiredIds: [NodeID]
    var load: NodeLoad
}

struct RegistryShell {
    let autoscalerSettings: AutoscalerSettings
    let startDelayTicksMax: UInt64
    let startFailPerMille: UInt64
    let removedNodesCountAsCapacity: Bool
    let restartCountsAsFailedWhenIssued: Bool
    let restartsVoterBeingRemoved: Bool
    var detector: FailureDetector
    var autoscaler = Autoscaler()
    var reports: [NodeID: HeartbeatReport] = [:]
    var draining: Set<NodeID> = []
    var retired: Set<NodeID> = []
    var reserved: Set<NodeID> = []
    var inFlight: [(action: ScalingAction, since: Double)] = []
    var restartFailures: [NodeID: Int] = [:]
    var lastActionAt: [NodeID: Double] = [:]
    var operatorTarget: Int?
    var actionCounts: [String: Int] = [:]
    /// The last few actions with their reasons, for failure reports (bounded).
    var recentEvents: [String] = []
    /// Provider work under way: a process start, or a retirement waiting for the removal.
    var tasks: [(at: UInt64, task: ProviderTask)] = []

    enum ProviderTask {
        case start(NodeID)
        /// Retire: once `node` left the configuration (or at `deadline`), stop it and delete its data.
        case destroyWhenRemoved(NodeID, deadline: UInt64)
    }

    init(settings: HealingSettings) {
        autoscalerSettings = settings.autoscaler
        startDelayTicksMax = settings.startDelayTicksMax
        startFailPerMille = settings.startFailPerMille
        removedNodesCountAsCapacity = settings.removedNodesCountAsCapacity
        restartCountsAsFailedWhenIssued = settings.restartCountsAsFailedWhenIssued
        restartsVoterBeingRemoved = settings.restartsVoterBeingRemoved
        detector = FailureDetector(settings: settings.detector)
    }

    // MARK: - What nodes and the provider report

    /// POST /heartbeat: the report, the detector, and the in-flight actions it settles.
    mutating func heartbeat(from node: SimNode, load: NodeLoad, at now: Double, removed: Set<NodeID>) {
        guard !retired.contains(node.id) else { return }  // 409 retired
        let st = node.core.status
        let known = reports[node.id] != nil
        reports[node.id] = HeartbeatReport(
            role: st.role.rawValue, height: node.storage.applied, commit: st.commit, term: st.term, leader: st.leader,
            voters: st.membership.voters.sorted(), learners: st.membership.learners.sorted(), retiredIds: removed.sorted(),
            load: load)
        detector.observeHeartbeat(node: node.id, at: now)
        restartFailures[node.id] = 0
        inFlight.removeAll { $0.action.node == node.id && $0.action.kind == "restart" }
        if !known, let i = inFlight.firstIndex(where: { $0.action.kind == "spawn" }) { inFlight.remove(at: i) }
    }

    mutating func processExited(_ id: NodeID, at now: Double) {
        detector.observeProcessExit(node: id, at: now)
    }

    /// The membership as the most recent leader heartbeat reports it (RegistryState.membership).
    var membership: (voters: [NodeID], learners: [NodeID], leader: NodeID?, commit: UInt64) {
        let best = reports.sorted { $0.key < $1.key }.max { a, b in
            (a.value.role == "leader" ? 1 : 0, a.value.term, a.value.commit) < (b.value.role == "leader" ? 1 : 0, b.value.term, b.value.commit)
        }
        guard let (id, r) = best else { return ([], [], nil, 0) }
        return (r.voters, r.learners, r.role == "leader" ? id : r.leader, r.commit)
    }

    var allKnownIds: Set<NodeID> {
        var ids = Set(reports.keys).union(retired)
        for r in reports.values { ids.formUnion(r.voters); ids.formUnion(r.learners); ids.formUnion(r.retiredIds) }
        return ids
    }

    // MARK: - Observe, decide, act (RegistryService.decideOnce)

    mutating func decideOnce(_ sim: HealingSimulation) {
        let now = sim.seconds
        inFlight.removeAll { now - $0.since > RegistryCore.Settings().inFlightTimeoutS }
        let managed = sim.providerKnownNodes
        let observed = observe(sim, managed: managed, now: now)
        let actions = autoscaler.decide(observed, settings: autoscalerSettings, now: now)
        var fresh = actions.filter { a in a.key == nil || !inFlight.contains { $0.action.key == a.key } }
        if !restartsVoterBeingRemoved {  // the proposed fix of bug 4, as a filter on the decision
            fresh.removeAll { a in
                guard case .restart(let n, _) = a else { return false }
                return inFlight.contains { $0.action.key == "remove:\(n)" }
            }
        }
        fresh = RegistryCore.spawnsThatCanJoin(fresh, observed: observed, known: allKnownIds.union(managed), reserved: reserved)
        for a in fresh where a.isLongRunning { inFlight.append((a, now)) }
        for a in fresh { carryOut(a, observed: observed, sim) }
        // Probes of suspects answer before the next round (a hung process does not answer).
        for n in observed.nodes where n.health == .suspect {
            detector.observeProbe(node: n.id, ok: sim.hosts[n.id]?.isUp == true, at: now)
        }
    }

    func observe(_ sim: HealingSimulation, managed: Set<NodeID>, now: Double) -> ObservedCluster {
        let m = membership
        var ids = Set(reports.keys).union(m.voters).union(m.learners).union(managed)
        ids.subtract(retired)
        let members = Set(m.voters).union(m.learners)
        // The proposed fix of bug 2: an ID the chain removed is never a member again; if it runs, retire it.
        let removed = removedNodesCountAsCapacity ? [] : Set(m.leader.flatMap { reports[$0]?.retiredIds } ?? []).subtracting(members)
        // The proposed fix of bug 3: a restart under way has not failed (yet).
        let restarting = restartCountsAsFailedWhenIssued ? [] : Set(inFlight.compactMap { f -> NodeID? in
            if case .restart(let n, _) = f.action { n } else { nil }
        })
        let nodes = ids.sorted().map { id -> NodeObservation in
            let r = reports[id]
            let host = sim.hosts[id]
            let failures = max(0, (restartFailures[id] ?? 0) - (restarting.contains(id) ? 1 : 0))
            return NodeObservation(
                id: id, health: detector.health(node: id, now: now), role: r?.role ?? "unknown", height: r?.height ?? 0,
                managed: managed.contains(id) || (host.map { $0.process != .down } ?? false),
                hasData: host.map { $0.storage != nil && $0.everStarted } ?? false, restartFailures: failures, lastActionAt: lastActionAt[id],
                draining: draining.contains(id) || removed.contains(id), load: r?.load ?? NodeLoad(), caughtUp: (r?.height ?? 0) + 3 >= m.commit,
                lastHeardAt: detector.lastHeardAt(node: id))
        }
        return ObservedCluster(nodes: nodes, voters: m.voters, learners: m.learners, leader: m.leader,
                               operatorTarget: operatorTarget, registryStartedAt: 0, inFlight: inFlight.map(\.action))
    }

    mutating func carryOut(_ action: ScalingAction, observed: ObservedCluster, _ sim: HealingSimulation) {
        actionCounts[action.kind, default: 0] += 1
        recentEvents.append("step \(sim.now) \(action.kind) \(action.node ?? ""): \(action.reason)")
        if recentEvents.count > 32 { recentEvents.removeFirst() }
        if let node = action.node { lastActionAt[node] = sim.seconds }
        let ok = perform(action, observed: observed, sim)
        sim.trace("registry \(action.kind) \(action.node ?? "")\(ok ? "" : " FAILED"): \(action.reason)")
        if !ok, case .restart(let node, _) = action { restartFailures[node, default: 0] += 1 }
    }

    /// RegistryService.perform against the simulated provider and nodes; false when it failed.
    mutating func perform(_ action: ScalingAction, observed: ObservedCluster, _ sim: HealingSimulation) -> Bool {
        switch action {
        case .restart(let node, _):
            guard sim.hosts[node]?.storage != nil, sim.hosts[node]?.retired == false else { return false }
            // ProcessProvider.start on a process still running (hung) answers "started" and does nothing.
            if sim.hosts[node]!.process == .down { schedule(.start(node), sim) }
            restartFailures[node, default: 0] += 1
        case .spawn:
            let known = allKnownIds.union(sim.providerKnownNodes).union(reserved)
            guard let id = RegistryCore.nextId(after: known) else { return false }
            reserved.insert(id)
            if sim.hosts[id] != nil { sim.violate("spawn reuses the ID \(id)") }
            sim.ids.append(id)
            sim.hosts[id] = SimHost(storage: MemoryStorage(membership: sim.genesis), joining: true)
            schedule(.start(id), sim)
        case .removeMember(let node, _):
            return callLeader(observed, .remove(node), sim, origin: "registry removeMember \(node)")
        case .transferLeadership(let from, _):
            guard sim.hosts[from]?.isUp == true, let n = sim.live[from], n.core.state == .leader else { return false }
            let st = n.core.status
            let others = st.membership.voters.filter { $0 != from }.sorted()
            guard let to = others.max(by: { (st.peers[$0]?.match ?? 0) < (st.peers[$1]?.match ?? 0) }) else { return false }
            n.core.transferLeadership(to: to)
        case .retire(let node, _):
            draining.insert(node)
            let m = membership
            if m.voters.contains(node) || m.learners.contains(node) {
                guard callLeader(observed, .remove(node), sim, origin: "registry retire \(node)") else { return false }
            }
            // The shell waits up to 10 s for the removal to show in the leader's heartbeat.
            tasks.append((sim.now, .destroyWhenRemoved(node, deadline: sim.now + UInt64(10 / HealingSettings.secondsPerTick))))
        case .alert:
            break
        }
        return true
    }

    /// POST to the leader the registry believes in; the node proposes the change if it leads.
    func callLeader(_ observed: ObservedCluster, _ change: ConfChange, _ sim: HealingSimulation, origin: String) -> Bool {
        guard let leader = observed.leader, sim.hosts[leader]?.isUp == true, let node = sim.live[leader],
              node.core.state == .leader else { return false }
        return sim.proposeConfChange(change, on: node, origin: origin)
    }

    mutating func schedule(_ task: ProviderTask, _ sim: HealingSimulation) {
        tasks.append((sim.now + 1 + sim.rng.next() % startDelayTicksMax, task))
    }

    /// Provider work whose time has come.
    mutating func runProviderTasks(_ sim: HealingSimulation) {
        var kept: [(at: UInt64, task: ProviderTask)] = []
        for (at, task) in tasks {
            guard at <= sim.now else { kept.append((at, task)); continue }
            switch task {
            case .start(let id):
                guard let host = sim.hosts[id], host.process == .down, host.storage != nil, !host.retired else { continue }
                sim.start(id)
                if sim.faultsOn && sim.chance(startFailPerMille) { sim.hosts[id]!.diesAt = sim.now + 1 + sim.rng.next() % 5 }
            case .destroyWhenRemoved(let id, let deadline):
                let m = membership
                if (m.voters.contains(id) || m.learners.contains(id)) && sim.now < deadline {
                    kept.append((at, task))
                    continue
                }
                sim.checkStopByRegistry(id, action: "retire")
                if sim.hosts[id]!.process != .down { sim.stop(id, loseData: true, byRegistry: true) }
                sim.hosts[id]!.storage = nil
                sim.hosts[id]!.retired = true
                retired.insert(id)
                reports[id] = nil
            }
        }
        tasks = kept
    }
}

extension HealingSimulation {
    /// ProcessProvider.knownNodes: every node with a data directory.
    var providerKnownNodes: Set<NodeID> {
        Set(ids.filter { hosts[$0]!.storage != nil && hosts[$0]!.everStarted && !hosts[$0]!.retired })
    }
}
