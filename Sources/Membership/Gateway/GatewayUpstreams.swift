import Glibc
import P2P
import Synchronization

/// The gateway's kept-alive connections to the nodes, one pool per server loop, so a forwarded
/// request and its client share a thread and no thread ever waits for a node.
///
/// Promises: a pool is touched only on its loop; `closeAll(on:)` (run by the server as each loop
/// stops) closes every connection of that loop, and the pool then refuses new ones; nodes no
/// longer listed lose their idle connections (`keepOnly`).
final class GatewayUpstreams: Sendable {
    private let pools = Mutex<[ObjectIdentifier: LoopBound<GatewayUpstreamPool>]>([:])
    private let settings: GatewaySettings

    init(settings: GatewaySettings) { self.settings = settings }

    /// The pool of the calling loop (created on first use). Call on `loop`.
    func pool(on loop: EventLoop) -> GatewayUpstreamPool {
        let key = ObjectIdentifier(loop)
        if let bound = pools.withLock({ $0[key] }) { return bound.value }
        let pool = GatewayUpstreamPool(eventLoop: loop, settings: settings)
        let bound = LoopBound(pool, eventLoop: loop)
        pools.withLock { $0[key] = bound }
        pool.startSweeping(bound)
        return pool
    }

    /// Closes the connections of `loop`'s pool for good. Call on `loop`.
    func closeAll(on loop: EventLoop) {
        pools.withLock { $0[ObjectIdentifier(loop)] }?.value.closeAll()
    }

    /// Drops idle connections to nodes not in `urls`, on each pool's loop.
    func keepOnly(_ urls: Set<String>) {
        for bound in pools.withLock({ Array($0.values) }) {
            bound.eventLoop.execute { bound.value.keepOnly(urls) }
        }
    }
}

/// One loop's connections to the nodes: idle ones by node URL (at most
/// `maxIdleConnectionsPerNode` each) and every open one, whose deadlines a sweep checks; and per
/// node the connection that collects this turn's pipelined reads (at most `maxPipelineDepth`
/// requests each), so several reads go to a node with one `send`.
final class GatewayUpstreamPool {
    /// How often requests in progress are checked against their deadline.
    static let sweepInterval: Duration = .milliseconds(100)

    struct Target {
        let address: SocketAddress
        let host: String
    }

    let eventLoop: EventLoop
    private let settings: GatewaySettings
    private var idle: [String: [HTTPClientConnection]] = [:]
    private var open: [ObjectIdentifier: HTTPClientConnection] = [:]
    private var targets: [String: Target] = [:]
    /// The connection this turn's pipelined requests to a node go on (stale after the turn).
    private var collecting: [String: HTTPClientConnection] = [:]
    private var closed = false

    init(eventLoop: EventLoop, settings: GatewaySettings) {
        self.eventLoop = eventLoop
        self.settings = settings
    }

    /// Where `url` points, parsed once per URL (the table is cleared with the node list).
    func target(_ url: String) throws(HTTPClientError) -> Target {
        if let known = targets[url] { return known }
        let parsed = try HTTPClient(baseURL: url)
        let target = Target(address: parsed.address, host: parsed.hostHeader)
        targets[url] = target
        return target
    }

    /// An idle kept-alive connection to `url`, or a new one; `completion` runs on the loop.
    func take(_ url: String, completion: @escaping (Result<HTTPClientConnection, HTTPClientError>) -> Void) {
        eventLoop.preconditionInEventLoop()
        guard !closed else { completion(.failure(.notSent("the gateway is stopping"))); return }
        while let kept = idle[url]?.popLast() {  // bound: the idle list
            if kept.isIdle { completion(.success(kept)); return }
        }
        let address: SocketAddress
        do { address = try target(url).address } catch { completion(.failure(error)); return }
        let connection = HTTPClientConnection.connect(
            to: address, on: eventLoop, maxResponseBytes: settings.maxResponseBytes,
            maxRequestBytes: settings.maxBodyBytes + HTTPClient.maxResponseHeadBytes,
            timeout: .milliseconds(max(settings.requestTimeoutMs, 1)), completion: completion)
        if let connection { open[ObjectIdentifier(connection)] = connection }
    }

    /// The connection for a request to `url` that may be pipelined: the one collecting this
    /// turn's requests to `url` while it holds fewer than `maxPipelineDepth`, else an idle one,
    /// which then collects. Nil when there is neither (the caller uses `take`), or when
    /// pipelining is off (`maxPipelineDepth` 1).
    func pipelining(_ url: String) -> HTTPClientConnection? {
        eventLoop.preconditionInEventLoop()
        guard !closed, settings.maxPipelineDepth > 1 else { return nil }
        if let current = collecting[url], current.hasUnsentRequests, current.canPipeline,
           current.requestsInFlight < settings.maxPipelineDepth {
            return current
        }
        while let kept = idle[url]?.popLast() {  // bound: the idle list
            if kept.isIdle {
                collecting[url] = kept
                return kept
            }
        }
        collecting[url] = nil
        return nil
    }

    /// Keeps `connection` for the next request to `url` if it is reusable and there is room.
    func giveBack(_ connection: HTTPClientConnection, _ url: String) {
        eventLoop.preconditionInEventLoop()
        guard connection.isIdle else { return }
        guard !closed, (idle[url]?.count ?? 0) < settings.maxIdleConnectionsPerNode else {
            connection.close()
            return
        }
        idle[url, default: []].append(connection)
    }

    func keepOnly(_ urls: Set<String>) {
        eventLoop.preconditionInEventLoop()
        for (url, list) in idle where !urls.contains(url) {
            for connection in list { connection.close() }
            idle[url] = nil
        }
        collecting = collecting.filter { urls.contains($0.key) }
        targets = targets.filter { urls.contains($0.key) }
    }

    func closeAll() {
        eventLoop.preconditionInEventLoop()
        closed = true
        idle = [:]
        collecting = [:]
        for connection in Array(open.values) { connection.close() }
        open = [:]
    }

    /// Every `sweepInterval`: requests past their deadline fail, ended connections are dropped.
    func startSweeping(_ bound: LoopBound<GatewayUpstreamPool>) {
        eventLoop.schedule(after: Self.sweepInterval) {
            let pool = bound.value
            guard !pool.closed else { return }
            pool.sweep(nowNanos: Self.monotonicNanos())
            pool.startSweeping(bound)
        }
    }

    private func sweep(nowNanos: UInt64) {
        for connection in Array(open.values) { connection.checkDeadline(nowNanos: nowNanos) }
        open = open.filter { !$0.value.isClosed }
        for (url, list) in idle { idle[url] = list.filter { $0.isIdle } }
    }

    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
