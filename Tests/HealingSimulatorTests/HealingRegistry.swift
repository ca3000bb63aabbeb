// The registry in the healing simulator: the real `RegistryCore` (Sources/Membership/Registry/
// Core), fed as RegistryService feeds it — node reports, probe answers, process exits, the
// committed membership, provider facts, operator targets — with its effects performed against a
// simulated provider whose starts take time and sometimes die before the first heartbeat.
import Chain
@testable import Consensus
@testable import Membership
@testable import NodeCore
@testable import SimulationSupport

final class SimRegistry {
    private(set) var core: RegistryCore
    let startDelayTicksMax: UInt64
    let startFailPerMille: UInt64
    var actionCounts: [ScalingActionKind: Int] = [:]
    /// The last few decisions and events, for failure reports (bounded).
    private(set) var recentEvents: [String] = []
    /// Provider starts under way: the process starts at `at`, then the ticket is answered.
    private var starts: [(at: UInt64, node: NodeID, ticket: UInt64, spawn: Bool)] = []

    init(settings: HealingSettings) {
        var s = RegistryCore.Settings()
        s.autoscaler = settings.autoscaler
        s.detector = settings.detector
        core = RegistryCore(settings: s, startedAt: 0)
        core.plantedBug = settings.plantedRegistryBug
        startDelayTicksMax = settings.startDelayTicksMax
        startFailPerMille = settings.startFailPerMille
    }

    /// The key a simulated node signs with: the same in its reports, its join and the membership.
    func key(_ id: NodeID) -> PublicKey { SimChain.key(id).publicKey }

    // MARK: - Events in

    /// POST /heartbeat as RegistryService.heartbeat admits it (a retired ID is refused).
    func heartbeat(from node: RuntimeSimNode, load: NodeLoad, removed: Set<NodeID>, _ sim: HealingSimulation) {
        guard !core.isRetired(node.id) else { return }  // 409 retired
        let st = node.core.status
        var r = NodeReport(id: node.id, apiUrl: "sim://\(node.id)", p2pAddr: "sim-p2p://\(node.id)", nodeKey: key(node.id).hex)
        r.role = st.role
        r.height = node.store.headHeight
        r.commitIndex = st.commit
        r.term = st.term
        r.leader = st.leader
        r.voters = st.membership.voters.sorted()
        r.learners = st.membership.learners.sorted()
        r.retiredIds = removed.sorted()
        r.load = load
        perform(core.heartbeat(r, at: sim.seconds), sim)
    }

    func processExited(_ id: NodeID, _ sim: HealingSimulation) {
        perform(core.processExited(id, status: 1, deliberately: false, at: sim.seconds), sim)
    }

    func scale(to target: Int, _ sim: HealingSimulation) {
        perform(core.scale(to: target), sim)
    }

    /// One round as RegistryService.decideOnce: the membership the registry would have verified
    /// from the chain (the committed one), the provider's facts, then the core's effects.
    func decideOnce(_ sim: HealingSimulation) {
        let committed = sim.committedConfig
        let members = committed.voters + committed.learners
        let keys = Dictionary(uniqueKeysWithValues: members.map { ($0, key($0)) })
        core.membershipVerified(ClusterMembership(voters: committed.voters, learners: committed.learners, keys: keys,
                                                  retired: Array(sim.removedIds)),
                                height: sim.maxStoredHeight)
        let round = core.tick(sim.providerFacts, at: sim.seconds)
        perform(round.effects, sim)
    }

    // MARK: - Effects out

    func perform(_ effects: [RegistryEffect], _ sim: HealingSimulation) {
        for effect in effects { perform(effect, sim) }
    }

