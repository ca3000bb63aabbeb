/// The registry's settings; defaults written once here and documented in config.toml.
public struct RegistrySettings: Sendable {
    /// Where the REST API and dashboard listen.
    public var addr = "127.0.0.1:9090"
    /// Required as `Authorization: Bearer <token>` on mutating calls when non-empty.
    public var clusterToken = ""
    /// How often the registry looks at the cluster and decides.
    public var decideIntervalMs = 250
    /// Nodes are told to heartbeat this often.
    public var heartbeatIntervalMs = 500
    /// `[registry] heartbeat_ms` may be 50 ms (a loopback test cluster) to a minute (beyond it a
    /// dead node is noticed too late to matter); a node adopts a registry's period only within it.
    public static let heartbeatIntervalMsRange = 50...60_000
    /// Events kept (oldest dropped first).
    public var maxEvents = 1_000
    /// Node slots (records and failure-detector entries), at most; taken only by nodes that
    /// proved their key. Registrations beyond are refused with 503 `registry_full`.
    public var maxNodes = 256
    /// Seconds a destroyed node's data is kept aside before it is deleted (`[registry] retired_data_keep_s`).
    public var retiredDataKeepS = 86_400
    /// Seconds the provider lets a node stop before it kills it (`[registry] node_stop_grace_s`,
    /// default and reason in `NodeStopGrace`): more than a stopping leader's hand-over takes.
    public var nodeStopGraceS = NodeStopGrace.defaultS
    /// A signed registration or heartbeat whose timestamp is further than this from the
    /// registry's clock is refused (`[registry] signed_clock_skew_s`).
    public var signedClockSkewS = 30
    /// Timeout of the active GET /health/live probe of a node whose heartbeat is late.
    public var probeTimeoutMs = 500
    /// The dashboard's time series (`GET /series`) take one sample this often...
    public var seriesIntervalS = 5
    /// ...into a ring of this many samples (720 x 5 s: the last hour), oldest dropped first.
    public var seriesPoints = 720
    /// Decisions (spawn, restart, remove, retire, ...) kept as marks on the series' time axis.
    public var seriesMaxMarks = 500
    /// An action under way (restart, spawn, removal, transfer, retirement) not seen to take effect
    /// after this long is forgotten, so the autoscaler may decide it again (`[registry] in_flight_timeout_s`).
    public var inFlightTimeoutS = 20
    /// A retirement waits this long for the node to leave the configuration before it gives up
    /// and destroys nothing (`[registry] retire_removal_wait_s`).
    public var retireRemovalWaitS = 10
    /// A node's new consensus evidence is told as an event at most this often per node
    /// (`[registry] evidence_event_interval_s`).
    public var evidenceEventIntervalS = 30
    /// Timeout of the registry's calls to a node's API (remove a member, transfer leadership)
    /// (`[registry] node_call_timeout_ms`).
    public var nodeCallTimeoutMs = 10_000
    /// Timeout of one `GET /chain/headers` the registry verifies the chain with
    /// (`[registry] chain_fetch_timeout_ms`).
    public var chainFetchTimeoutMs = 5_000
    /// `node_call_refused` and `superseded_copy_refused` events are recorded at most this often
    /// (every refusal is counted in the metrics all the same): a flood of bad calls or reports
    /// cannot flood the event list.
    public var refusedCallEventIntervalS = 1.0
    /// `chain_unverified` events are recorded at most this often (the registry retries each round).
    public var unverifiedChainEventIntervalS = 5.0
    /// How long `stop()` waits for the decide loop, then for the chain reader, to finish their
    /// round (each ends within one round's timeouts).
    public var stopWaitDecideS = 5
    public var stopWaitChainS = 6
    public var autoscaler = AutoscalerSettings()
    public var detector = FailureDetectorSettings()

    public init() {}

    /// What the core needs of these settings.
    public var coreSettings: RegistryCore.Settings {
        var c = RegistryCore.Settings()
        c.autoscaler = autoscaler
        c.detector = detector
        c.retiredDataKeepS = retiredDataKeepS
        c.inFlightTimeoutS = Double(inFlightTimeoutS)
        c.retireRemovalWaitS = Double(retireRemovalWaitS)
        c.evidenceEventIntervalS = Double(evidenceEventIntervalS)
        return c
    }
}
