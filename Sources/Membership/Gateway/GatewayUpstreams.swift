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
    private let resolver: GatewayResolver

    init(settings: GatewaySettings, resolver: GatewayResolver) {
        self.settings = settings
        self.resolver = resolver
    }

    /// The pool of the calling loop (created on first use). Call on `loop`.
    func pool(on loop: EventLoop) -> GatewayUpstreamPool {
        let key = ObjectIdentifier(loop)
        if let bound = pools.withLock({ $0[key] }) { return bound.value }
        let pool = GatewayUpstreamPool(eventLoop: loop, settings: settings, resolver: resolver)
        let bound = LoopBound(pool, eventLoop: loop)
        pool.bound = bound
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
/// requests each), so several reads go to a node with one `send`. A new connection to a node
/// whose name is not looked up yet waits, without holding the loop, for `GatewayResolver`, at
/// most `connectTimeoutMs`.
final class GatewayUpstreamPool {
    /// How often requests in progress are checked against their deadline.
    static let sweepInterval: Duration = .milliseconds(100)

    typealias Taken = (Result<HTTPClientConnection, HTTPClientError>) -> Void

    /// A request waiting for its node's name to be looked up.
    struct Waiter {
        let deadlineNanos: UInt64
        let completion: Taken
    }

    let eventLoop: EventLoop
    /// This pool as its loop's resolver answers reach it (set once, by `GatewayUpstreams`).
    weak var bound: LoopBound<GatewayUpstreamPool>?
    private let settings: GatewaySettings
    private let resolver: GatewayResolver
    private var idle: [String: [HTTPClientConnection]] = [:]
    private var open: [ObjectIdentifier: HTTPClientConnection] = [:]
    /// By node URL; bounded by the requests in flight (`maxInFlight`).
    private var waiting: [String: [Waiter]] = [:]
    /// The connection this turn's pipelined requests to a node go on (stale after the turn).
    private var collecting: [String: HTTPClientConnection] = [:]
    private var closed = false

    init(eventLoop: EventLoop, settings: GatewaySettings, resolver: GatewayResolver) {
        self.eventLoop = eventLoop
        self.settings = settings
        self.resolver = resolver
    }

    /// An idle kept-alive connection to `url`, or a new one; `completion` runs on the loop.
    func take(_ url: String, completion: @escaping Taken) {
        eventLoop.preconditionInEventLoop()
        guard !closed else { completion(.failure(.notSent("the gateway is stopping"))); return }
        while let kept = idle[url]?.popLast() {  // bound: the idle list
            if kept.isIdle { completion(.success(kept)); return }
        }
        guard let parsed = GatewayNodeURL(parsing: url) else { completion(.failure(.invalidURL(url))); return }
        if let address = resolver.known(parsed, url) {
            connect(address, completion)
            return
        }
        let deadline = Self.monotonicNanos() + UInt64(settings.connectTimeoutMs) * 1_000_000
        let first = waiting[url] == nil
        waiting[url, default: []].append(Waiter(deadlineNanos: deadline, completion: completion))
        guard first, let bound else { return }
        resolver.resolve(parsed, url) { result in
            bound.eventLoop.execute { bound.value.resolved(url, result) }
        }
    }

    private func connect(_ address: SocketAddress, _ completion: @escaping Taken) {
        let connection = HTTPClientConnection.connect(
            to: address, on: eventLoop, maxResponseBytes: settings.maxResponseBytes,
            maxRequestBytes: settings.maxBodyBytes + HTTPClient.maxResponseHeadBytes,
            timeout: .milliseconds(max(settings.connectTimeoutMs, 1)), completion: completion)
        if let connection { open[ObjectIdentifier(connection)] = connection }
    }

    /// A lookup for `url` ended: the requests still waiting for it connect, or fail as not sent.
    private func resolved(_ url: String, _ result: Result<SocketAddress, HTTPClientError>) {
        let waiters = waiting.removeValue(forKey: url) ?? []
        for waiter in waiters {  // bound: requests in flight
            switch result {
            case .success(let address) where !closed: connect(address, waiter.completion)
            case .success: waiter.completion(.failure(.notSent("the gateway is stopping")))
            case .failure(let error): waiter.completion(.failure(error))
            }
        }
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
    }

    func closeAll() {
        eventLoop.preconditionInEventLoop()
        closed = true
        idle = [:]
        collecting = [:]
        for connection in Array(open.values) { connection.close() }
        open = [:]
        let waiters = waiting.values.joined()
        waiting = [:]
        for waiter in waiters { waiter.completion(.failure(.notSent("the gateway is stopping"))) }
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
        expireLookups(nowNanos: nowNanos)
    }

    /// Requests that waited `connectTimeoutMs` for a name fail as not delivered (the next node
    /// is tried); the lookup goes on, and its address serves later requests.
    private func expireLookups(nowNanos: UInt64) {
        for (url, list) in waiting {
            let late = list.filter { $0.deadlineNanos <= nowNanos }
            guard !late.isEmpty else { continue }
            let left = list.filter { $0.deadlineNanos > nowNanos }
            waiting[url] = left.isEmpty ? [] : left  // kept (even empty) while the lookup runs
            for waiter in late {
                waiter.completion(.failure(.timeout("connecting to \(url): its name was not looked up within \(settings.connectTimeoutMs) ms (gateway.connect_timeout_ms)")))
            }
        }
    }

    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