    private func perform(_ effect: RegistryEffect, _ sim: HealingSimulation) {
        switch effect {
        case .record(let kind, let node, let message):
            note("step \(sim.tick) \(kind.name) \(node ?? ""): \(message)")
            sim.trace("registry event \(kind.name) \(node ?? ""): \(message)")
        case .actionFailed(let action, let node, let message):
            note("step \(sim.tick) action_failed \(action.rawValue) \(node ?? ""): \(message)")
            sim.trace("registry action_failed \(action.rawValue) \(node ?? ""): \(message)")
        case .decided(let action):
            actionCounts[action.kind, default: 0] += 1
            note("step \(sim.tick) \(action.kind.rawValue) \(action.node ?? ""): \(action.reason)")
            sim.trace("registry \(action.kind.rawValue) \(action.node ?? ""): \(action.reason)")
        case .probe(let node, _):
            // Probes of suspects answer at once (a hung process does not answer).
            core.probed(node, ok: sim.hosts[node]?.isUp == true, at: sim.seconds)
        case .restart(let ticket, let node, _):
            guard let host = sim.hosts[node], host.storage != nil, !host.retired else {
                return finish(ticket, .failed("\(node) has no data"), sim)
            }
            // ProcessProvider.start on a process still running (hung) answers "started" and does nothing.
            guard host.process == .down else { return finish(ticket, .succeeded, sim) }
            schedule(node, ticket: ticket, spawn: false, sim)
        case .spawn(let ticket, let id, _, _):
            if sim.hosts[id] != nil { sim.violate("spawn reuses the ID \(id)") }
            sim.ids.append(id)
            sim.hosts[id] = SimHost(storage: MemoryBlockStore(genesis: SimChain.genesis, signaturesChecked: true), joins: true)
            schedule(id, ticket: ticket, spawn: true, sim)
        case .destroy(let ticket, let node):
            sim.checkStopByRegistry(node, action: "retire")
            if sim.hosts[node]!.process != .down { sim.stop(node, loseData: true, byRegistry: true) }
            sim.hosts[node]!.storage = nil
            sim.hosts[node]!.retired = true
            finish(ticket, .succeeded, sim)
        case .removeMember(let ticket, let node, let leader, _):
            let ok = sim.askMembership(MembershipChange(kind: .remove, nodeId: node), of: leader, origin: "registry removeMember \(node)")
            finish(ticket, ok ? .succeeded : .failed("refused"), sim)
        case .transferLeadership(let ticket, let from, _):
            finish(ticket, sim.transferLeadership(from: from) ? .succeeded : .failed("refused"), sim)
        }
    }

    private func finish(_ ticket: UInt64, _ result: ActionResult, _ sim: HealingSimulation) {
        perform(core.finished(ticket, result, at: sim.seconds), sim)
    }

    private func note(_ line: String) {
        recentEvents.append(line)
        if recentEvents.count > 32 { recentEvents.removeFirst() }
    }

    private func schedule(_ node: NodeID, ticket: UInt64, spawn: Bool, _ sim: HealingSimulation) {
        starts.append((sim.tick + 1 + sim.rng.next() % startDelayTicksMax, node, ticket, spawn))
    }

    /// Provider starts whose time has come: the process runs (and may die before its first
    /// heartbeat), and the start is answered.
    func runProviderTasks(_ sim: HealingSimulation) {
        let due = starts.filter { $0.at <= sim.tick }
        starts.removeAll { $0.at <= sim.tick }
        for s in due {
            if let host = sim.hosts[s.node], host.process == .down, host.storage != nil, !host.retired {
                sim.start(s.node)
                if sim.faultsOn && sim.chance(startFailPerMille) { sim.hosts[s.node]!.diesAt = sim.tick + 1 + sim.rng.next() % 5 }
            }
            finish(s.ticket, s.spawn ? .started(apiUrl: "sim://\(s.node)", p2pAddr: "sim-p2p://\(s.node)") : .succeeded, sim)
        }
    }
}

extension HealingSimulation {
    /// What ProcessProvider would say: every node with a data directory is known (and has
    /// data); running ones are running.
    var providerFacts: ProviderFacts {
        var facts = ProviderFacts()
        for id in ids {
            let h = hosts[id]!
            if h.storage != nil && h.everStarted && !h.retired {
                facts.managed.insert(id)
                facts.withData.insert(id)
            }
            if h.process != .down { facts.running.insert(id) }
        }
        return facts
    }
}
