import Chain
import Dispatch
import FoundationEssentials
import P2P

/// Observe → decide → act. The decisions are the core's (`RegistryCore`, pure); this file only
/// gathers the provider's facts outside the lock, hands them to the core with the time, and
/// performs the effects it returns, feeding each result back. Nothing here waits for a decision:
/// a wait is a state of the core with a deadline, checked on the next round.
extension RegistryService {
    func decideOnce(now: Double) {
        let managed = Set(provider.knownNodes())
        let ids = state.withLock { $0.core.idsToAskAbout(managed: managed) }
        let facts = gatherFacts(ids, managed: managed)
        let (round, seen) = state.withLock { s in
            let round = s.core.tick(facts, at: now)
            return (round, seriesInput(s, round.observed))
        }
        series.withLock { _ = $0.sample(at: now - startedAt, seen) }
        metrics.update(round.observed)
        metrics.updateAutoscaler(round.observed, settings: settings.autoscaler, desired: state.withLock { $0.core.autoscaler.desiredNodes })
        perform(round.effects)
    }

    /// What the dashboard's series sample this round: the verified chain's transactions, the
    /// nodes' reported heights and latency, the autoscaler's load figure and target, and roles.
    func seriesInput(_ s: RegistryState, _ observed: ObservedCluster) -> SeriesInput {
        let live = observed.nodes.filter { $0.health != .dead }
        let serving = live.filter { $0.health == .alive && !$0.draining }
        let figures = serving.compactMap { $0.load.value(of: settings.autoscaler.metric) }.filter { $0.isFinite && $0 >= 0 }
        let heights = Dictionary(live.compactMap { n in s.core.nodes[n.id].map { (n.id, $0.height) } }, uniquingKeysWith: max)
        return SeriesInput(
            committedTxs: s.chain.transactions, heights: heights,
            submitP99Ms: live.compactMap(\.load.submitLatencyMs).filter(\.isFinite).max(),
            load: figures.isEmpty ? nil : figures.reduce(0, +) / Double(figures.count),
            desiredNodes: s.core.autoscaler.desiredNodes, leaders: observed.leader == nil ? 0 : 1,
            voters: observed.voters.count, learners: observed.learners.count, alive: live.count)
    }

    /// What the provider says of `ids`, asked with no lock held.
    func gatherFacts(_ ids: Set<String>, managed: Set<String>) -> ProviderFacts {
        var facts = ProviderFacts(managed: managed)
        for id in ids {
            if provider.isRunning(id) { facts.running.insert(id) }
            if provider.hasData(id) { facts.withData.insert(id) }
            if provider.stoppedDeliberately(id) { facts.stoppedDeliberately.insert(id) }
            if let url = provider.apiURL(id) { facts.apiURLs[id] = url }
        }
        return facts
    }

    /// Performs `effects` in order: events at once, provider calls and node calls on workers,
    /// each result fed back to the core (whose answer is performed in turn).
    func perform(_ effects: [RegistryEffect]) {
        for effect in effects {
            switch effect {
            case .record(let kind, let node, let message):
                record(kind, node, message)
            case .actionFailed(let action, let node, let message):
                record(.actionFailed, node, message)
                metrics.actionsFailed.inc(1, action.rawValue)
            case .decided(let action):
                record(.action(action.kind), action.node, action.reason)
                metrics.actions.inc(1, action.kind.rawValue)
                let at = Self.now() - startedAt
                series.withLock { $0.mark(DecisionMark(at: at, kind: action.kind, node: action.node, reason: action.reason)) }
            case .probe(let node, let url):
                probes.async { [self] in probe(node, url) }
            case .restart(let ticket, let node, let peers):
                let incarnation = state.withLock { $0.core.issueIncarnation(for: node) }
                run(ticket) { [provider] in
                    _ = try provider.start(node, bootstrap: false, peers: peers, incarnation: incarnation)
                    return .succeeded
                }
            case .spawn(let ticket, let node, let bootstrap, let peers):
                let incarnation = state.withLock { $0.core.issueIncarnation(for: node) }
                run(ticket) { [provider] in
                    let started = try provider.start(node, bootstrap: bootstrap, peers: peers, incarnation: incarnation)
                    return .started(apiUrl: started.apiUrl, p2pAddr: started.p2pAddr)
                }
            case .destroy(let ticket, let node):
                run(ticket) { [self] in
                    provider.destroy(node)
                    state.withLock { $0.pins.forget(node) }
                    return .succeeded
                }
            case .removeMember(let ticket, let node, _, let url):
                run(ticket) { [self] in
                    try post(url, "/members/remove", ["nodeId": .string(node)])
                    return .succeeded
                }
            case .transferLeadership(let ticket, _, let url):
                run(ticket) { [self] in
                    try post(url, "/leadership/transfer", [:])
                    return .succeeded
                }
            }
        }
    }

    /// Runs `work` on the action workers and feeds its result back under `ticket`.
    private func run(_ ticket: UInt64, _ work: @escaping @Sendable () throws -> ActionResult) {
        actions.async { [self] in
            let result: ActionResult
            do { result = try work() } catch { result = .failed("\(error)") }
            let now = Self.now()
            perform(state.withLock { $0.core.finished(ticket, result, at: now) })
        }
    }

    /// A late heartbeat: ask the node itself, so a slow node is told from a dead one.
    func probe(_ id: String, _ apiUrl: String) {
        var ok = false
        if let client = try? HTTPClient(baseURL: apiUrl) {
            let r = try? client.request(method: "GET", path: "/health/live", timeout: .milliseconds(settings.probeTimeoutMs))
            ok = r?.status == 200
            client.close()
        }
        let now = Self.now()
        state.withLock { $0.core.probed(id, ok: ok, at: now) }
    }

    func post(_ base: String, _ path: String, _ body: JSON) throws {
        let client = try HTTPClient(baseURL: base)
        defer { client.close() }
        var headers = HTTPHeaders([("Content-Type", "application/json")])
        if !settings.clusterToken.isEmpty { headers.add("Authorization", "Bearer \(settings.clusterToken)") }
        let r = try client.request(method: "POST", path: path, headers: headers, body: body.serialized(),
                                   timeout: .milliseconds(settings.nodeCallTimeoutMs))
        guard (200..<300).contains(r.status) else { throw RegistryActionError.refused(status: r.status, body: r.bodyText) }
    }
}
