import Chain
import Dispatch
import FoundationEssentials
import Glibc
import P2P
import Synchronization

/// One stable address in front of the cluster: forwards each REST call to a live node learned
/// from the registry's `GET /discover`, and answers as that node did.
///
/// Promises:
/// - Status and body come back as the node sent them, with the node's headers (hop-by-hop ones
///   dropped) and `X-Autochain-Node: <id>` naming the node that answered. The client's
///   `Authorization`, `Content-Type` and `Accept` headers are passed on; nothing else is.
/// - Which node, and whether a failed attempt goes to another, is decided by `GatewayRouting`
///   (reads spread, retries only where they cannot apply a change twice).
/// - No live node, or none answered: 503 `no_node`; a node failed after the request may have
///   reached it and the call is not safe to repeat: 502 `node_failed`; too many requests being
///   forwarded: 503 `overloaded`. All in the usual `{"error":{"code","message"}}` shape.
/// - No thread waits for a node: a request is forwarded on the loop it arrived on, over a
///   kept-alive connection of that loop's pool (`GatewayUpstreams`), non-blocking end to end.
///   Reads to one node that arrive in the same loop turn share one connection as an HTTP/1.1
///   pipeline written with one `send` (`maxPipelineDepth`); the retry rules are the same.
/// - Bounded: client connections, request and response sizes, requests in flight, kept-alive
///   node connections and the node list, and every attempt has a timeout (`GatewaySettings`).
/// - When the registry cannot be reached the last node list it gave stays in use; before it
///   first answers (its name may not resolve yet: a Swarm stack starting), the gateway listens
///   and answers 503 `no_node` saying why.
/// - No request waits on a name lookup on the loop: node names are looked up on other threads
///   (`GatewayResolver`); an address is looked up again when a connection to it fails or the
///   registry's entry for the node changes, so a node back at a new address behind the same name
///   is reached again. Connecting, lookup included, is bounded by `connectTimeoutMs`.
public final class Gateway: Sendable {
    public let settings: GatewaySettings
    private let routing: Mutex<GatewayRouting>
    private let upstreams: GatewayUpstreams
    private let resolver: GatewayResolver
    /// Why the last `GET /discover` failed, or nil after one that succeeded.
    private let registryProblem = Mutex<String?>("not asked yet")
    private let inFlight = Atomic<Int>(0)
    private let server = Mutex<HTTPServer?>(nil)
    private let stopped = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private let discovering = Atomic<Bool>(false)
    private let log = Logger(component: "gateway")

    public convenience init(settings: GatewaySettings) {
        self.init(settings: settings, lookup: GatewayResolver.systemLookup)
    }

    /// A gateway whose node names are looked up with `lookup` (tests move a name to a new address).
    init(settings: GatewaySettings, lookup: @escaping GatewayResolver.Lookup) {
        self.settings = settings
        routing = Mutex(GatewayRouting(maxAttempts: settings.maxAttempts, failureCooldownS: Double(settings.failureCooldownMs) / 1000))
        resolver = GatewayResolver(maxNames: settings.maxNodes, lookup: lookup)
        upstreams = GatewayUpstreams(settings: settings, resolver: resolver)
    }

    /// The nodes requests go to now (the registry's latest list).
    public var nodes: [GatewayRouting.Node] { routing.withLock { $0.nodes } }

    /// Listens on `address` and starts following the registry; returns the bound address.
    public func start(bindTo address: SocketAddress) throws(SocketError) -> SocketAddress {
        var http = HTTPServerSettings()
        http.defaultMaxBodyBytes = settings.maxBodyBytes
        http.maxConnections = settings.maxConnections
        http.maxConnectionsPerAddress = settings.maxConnectionsPerAddress
        http.maxBodyBytesInFlight = max(settings.maxBodyBytes, 256 << 20)
        http.writeTimeout = .milliseconds(max(settings.requestTimeoutMs, 1))
        let s = HTTPServer(settings: http, loopWillStop: { [upstreams] loop in upstreams.closeAll(on: loop) }) { [self] request, responder in
            handle(request, responder)
        }
        let bound = try s.start(bindTo: address)
        server.withLock { $0 = s }
        refreshNodes()
        discovering.store(true, ordering: .sequentiallyConsistent)
        PosixThread.start(name: "gateway-scan") { [self] in discoverLoop() }
        return bound
    }

