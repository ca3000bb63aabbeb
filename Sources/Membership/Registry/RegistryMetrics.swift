import Chain

/// The registry's Prometheus metrics: what it sees and every action it takes, by kind.
struct RegistryMetrics: Sendable {
    let registry = MetricsRegistry()
    let events: Counter
    let actions: Counter
    let actionsFailed: Counter
    let requests: Counter
    let decideSeconds: Histogram
    let nodes: Gauge
    let voters: Gauge
    let learners: Gauge
    let deadVoters: Gauge
    let callsRefused: Counter
    let verifiedHeight: Gauge
    let chainRefused: Counter
    let unauthorized: Counter
    let load: Gauge
    let loadTarget: Gauge
    let desiredNodes: Gauge
    let minNodes: Gauge
    let maxNodes: Gauge

    init() {
        events = registry.counter("autochain_registry_events_total", "Events recorded, by kind.", labels: ["kind"])
        actions = registry.counter("autochain_registry_actions_total", "Scaling actions taken, by kind.", labels: ["kind"])
        actionsFailed = registry.counter("autochain_registry_actions_failed_total",
                                         "Scaling actions that failed (each also an action_failed event), by kind.", labels: ["kind"])
        // Every kind is there from the start at 0, so the first one counts in increase() and rate().
        for kind in ScalingActionKind.allCases { actions.inc(0, kind.rawValue) }
        for kind in ScalingActionKind.carriedOut { actionsFailed.inc(0, kind.rawValue) }
        requests = registry.counter("autochain_registry_http_requests_total", "HTTP requests served, by route and status.",
                                    labels: ["route", "status"])
        decideSeconds = registry.histogram("autochain_registry_decide_seconds", "Time of one observe-decide round.",
                                           buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1])
        nodes = registry.gauge("autochain_registry_nodes", "Nodes known, by health.", labels: ["state"])
        voters = registry.gauge("autochain_registry_voters", "Voters in the configuration verified from the chain.")
        learners = registry.gauge("autochain_registry_learners", "Learners in the configuration verified from the chain.")
        deadVoters = registry.gauge("autochain_registry_dead_voters", "Voters the registry considers dead.")
        verifiedHeight = registry.gauge("autochain_registry_verified_height",
                                        "Height up to which the registry verified the chain (membership is read from there).")
        chainRefused = registry.counter("autochain_registry_chain_batches_refused_total",
                                        "Header batches from nodes that did not verify (or could not be read).")
        callsRefused = registry.counter("autochain_registry_node_calls_refused_total",
                                        "Node registrations, heartbeats and reports refused for their signature or key, by code.",
                                        labels: ["code"])
        unauthorized = registry.counter("autochain_registry_unauthorized_total",
                                        "Calls refused for a missing or wrong cluster credential, by route.", labels: ["route"])
        load = registry.gauge("autochain_registry_load",
                              "The autoscaler's load figure this round: its metric averaged over the alive, serving nodes "
                              + "(NaN when none reports it).", labels: ["metric"])
        loadTarget = registry.gauge("autochain_registry_load_target", "The per-node value of the metric the autoscaler aims at.",
                                    labels: ["metric"])
        desiredNodes = registry.gauge("autochain_registry_desired_nodes",
                                      "The node count the autoscaler decided this round (NaN before its first decision).")
        minNodes = registry.gauge("autochain_registry_min_nodes", "Fewest nodes the autoscaler keeps ([autoscale] min_nodes).")
        maxNodes = registry.gauge("autochain_registry_max_nodes", "Most nodes the autoscaler grows to ([autoscale] max_nodes).")
    }


    func update(_ o: ObservedCluster) {
        for state in [NodeHealth.alive, .suspect, .dead] {
            nodes.set(Double(o.nodes.filter { $0.health == state }.count), state.rawValue)
        }
        voters.set(Double(o.voters.count))
        learners.set(Double(o.learners.count))
        deadVoters.set(Double(o.nodes.filter { o.voters.contains($0.id) && $0.health == .dead }.count))
    }

    /// The autoscaler's view this round: the load against its target, and the node count it decided.
    func updateAutoscaler(_ o: ObservedCluster, settings a: AutoscalerSettings, desired: Int?) {
        let metric = a.metric.rawValue
        let figures = o.nodes.filter { $0.health == .alive && !$0.draining }
            .compactMap { $0.load.value(of: a.metric) }.filter { $0.isFinite && $0 >= 0 }
        load.set(figures.isEmpty ? .nan : figures.reduce(0, +) / Double(figures.count), metric)
        loadTarget.set(a.targetValue, metric)
        desiredNodes.set(desired.map(Double.init) ?? .nan)
        minNodes.set(Double(a.minNodes))
        maxNodes.set(Double(a.maxNodes))
    }
}
