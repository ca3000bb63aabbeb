/// Every bound of the gateway, with its default; config.toml's `[gateway]` section documents
/// each (the config loader range-checks them).
public struct GatewaySettings: Sendable {
    /// Where the gateway listens (`autochain up`: 127.0.0.1:8080, moved to a free port when taken).
    public var addr = "127.0.0.1:8080"
    /// The registry whose `GET /discover` lists the nodes (set by the command).
    public var registryURL = "http://127.0.0.1:9090"
    /// How often the node list is fetched from the registry. Default 500 ms.
    public var discoverIntervalMs = 500
    /// One `GET /discover` gives up after this long (the last list stays). Default 2 s.
    public var discoverTimeoutMs = 2_000
    /// Nodes taken from one `/discover` answer, at most (the rest are ignored). Default 256.
    public var maxNodes = 256
    /// Client connections open at once; more get 503 at accept. Default 4096.
    public var maxConnections = 4_096
    /// Client connections from one IP address; more get 503 at accept. Default 1024.
    public var maxConnectionsPerAddress = 1_024
    /// Largest request body forwarded (the nodes' largest, /submit-txs, is 16 MiB); more: 413.
    public var maxBodyBytes = 16 << 20
    /// Largest node answer passed back; a larger one is answered 502 `node_failed`. Default 64 MiB.
    public var maxResponseBytes = 64 << 20
    /// Requests being forwarded at once; beyond it a request gets 503 `overloaded`. Default 512.
    public var maxInFlight = 512
    /// One attempt on one node: connect, send, answer. Longer than the nodes' commit wait (30 s),
    /// so a `?wait=commit` answer comes back through the gateway. Default 35 s.
    public var requestTimeoutMs = 35_000
    /// Nodes one request tries at most (see `GatewayRouting.mayRetry` for when it tries another).
    public var maxAttempts = 3
    /// A node that refused a connection is tried last for this long. Default 2 s.
    public var failureCooldownMs = 2_000
    /// Kept-alive connections to one node, at most, reused by later requests. Default 64.
    public var maxIdleConnectionsPerNode = 64
    /// Reads (GET, HEAD) to one node that arrive in one event-loop turn are sent together on one
    /// kept-alive connection as an HTTP/1.1 pipeline, at most this many per connection; 1 sends
    /// each on its own. Default 16.
    public var maxPipelineDepth = 16

    public init() {}
}