    /// The discovery loop waits between discoveries in steps this long (50 ms), so `stop` need not
    /// wait out a whole `discover_interval_ms`.
    static let discoverWaitStepMs = 50
    /// What `stop` allows beyond one discovery and one wait step for the loop to end (1 s: a
    /// thread switch on a loaded host), before it stops the server all the same.
    static let stopSlackMs = 1_000

    /// Stops listening and following the registry. Idempotent.
    public func stop() {
        guard !stopping.exchange(true, ordering: .sequentiallyConsistent) else { return }
        // The discovery loop ends within one discovery and one wait step.
        let loopEndMs = settings.discoverTimeoutMs + Self.discoverWaitStepMs + Self.stopSlackMs
        if discovering.load(ordering: .sequentiallyConsistent) { _ = stopped.wait(timeout: .now() + .milliseconds(loopEndMs)) }
        server.withLock { $0 }?.stop()
    }

    // MARK: following the registry

    private func discoverLoop() {
        defer { stopped.signal() }
        while !stopping.load(ordering: .sequentiallyConsistent) {
            var waitedMs = 0
            while waitedMs < settings.discoverIntervalMs, !stopping.load(ordering: .sequentiallyConsistent) {
                let step = min(Self.discoverWaitStepMs, settings.discoverIntervalMs - waitedMs)
                usleep(UInt32(step) * 1_000)
                waitedMs += step
            }
            refreshNodes()
        }
    }

    /// One `GET /discover` (on the discovery thread: the registry's name is looked up here);
    /// on any failure the list stays as it was and the failure is kept for the 503 message.
    func refreshNodes() {
        do {
            let client = try HTTPClient(baseURL: settings.registryURL, maxResponseBytes: 4 << 20)
            defer { client.close() }
            let r = try client.request(method: "GET", path: "/discover", timeout: .milliseconds(settings.discoverTimeoutMs))
            guard r.status == 200 else {
                registryProblem.withLock { $0 = "GET /discover answered \(r.status)" }
                return
            }
            let fresh = GatewayDiscovery.nodes(fromDiscoverBody: r.body, maxNodes: settings.maxNodes)
            let before = routing.withLock { routing in
                defer { routing.replace(nodes: fresh) }
                return routing.nodes
            }
            registryProblem.withLock { $0 = nil }
            // A node whose entry changed (back from suspect, a new URL) may have a new address.
            for node in fresh where !before.contains(node) { resolver.forget(node.apiURL) }
            let urls = Set(fresh.map(\.apiURL))
            resolver.keepOnly(urls)
            upstreams.keepOnly(urls)
        } catch {
            registryProblem.withLock { $0 = "\(error)" }
            log.debug("registry not reachable; keeping the last node list", ["registry": settings.registryURL, "error": "\(error)"])
        }
    }

    // MARK: forwarding

