import Chain
import FoundationEssentials
import Membership

/// Loads the registry's settings from config.toml's `[registry]` and `[autoscale]` sections,
/// with AUTOCHAIN_CLUSTER_TOKEN from the environment. Keys only the node reads (`urls`,
/// `strategy`) live in the same `[registry]` section and are skipped here; `heartbeat_ms` is read
/// by both (the registry tells registering nodes its period and detects failures against it).
enum RegistryConfig {
    static let nodeSideKeys: Set<String> = ["urls", "strategy", "heartbeat_ms"]
    static let registrySideKeys: Set<String> = ["registry.addr", "registry.decide_interval_ms", "registry.max_events",
                                                "registry.probe_timeout_ms", "registry.retired_data_keep_s",
                                                "registry.max_node_slots", "registry.signed_clock_skew_s",
                                                "registry.series_interval_s", "registry.series_points", "registry.series_max_marks",
                                                "registry.in_flight_timeout_s", "registry.retire_removal_wait_s",
                                                "registry.evidence_event_interval_s", "registry.node_call_timeout_ms",
                                                "registry.chain_fetch_timeout_ms", "registry.node_stop_grace_s"]

    static func load(file: String?, environment: [String: String]) throws(CLIError) -> RegistrySettings {
        var s = RegistrySettings()
        if let token = environment["AUTOCHAIN_CLUSTER_TOKEN"], !token.isEmpty { s.clusterToken = token }
        guard let file else { return s }
        do {
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                throw CLIError.usage("cannot read configuration file \(file)")
            }
            let root = try TOML.parse(text, file: ConfigLoader.fileName(file))
            if let token = try root.table("p2p")?.string("cluster_token"), !token.isEmpty, s.clusterToken.isEmpty { s.clusterToken = token }
            if let r = try root.table("registry") {
                try r.rejectUnknownKeys(known: nodeSideKeys.union(["addr", "decide_interval_ms", "max_events", "probe_timeout_ms",
                                                                   "retired_data_keep_s", "max_node_slots", "signed_clock_skew_s",
                                                                   "series_interval_s", "series_points", "series_max_marks",
                                                                   "in_flight_timeout_s", "retire_removal_wait_s", "evidence_event_interval_s",
                                                                   "node_call_timeout_ms", "chain_fetch_timeout_ms", "node_stop_grace_s"]))
                if let v = try r.string("addr") { s.addr = v }
                if let v = try r.int("heartbeat_ms") {
                    // Nodes are told this period when they register; failure detection counts it.
                    s.heartbeatIntervalMs = try range(r, "heartbeat_ms", v, RegistrySettings.heartbeatIntervalMsRange)
                    s.detector.heartbeatIntervalS = Double(s.heartbeatIntervalMs) / 1000
                    s.detector.deadAfterSuspectS = 3 * s.detector.heartbeatIntervalS
                }
                if let v = try r.int("decide_interval_ms") { s.decideIntervalMs = try range(r, "decide_interval_ms", v, 10...60_000) }
                if let v = try r.int("max_events") { s.maxEvents = try range(r, "max_events", v, 10...1_000_000) }
                if let v = try r.int("probe_timeout_ms") { s.probeTimeoutMs = try range(r, "probe_timeout_ms", v, 10...60_000) }
                if let v = try r.int("retired_data_keep_s") { s.retiredDataKeepS = try range(r, "retired_data_keep_s", v, 0...31_536_000) }
                if let v = try r.int("max_node_slots") { s.maxNodes = try range(r, "max_node_slots", v, 1...4_096) }
                if let v = try r.int("series_interval_s") { s.seriesIntervalS = try range(r, "series_interval_s", v, 1...3_600) }
                if let v = try r.int("series_points") { s.seriesPoints = try range(r, "series_points", v, 10...100_000) }
                if let v = try r.int("series_max_marks") { s.seriesMaxMarks = try range(r, "series_max_marks", v, 10...100_000) }
                if let v = try r.int("signed_clock_skew_s") { s.signedClockSkewS = try range(r, "signed_clock_skew_s", v, 1...3_600) }
                try loadTimeouts(r, into: &s)
            }
            if let a = try root.table("autoscale") {
                try a.rejectUnknownKeys(known: ["min_nodes", "max_nodes", "target_voters", "metric", "target_value", "tolerance",
                                                "scale_up_max_percent", "scale_up_period_s", "scale_down_max_percent",
                                                "scale_down_period_s", "down_stabilization_s", "max_restart_failures", "grace_period_s",
                                                "reverse_hold_s", "restart_backoff_s", "dead_voter_removal_delay_s",
                                                "stopped_node_hold_s"])
                var x = s.autoscaler
                if let v = try a.int("min_nodes") { x.minNodes = try range(a, "min_nodes", v, 1...64) }
                if let v = try a.int("max_nodes") { x.maxNodes = try range(a, "max_nodes", v, 1...64) }
                if let v = try a.int("target_voters") { x.targetVoters = try range(a, "target_voters", v, 1...15) }
                if let v = try a.string("metric") {
                    let names: [String: LoadMetric] = ["cpu": .cpu, "request_rate": .requestRate, "mempool": .mempool,
                                                       "submit_latency": .submitLatency]
                    guard let m = names[v] else {
                        throw a.error("metric", "expected cpu, request_rate, mempool or submit_latency, got \"\(v)\"")
                    }
                    x.metric = m
                }
                if let v = try a.double("target_value") { x.targetValue = v }
                if let v = try a.double("tolerance") { x.tolerance = v }
                if let v = try a.int("scale_up_max_percent") { x.scaleUpMaxPercent = Double(v) }
                if let v = try a.double("scale_up_period_s") { x.scaleUpPeriodS = v }
                if let v = try a.int("scale_down_max_percent") { x.scaleDownMaxPercent = Double(v) }
                if let v = try a.double("scale_down_period_s") { x.scaleDownPeriodS = v }
                if let v = try a.double("down_stabilization_s") { x.downStabilizationS = v }
                if let v = try a.int("max_restart_failures") { x.maxRestartFailures = v }
                if let v = try a.double("grace_period_s") { x.gracePeriodS = v }
                if let v = try a.double("reverse_hold_s") { x.reverseHoldS = v }
                if let v = try a.double("restart_backoff_s") { x.restartBackoffS = v }
                if let v = try a.double("dead_voter_removal_delay_s") { x.deadVoterRemovalDelayS = v }
                if let v = try a.double("stopped_node_hold_s") { x.stoppedNodeHoldS = v }
                guard x.minNodes <= x.maxNodes else { throw a.error("min_nodes", "must not exceed max_nodes") }
                s.autoscaler = x
            }
        } catch {
            throw RegistryConfig.cliError(error)
        }
        return s
    }

    /// `[registry]`'s timeouts and event intervals, and the grace its provider gives a stopping node.
    static func loadTimeouts(_ r: TOMLTable, into s: inout RegistrySettings) throws {
        if let v = try r.int("in_flight_timeout_s") { s.inFlightTimeoutS = try range(r, "in_flight_timeout_s", v, 1...3_600) }
        if let v = try r.int("retire_removal_wait_s") { s.retireRemovalWaitS = try range(r, "retire_removal_wait_s", v, 1...3_600) }
        if let v = try r.int("evidence_event_interval_s") {
            s.evidenceEventIntervalS = try range(r, "evidence_event_interval_s", v, 0...86_400)
        }
        if let v = try r.int("node_call_timeout_ms") { s.nodeCallTimeoutMs = try range(r, "node_call_timeout_ms", v, 100...600_000) }
        if let v = try r.int("chain_fetch_timeout_ms") { s.chainFetchTimeoutMs = try range(r, "chain_fetch_timeout_ms", v, 100...600_000) }
        if let v = try r.int("node_stop_grace_s") { s.nodeStopGraceS = try range(r, "node_stop_grace_s", v, NodeStopGrace.rangeS) }
    }

    /// A configuration file's error as the CLI reports it (TOML errors name the file, line and key).
    static func cliError(_ error: any Error) -> CLIError {
        if let e = error as? TOMLError { return .usage(e.description) }
        if let e = error as? CLIError { return e }
        return .usage("\(error)")
    }

    static func range(_ t: TOMLTable, _ key: String, _ v: Int, _ r: ClosedRange<Int>) throws -> Int {
        guard r.contains(v) else { throw t.error(key, "must be between \(r.lowerBound) and \(r.upperBound), got \(v)") }
        return v
    }
}
