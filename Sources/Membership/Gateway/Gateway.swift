import Chain
import Dispatch
import Foundation
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
/// - Bounded: client connections, request and response sizes, requests in flight, kept-alive
///   node connections and the node list, and every attempt has a timeout (`GatewaySettings`).
/// - When the registry cannot be reached the last node list it gave stays in use.
public final class Gateway: Sendable {
    public let settings: GatewaySettings
    private let routing: Mutex<GatewayRouting>
    private let connections: NodeConnectionPool
    private let inFlight = Atomic<Int>(0)
    private let server = Mutex<HTTPServer?>(nil)
    private let stopped = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private let discovering = Atomic<Bool>(false)
    private let work = DispatchQueue(label: "gateway-work", qos: .userInitiated, attributes: .concurrent)
    private let log = Logger(component: "gateway")

    public init(settings: GatewaySettings) {
        self.settings = settings
        routing = Mutex(GatewayRouting(maxAttempts: settings.maxAttempts, failureCooldownS: Double(settings.failureCooldownMs) / 1000))
        connections = NodeConnectionPool(maxIdlePerNode: settings.maxIdleConnectionsPerNode, maxResponseBytes: settings.maxResponseBytes)
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
        let s = HTTPServer(settings: http) { [self] request, responder in handle(request, responder) }
        let bound = try s.start(bindTo: address)
        server.withLock { $0 = s }
        refreshNodes()
        let t = Thread { [self] in discoverLoop() }
        t.name = "gateway-discover"
        discovering.store(true, ordering: .sequentiallyConsistent)
        t.start()
        return bound
    }

    /// Stops listening and following the registry. Idempotent.
    public func stop() {
        guard !stopping.exchange(true, ordering: .sequentiallyConsistent) else { return }
        if discovering.load(ordering: .sequentiallyConsistent) { _ = stopped.wait(timeout: .now() + 5) }
        server.withLock { $0 }?.stop()
    }

    // MARK: following the registry

    private func discoverLoop() {
        defer { stopped.signal() }
        while !stopping.load(ordering: .sequentiallyConsistent) {
            var waitedMs = 0
            while waitedMs < settings.discoverIntervalMs, !stopping.load(ordering: .sequentiallyConsistent) {
                let step = min(50, settings.discoverIntervalMs - waitedMs)
                usleep(UInt32(step) * 1_000)
                waitedMs += step
            }
            refreshNodes()
        }
    }

    /// One `GET /discover`; on any failure the list stays as it was.
    func refreshNodes() {
        do {
            let client = try HTTPClient(baseURL: settings.registryURL, maxResponseBytes: 4 << 20)
            defer { client.close() }
            let r = try client.request(method: "GET", path: "/discover", timeout: .seconds(2))
            guard r.status == 200 else { return }
            let fresh = GatewayDiscovery.nodes(fromDiscoverBody: r.body, maxNodes: settings.maxNodes)
            routing.withLock { $0.replace(nodes: fresh) }
            connections.keepOnly(Set(fresh.map(\.apiURL)))
        } catch {
            log.debug("registry not reachable; keeping the last node list", ["registry": settings.registryURL, "error": "\(error)"])
        }
    }

    // MARK: forwarding