    private func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        guard inFlight.wrappingAdd(1, ordering: .relaxed).newValue <= settings.maxInFlight else {
            inFlight.wrappingSubtract(1, ordering: .relaxed)
            responder.send(.error(code: "overloaded",
                                  message: "more than \(settings.maxInFlight) requests are being forwarded; retry shortly"))
            return
        }
        let plan = routing.withLock { $0.plan(now: Self.now()) }
        guard !plan.isEmpty else {
            let why = registryProblem.withLock { $0 }.map { ": the registry cannot be reached (\($0))" } ?? ""
            answer(responder, .error(code: "no_node", message: "no live node is known (registry \(settings.registryURL))\(why); retry shortly"))
            return
        }
        var headers = HTTPHeaders()
        for name in ["Authorization", "Content-Type", "Accept"] {
            if let value = request.headers[name] { headers.add(name, value) }
        }
        let forwarding = Forwarding(request: request, headers: headers, plan: plan)
        tryNext(forwarding, pool: upstreams.pool(on: responder.eventLoop), responder: responder)
    }

    /// One client request on its way through its plan (lives on the request's loop).
    struct Forwarding {
        let request: HTTPRequest
        let headers: HTTPHeaders
        let plan: [GatewayRouting.Node]
        /// The plan's node tried now.
        var next = 0
        /// Whether a stale kept-alive connection was already replaced once for this request.
        var replacedStale = false
        var failures: [String] = []

        var target: String { request.queryString.isEmpty ? request.path : request.path + "?" + request.queryString }
    }

    /// Tries the plan's current node; `settle` decides what its outcome leads to.
    private func tryNext(_ forwarding: Forwarding, pool: GatewayUpstreamPool, responder: HTTPResponder) {
        guard forwarding.next < forwarding.plan.count else {
            answer(responder, .error(code: "no_node", message: "no node answered: \(forwarding.failures.joined(separator: "; "))"))
            return
        }
        let node = forwarding.plan[forwarding.next]
        attempt(node, forwarding, pool: pool) { [self] outcome in settle(outcome, node, forwarding, pool: pool, responder: responder) }
    }

    /// Answers the client, or tries again where `GatewayRouting.mayRetry` allows it.
    private func settle(_ outcome: Attempt, _ node: GatewayRouting.Node, _ forwarding: Forwarding,
                        pool: GatewayUpstreamPool, responder: HTTPResponder) {
        var forwarding = forwarding
        switch outcome {
        case .answered(let response):
            routing.withLock { $0.markAnswered(node.id) }
            answer(responder, response)
        case .refused(let response):
            answer(responder, response)
        case .stale(let why):
            // A kept-alive connection the node had closed: the node never saw the request and is
            // not to blame. Once per request the same node is tried on a fresh connection.
            forwarding.failures.append("\(node.id): \(why)")
            if forwarding.replacedStale { forwarding.next += 1 }
            forwarding.replacedStale = true
            tryNext(forwarding, pool: pool, responder: responder)
        case .failed(let failure, let why):
            forwarding.failures.append("\(node.id): \(why)")
            if failure == .notDelivered {
                routing.withLock { $0.markFailed(node.id, now: Self.now()) }
                resolver.forget(node.apiURL)  // a restarted node may be back at a new address
            }
            guard GatewayRouting.mayRetry(method: forwarding.request.method, path: forwarding.request.path, failure: failure) else {
                answer(responder, .error(code: "node_failed",
                                         message: "\(node.id) failed after the request reached it (\(why)); it may have taken effect, check before repeating it"))
                return
            }
            forwarding.next += 1
            tryNext(forwarding, pool: pool, responder: responder)
        }
    }

    private func answer(_ responder: HTTPResponder, _ response: HTTPResponse) {
        inFlight.wrappingSubtract(1, ordering: .relaxed)
        responder.send(response)
    }

    enum Attempt {
        case answered(HTTPResponse)
        /// The gateway itself refuses (a request it cannot send, an answer too large).
        case refused(HTTPResponse)
        /// A kept-alive connection was found closed before any of the request was written.
        case stale(String)
        case failed(GatewayRouting.Failure, String)
    }

    /// One attempt on one node, on the loop, without blocking: a pooled or new connection, the
    /// request written, the answer read, all within `requestTimeoutMs`.
    private func attempt(_ node: GatewayRouting.Node, _ forwarding: Forwarding, pool: GatewayUpstreamPool,
                         completion: @escaping (Attempt) -> Void) {
        let url = node.apiURL
        guard let host = GatewayNodeURL(parsing: url)?.hostHeader else { completion(.failed(.notDelivered, "bad node URL \(url)")); return }
        let bytes: [UInt8]
        do {
            bytes = try HTTPClient.encode(method: forwarding.request.method, path: forwarding.target, host: host,
                                          headers: forwarding.headers, body: forwarding.request.body)
        } catch {
            completion(Self.outcome(of: error, node: node))
            return
        }
        let deadline = GatewayUpstreamPool.monotonicNanos() + UInt64(settings.requestTimeoutMs) * 1_000_000
        let isHEAD = forwarding.request.method == "HEAD"
        func answered(_ connection: HTTPClientConnection) -> (Result<HTTPClientResponse, HTTPClientError>) -> Void {
            { result in
                switch result {
                case .success(let response):
                    pool.giveBack(connection, url)
                    completion(.answered(Self.relay(response, from: node.id)))
                case .failure(let error):
                    completion(Self.outcome(of: error, node: node))
                }
            }
        }
        if Self.mayPipeline(method: forwarding.request.method, bodyBytes: forwarding.request.body.count),
           let connection = pool.pipelining(url) {
            connection.pipeline(bytes, isHEAD: isHEAD, deadlineNanos: deadline, completion: answered(connection))
            return
        }
        pool.take(url) { taken in
            switch taken {
            case .failure(let error):
                completion(Self.outcome(of: error, node: node))
            case .success(let connection):
                connection.send(bytes, isHEAD: isHEAD, deadlineNanos: deadline, completion: answered(connection))
            }
        }
    }

    /// Whether a request may go in a pipeline: a read without a body, which the retry rules let
    /// the gateway repeat on another node when the connection ends after it was sent (a write
    /// must not: one queued behind another's answer could fail after it was sent).
    static func mayPipeline(method: String, bodyBytes: Int) -> Bool {
        (method == "GET" || method == "HEAD") && bodyBytes == 0
    }

    static func outcome(of error: HTTPClientError, node: GatewayRouting.Node) -> Attempt {
        switch error {
        case .invalidRequest(let why), .invalidURL(let why):
            return .refused(.error(code: "bad_request", message: why))
        case .responseTooLarge(let limit):
            return .refused(.error(code: "node_failed", message: "\(node.id) answered more than \(limit) bytes (gateway.max_response_bytes)"))
        case .notSent(let why):
            return .stale(why)
        default:
            return .failed(classify(error), "\(error)")
        }
    }

    /// Whether a client error proves the request never reached the node.
    static func classify(_ error: HTTPClientError) -> GatewayRouting.Failure {
        switch error {
        case .connectionRefused, .io(.connectionRefused): return .notDelivered
        case .io(.system(let call, _, _)) where call == "connect" || call == "socket": return .notDelivered
        case .io(.invalidAddress): return .notDelivered  // the node's name did not resolve
        case .timeout(let what) where what.hasPrefix("connecting"): return .notDelivered
        default: return .afterSending
        }
    }

    /// Header fields that describe one connection, not the message: never relayed.
    static let hopByHop: [String] = ["connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer",
                                        "upgrade", "proxy-authenticate", "proxy-authorization"]

    /// Whether `name` is in `hopByHop`, ignoring ASCII case (without building a lowercased copy:
    /// this runs for every header of every answer).
    static func isHopByHop(_ name: String) -> Bool {
        let bytes = name.utf8
        return hopByHop.contains { candidate in
            candidate.utf8.count == bytes.count
                && zip(candidate.utf8, bytes).allSatisfy { $0 == ($1 >= 0x41 && $1 <= 0x5A ? $1 | 0x20 : $1) }
        }
    }

    static func relay(_ r: HTTPClientResponse, from node: String) -> HTTPResponse {
        var headers = HTTPHeaders()
        for field in r.headers where !isHopByHop(field.name) { headers.add(field.name, field.value) }
        headers.set("X-Autochain-Node", node)
        let status = (100...999).contains(r.status) ? r.status : 502
        return HTTPResponse(status: status, headers: headers, body: r.body)
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Reading the registry's `GET /discover` answer into routable nodes.
public enum GatewayDiscovery {
    /// The nodes of a `/discover` body: entries with a valid node ID and an `http://` API URL, at
    /// most `maxNodes`; anything else in the answer is skipped (a bad body gives an empty list).
    public static func nodes(fromDiscoverBody body: [UInt8], maxNodes: Int) -> [GatewayRouting.Node] {
        guard let parsed = try? JSON.parse(body), let list = parsed["nodes"]?.arrayValue else { return [] }
        var out: [GatewayRouting.Node] = []
        for entry in list where out.count < maxNodes {
            guard let id = entry["id"]?.stringValue, NodeIDGrammar.isValid(id),
                  let url = entry["apiUrl"]?.stringValue, url.hasPrefix("http://"), url.utf8.count <= 512,
                  GatewayNodeURL(parsing: url) != nil else { continue }  // no lookup: a name may be missing a while
            out.append(GatewayRouting.Node(id: id, apiURL: url, suspect: entry["state"]?.stringValue == "suspect"))
        }
        return out
    }
}
