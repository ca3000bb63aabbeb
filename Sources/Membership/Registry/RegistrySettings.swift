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
    /// Events kept (oldest dropped first).
    public var maxEvents = 1_000
    /// Nodes known at once, at most (registrations beyond are refused).
    public var maxNodes = 256
    /// Timeout of the active /health/ready probe of a node whose heartbeat is late.
    public var probeTimeoutMs = 500
    public var autoscaler = AutoscalerSettings()
    public var detector = FailureDetectorSettings()

    public init() {}
}
