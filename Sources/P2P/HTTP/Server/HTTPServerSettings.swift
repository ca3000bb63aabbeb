/// Every bound and timeout of an `HTTPServer`, with its default. Invalid values (zero or negative
/// limits, zero loop threads) are programming errors and trap in `HTTPServer.init`.
public struct HTTPServerSettings: Sendable {
    /// Longest request line; over it the client gets 414 and the connection closes. Default 8192.
    public var maxRequestLineBytes = 8192
    /// Longest header section; over it → 431 and close. Default 16384.
    public var maxHeaderBytes = 16384
    /// Most header fields per request; over it → 431 and close. Default 100.
    public var maxHeaderCount = 100
    /// Body limit when `maxBodyBytesOverride` is nil or returns nil; over it → 413. Default 1 MiB.
    public var defaultMaxBodyBytes = 1024 * 1024
    /// Per-route body limits: `(method, path) -> bytes`, nil to use the default.
    public var maxBodyBytesOverride: (@Sendable (_ method: String, _ path: String) -> Int?)?
    /// From a request's first byte (or from accept) until its head is complete; then 408. Default 10 s.
    public var readHeaderTimeout: Duration = .seconds(10)
    /// From a complete head until the body is complete; then 408. Default 30 s.
    public var readBodyTimeout: Duration = .seconds(30)
    /// How long a keep-alive connection may wait for its next request; then it closes. Default 60 s.
    public var idleTimeout: Duration = .seconds(60)
    /// How long queued response bytes may wait for the client to take them; then it closes. Default 30 s.
    public var writeTimeout: Duration = .seconds(30)
    /// Open connections across all loops; beyond it a new client gets 503 and is closed. Default 10,000.
    public var maxConnections = 10_000
    /// Open connections from one client address (IP); beyond it a new connection from that
    /// address gets 503 and is closed at accept (counted in `HTTPServerStats`). Default 1,024.
    public var maxConnectionsPerAddress = 1_024
    /// Request body bytes held across all connections at once (read, or announced by a
    /// Content-Length, and not yet answered). A request that would exceed it gets 503
    /// `overloaded` and its connection closes; the bytes are released when the response is
    /// queued or the connection closes. Default 256 MiB.
    public var maxBodyBytesInFlight = 256 << 20
    /// Unsent response bytes per connection before the client is dropped as too slow. Default 4 MiB.
    public var maxWriteQueueBytes = 4 * 1024 * 1024
    /// Request bytes buffered while a response is pending (pipelining) before reading pauses. Default 64 KiB.
    public var maxPipelinedBytes = 64 * 1024
    /// Loop threads; connections are spread round-robin over them. Default 1.
    public var loopThreads = 1

    public init() {}

    /// The body limit for one request.
    public func maxBodyBytes(method: String, path: String) -> Int {
        maxBodyBytesOverride?(method, path) ?? defaultMaxBodyBytes
    }

    var parserLimits: HTTPParserLimits {
        var limits = HTTPParserLimits()
        limits.maxRequestLineBytes = maxRequestLineBytes
        limits.maxHeaderBytes = maxHeaderBytes
        limits.maxHeaderCount = maxHeaderCount
        return limits
    }

    /// How often each loop checks its connections' deadlines: a quarter of the shortest timeout,
    /// between `minSweepInterval` and `maxSweepInterval`. Deadlines therefore fire up to that much late.
    var sweepInterval: Duration {
        let shortest = min(readHeaderTimeout, readBodyTimeout, idleTimeout, writeTimeout)
        return max(Self.minSweepInterval, min(Self.maxSweepInterval, shortest / Self.sweepsPerShortestTimeout))
    }
    /// A deadline fires at most a quarter of its timeout late.
    static let sweepsPerShortestTimeout = 4
    /// 10 ms: tests' sub-second timeouts still fire promptly, and a sweep of every connection
    /// never runs more than 100 times a second.
    static let minSweepInterval: Duration = .milliseconds(10)
    /// 1 s: with the default 10 s and longer timeouts, a deadline is at most a second late.
    static let maxSweepInterval: Duration = .seconds(1)

    func validate() {
        precondition(maxRequestLineBytes > 0 && maxHeaderBytes > 0 && maxHeaderCount > 0, "header limits must be positive")
        precondition(defaultMaxBodyBytes >= 0, "body limit must not be negative")
        precondition(maxConnections > 0 && maxWriteQueueBytes > 0 && maxPipelinedBytes > 0, "limits must be positive")
        precondition(maxConnectionsPerAddress > 0 && maxBodyBytesInFlight > 0, "limits must be positive")
        precondition(loopThreads >= 1 && loopThreads <= 256, "loopThreads must be 1...256")
        for timeout in [readHeaderTimeout, readBodyTimeout, idleTimeout, writeTimeout] {
            precondition(timeout > .zero, "timeouts must be positive")
        }
    }
}