    private func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        guard inFlight.wrappingAdd(1, ordering: .relaxed).newValue <= settings.maxInFlight else {
            inFlight.wrappingSubtract(1, ordering: .relaxed)
            responder.send(.error(status: 503, code: "overloaded",
                                  message: "more than \(settings.maxInFlight) requests are being forwarded; retry shortly"))
            return
        }
        work.async { [self] in
            defer { inFlight.wrappingSubtract(1, ordering: .relaxed) }
            responder.send(forward(request))
        }
    }

    /// Tries the routing's plan until a node answers or a failure may not be retried.
    func forward(_ request: HTTPRequest) -> HTTPResponse {
        let target = request.queryString.isEmpty ? request.path : request.path + "?" + request.queryString
        var headers = HTTPHeaders()
        for name in ["Authorization", "Content-Type", "Accept"] {
            if let value = request.headers[name] { headers.add(name, value) }
        }
        let plan = routing.withLock { $0.plan(now: Self.now()) }
        guard !plan.isEmpty else {
            return .error(status: 503, code: "no_node", message: "no live node is known (registry \(settings.registryURL)); retry shortly")
        }
        var failures: [String] = []
        for node in plan {
            let outcome = attempt(node, method: request.method, target: target, headers: headers, body: request.body)
            switch outcome {
            case .answered(let response):
                routing.withLock { $0.markAnswered(node.id) }
                return response
            case .refused(let response):
                return response
            case .failed(let failure, let why):
                failures.append("\(node.id): \(why)")
                if failure == .notDelivered { routing.withLock { $0.markFailed(node.id, now: Self.now()) } }
                guard GatewayRouting.mayRetry(method: request.method, path: request.path, failure: failure) else {
                    return .error(status: 502, code: "node_failed",
                                  message: "\(node.id) failed after the request reached it (\(why)); it may have taken effect, check before repeating it")
                }
            }
        }
        return .error(status: 503, code: "no_node", message: "no node answered: \(failures.joined(separator: "; "))")
    }

    enum Attempt {
        case answered(HTTPResponse)
        /// The gateway itself refuses (a request it cannot send, an answer too large).
        case refused(HTTPResponse)
        case failed(GatewayRouting.Failure, String)
    }

    private func attempt(_ node: GatewayRouting.Node, method: String, target: String, headers: HTTPHeaders, body: [UInt8]) -> Attempt {
        let client: HTTPClient
        do { client = try connections.take(node.apiURL) } catch {
            return .failed(.notDelivered, "\(error)")
        }
        do {
            let r = try client.request(method: method, path: target, headers: headers, body: body,
                                       timeout: .milliseconds(settings.requestTimeoutMs))
            connections.giveBack(client, node.apiURL)
            return .answered(Self.relay(r, from: node.id))
        } catch {
            client.close()
            switch error {
            case .invalidRequest(let why), .invalidURL(let why):
                return .refused(.error(status: 400, code: "bad_request", message: why))
            case .responseTooLarge(let limit):
                return .refused(.error(status: 502, code: "node_failed", message: "\(node.id) answered more than \(limit) bytes (gateway.max_response_bytes)"))
            default:
                return .failed(Self.classify(error), "\(error)")
            }
        }
    }

    /// Whether a client error proves the request never reached the node.
    static func classify(_ error: HTTPClientError) -> GatewayRouting.Failure {
        switch error {
        case .connectionRefused, .io(.connectionRefused): return .notDelivered
        case .io(.system(let call, _, _)) where call == "connect" || call == "socket": return .notDelivered
        case .timeout(let what) where what.hasPrefix("connecting"): return .notDelivered
        default: return .afterSending
        }
    }

    /// Header fields that describe one connection, not the message: never relayed.
    static let hopByHop: Set<String> = ["connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer",
                                        "upgrade", "proxy-authenticate", "proxy-authorization"]

    static func relay(_ r: HTTPClientResponse, from node: String) -> HTTPResponse {
        var headers = HTTPHeaders()
        for field in r.headers where !hopByHop.contains(field.name.lowercased()) { headers.add(field.name, field.value) }
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
                  (try? HTTPClient(baseURL: url)) != nil else { continue }
            out.append(GatewayRouting.Node(id: id, apiURL: url, suspect: entry["state"]?.stringValue == "suspect"))
        }
        return out
    }
}

/// Kept-alive connections to the nodes, so a request need not open one. A client is used by one
/// thread at a time: taken out under the lock, used, and given back. Bounded per node, and
/// connections to nodes no longer listed are closed.
final class NodeConnectionPool: @unchecked Sendable {
    // Unchecked: `idle` and the clients in it are only touched under `lock`; a client taken out
    // belongs to the taking thread alone until it is given back.
    private let lock = NSLock()
    private var idle: [String: [HTTPClient]] = [:]
    let maxIdlePerNode: Int
    let maxResponseBytes: Int

    init(maxIdlePerNode: Int, maxResponseBytes: Int) {
        self.maxIdlePerNode = maxIdlePerNode
        self.maxResponseBytes = maxResponseBytes
    }

    func take(_ url: String) throws(HTTPClientError) -> HTTPClient {
        let kept: HTTPClient? = lock.withLock { idle[url]?.popLast() }
        if let kept { return kept }
        return try HTTPClient(baseURL: url, maxResponseBytes: maxResponseBytes)
    }

    func giveBack(_ client: HTTPClient, _ url: String) {
        let keep = lock.withLock { () -> Bool in
            guard (idle[url]?.count ?? 0) < maxIdlePerNode else { return false }
            idle[url, default: []].append(client)
            return true
        }
        if !keep { client.close() }
    }

    func keepOnly(_ urls: Set<String>) {
        let dropped = lock.withLock { () -> [HTTPClient] in
            let gone = idle.filter { !urls.contains($0.key) }
            for key in gone.keys { idle[key] = nil }
            return gone.values.flatMap { $0 }
        }
        for client in dropped { client.close() }
    }
}
