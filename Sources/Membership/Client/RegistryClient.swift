import Chain
import Dispatch
import FoundationEssentials
import Glibc
import P2P
import Synchronization

/// How a node picks among several registry URLs.
public enum RegistryStrategy: String, Sendable, CaseIterable {
    case roundRobin = "round_robin", leastLoaded = "least_loaded", priority, random
}

public struct RegistryClientSettings: Sendable {
    public var urls: [String] = []
    public var strategy: RegistryStrategy = .roundRobin
    /// Heartbeat period (the registry may ask for another in its answer).
    public var heartbeatIntervalMs = 500
    /// Consecutive failures after which a registry is considered unhealthy and backed off.
    public var failuresBeforeUnhealthy = 3
    public var backoffInitialMs = 200
    /// Backoff cap: short enough that a restarted registry hears from every node within its grace period.
    public var backoffMaxMs = 2_000
    /// How often peers are fetched from `/discover`.
    public var discoverIntervalMs = 2_000
    /// A voter without a leader for this long reports a consensus failure.
    public var consensusFailureAfterMs = 3_000
    public var token = ""
    public var requestTimeoutMs = 1_000
    /// `stop()` waits at most this long for the heartbeat loop to finish its current beat (a
    /// node's stop is bounded; the loop ends on its own after that). Default 3 s.
    public var stopWaitMs = 3_000
    public init() {}
}

/// The node's side of the registry: register at start-up, heartbeat, fetch peers, report a
/// consensus failure. Several registries: one is picked by the strategy, one that fails three
/// times in a row is backed off exponentially (with jitter) and the next is used. Nothing the
/// node does depends on a registry answering: consensus and peers go on without it.
public final class RegistryClient: Sendable {
    public let settings: RegistryClientSettings
    let nodeId: String
    /// Signs registrations, heartbeats and reports (docs/PROTOCOL.md, signed registry calls).
    let nodeKey: KeyPair
    let report: @Sendable () -> JSONObject
    let onPeers: @Sendable ([(id: String, p2pAddr: String)]) -> Void
    /// Called once, with the registry's message, when a registry answers that a copy of this
    /// node with a higher incarnation has reported, or that this node's ID or key was retired
    /// (fencing: this copy can never take part again): the client stops; the node must too.
    let onSuperseded: @Sendable (String) -> Void
    private let stopping = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)
    private let state: Mutex<ClientState>
    private let log = Logger(component: "registry-client")

    struct ClientState {
        var failures: [Int]
        var backoffUntil: [Double]
        var backoffMs: [Int]
        var latencyMs: [Double]
        var next = 0
        var registeredWith: Int?
        var leaderlessSince: Double?
        var lastFailureReport: Double = 0
        var lastDiscover: Double = 0
        /// The heartbeat period in use: the configured one until a registry names its own.
        var intervalMs: Int
        var rng = SystemRandomNumberGenerator()
        /// The last sequence signed. Starts at the wall clock in microseconds, so a restarted
        /// node's sequence is above the one the registry last accepted from it.
        var sequence = UInt64(max(0, Date().timeIntervalSince1970 * 1_000_000))
    }

    public init(settings: RegistryClientSettings, nodeId: String, nodeKey: KeyPair, report: @escaping @Sendable () -> JSONObject,
                onPeers: @escaping @Sendable ([(id: String, p2pAddr: String)]) -> Void,
                onSuperseded: @escaping @Sendable (String) -> Void = { _ in }) {
        precondition(!settings.urls.isEmpty, "a registry client needs at least one URL")
        self.settings = settings
        self.nodeId = nodeId
        self.nodeKey = nodeKey
        self.report = report
        self.onPeers = onPeers
        self.onSuperseded = onSuperseded
        let n = settings.urls.count
        state = Mutex(ClientState(failures: Array(repeating: 0, count: n), backoffUntil: Array(repeating: 0, count: n),
                                  backoffMs: Array(repeating: settings.backoffInitialMs, count: n), latencyMs: Array(repeating: 0, count: n),
                                  intervalMs: settings.heartbeatIntervalMs))
    }

    public func start() {
        PosixThread.start(name: "registry-client") { [self] in run() }
    }

    public func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        _ = done.wait(timeout: .now() + .milliseconds(settings.stopWaitMs))
    }

    static func now() -> Double { Date().timeIntervalSince1970 }

    func run() {
        while !stopping.load(ordering: .sequentiallyConsistent) {
            let started = Self.now()
            beat()
            let rest = Double(heartbeatIntervalMs) / 1000 - (Self.now() - started)
            if rest > 0 { usleep(UInt32(rest * 1e6)) }
        }
        done.signal()
    }

    /// The heartbeat period in use (the registry's, once one has answered a registration).
    public var heartbeatIntervalMs: Int { state.withLock { $0.intervalMs } }

    /// Adopts the heartbeat period a registry asks for in its registration answer: its failure
    /// detector counts missed heartbeats against that period, not against this node's config.
    func adoptInterval(_ answer: JSON) {
        guard let ms = answer["heartbeatIntervalMs"]?.intValue, RegistrySettings.heartbeatIntervalMsRange.contains(Int(ms)) else { return }
        let old = state.withLock { s in defer { s.intervalMs = Int(ms) }; return s.intervalMs }
        if old != Int(ms) { log.info("heartbeat period set by the registry", ["ms": ms, "was": old]) }
    }

    /// The registry to use now, by strategy, among those not backed off (nil: all backed off).
    func pick(now: Double) -> Int? {
        state.withLock { s in
            let healthy = settings.urls.indices.filter { s.backoffUntil[$0] <= now }
            guard !healthy.isEmpty else { return nil }
            switch settings.strategy {
            case .priority: return healthy[0]
            case .random: return healthy.randomElement(using: &s.rng)
            case .leastLoaded: return healthy.min { s.latencyMs[$0] < s.latencyMs[$1] }
            case .roundRobin:
                if let r = s.registeredWith, healthy.contains(r) { return r }
                let i = healthy[s.next % healthy.count]
                s.next &+= 1
                return i
            }
        }
    }

    func beat() {
        let now = Self.now()
        guard let i = pick(now: now) else { return }
        let url = settings.urls[i]
        var body = report()
        body["nodeId"] = .string(nodeId)
        let first = state.withLock { $0.registeredWith != i }
        let path = first ? "/register" : "/heartbeat"
        let started = Self.now()
        do {
            let answer = try call(url, "POST", path, JSON.object(body))
            succeeded(i, latencyMs: (Self.now() - started) * 1000)
            if first {
                log.info("registered", ["registry": url, "strategy": settings.strategy.rawValue])
                adoptInterval(answer)
                learnPeers(answer)
            }
            checkConsensus(body, url: url, now: now)
            if now - state.withLock({ $0.lastDiscover }) >= Double(settings.discoverIntervalMs) / 1000 {
                state.withLock { $0.lastDiscover = now }
                if let d = try? call(url, "GET", "/discover", nil) { learnPeers(d) }
            }
        } catch RegistryClientError.superseded(let message) {
            // Beating on would only be refused again: this copy is done (the node exits).
            stopping.store(true, ordering: .sequentiallyConsistent)
            log.error("superseded: a newer copy of this node reported to the registry; stopping", ["registry": url, "reason": message])
            onSuperseded(message)
        } catch RegistryClientError.retired(let message) {
            // Typically an old copy on a host that was cut off while the registry replaced it:
            // its ID and key are tombstoned, so it is refused everywhere for good.
            stopping.store(true, ordering: .sequentiallyConsistent)
            log.error("retired: the registry says this node was removed from the cluster for good; stopping", ["registry": url, "reason": message])
            onSuperseded("retired: \(message)")
        } catch {
            failed(i, url: url, error: error)
        }
    }

    func learnPeers(_ answer: JSON) {
        let nodes = answer["nodes"]?.arrayValue ?? []
        let peers = nodes.compactMap { n -> (id: String, p2pAddr: String)? in
            guard let id = n["id"]?.stringValue, id != nodeId, let p2p = n["p2pAddr"]?.stringValue, !p2p.isEmpty else { return nil }
            return (id, p2p)
        }
        if !peers.isEmpty { onPeers(peers) }
    }

    /// A voter that has seen no leader for a while tells the registry, at most every 10 s.
    func checkConsensus(_ body: JSONObject, url: String, now: Double) {
        let isVoter = body["voters"]?.arrayValue?.contains(.string(nodeId)) ?? false
        let leaderless = body["leader"] == nil || body["leader"] == .null || body["leader"] == .string("")
        let report = state.withLock { s -> Bool in
            guard isVoter && leaderless else { s.leaderlessSince = nil; return false }
            let since = s.leaderlessSince ?? now
            s.leaderlessSince = since
            guard now - since >= Double(settings.consensusFailureAfterMs) / 1000, now - s.lastFailureReport >= 10 else { return false }
            s.lastFailureReport = now
            return true
        }
        guard report else { return }
        log.warn("no leader for a while; reporting a consensus failure", ["registry": url])
        _ = try? call(url, "POST", "/consensus-failure", ["nodeId": .string(nodeId), "reason": .string("no leader for \(settings.consensusFailureAfterMs) ms")])
    }

    func succeeded(_ i: Int, latencyMs: Double) {
        state.withLock { s in
            s.failures[i] = 0
            s.backoffMs[i] = settings.backoffInitialMs
            s.registeredWith = i
            s.latencyMs[i] = s.latencyMs[i] == 0 ? latencyMs : 0.8 * s.latencyMs[i] + 0.2 * latencyMs
        }
    }

    func failed(_ i: Int, url: String, error: any Error) {
        let backedOff = state.withLock { s -> Int? in
            s.failures[i] += 1
            if s.registeredWith == i { s.registeredWith = nil }
            guard s.failures[i] >= settings.failuresBeforeUnhealthy else { return nil }
            let jitter = Double.random(in: 0.8...1.2, using: &s.rng)
            let ms = Int(Double(s.backoffMs[i]) * jitter)
            s.backoffUntil[i] = Self.now() + Double(ms) / 1000
            s.backoffMs[i] = min(s.backoffMs[i] * 2, settings.backoffMaxMs)
            s.failures[i] = 0
            return ms
        }
        if let ms = backedOff {
            log.warn("registry unhealthy; backing off and trying the next", ["registry": url, "backoff_ms": ms, "reason": "\(error)"])
        }
    }

    /// The next call of this node: a sequence above every one signed before (and not below the clock).
    func signed(_ kind: SignedRegistryCall.Kind, _ body: [UInt8]) -> SignedRegistryCall {
        let now = Date().timeIntervalSince1970
        let sequence = state.withLock { s in
            s.sequence = max(s.sequence &+ 1, UInt64(max(0, now * 1_000_000)))
            return s.sequence
        }
        return SignedRegistryCall(kind: kind, nodeId: nodeId, nodeKey: nodeKey.publicKey, sequence: sequence,
                                  timestampMs: UInt64(max(0, now * 1000)), body: body)
    }

    func call(_ base: String, _ method: String, _ path: String, _ body: JSON?) throws -> JSON {
        let client = try HTTPClient(baseURL: base)
        defer { client.close() }
        var headers = HTTPHeaders()
        let bytes = body?.serialized() ?? []
        if body != nil { headers.add("Content-Type", "application/json") }
        if !settings.token.isEmpty { headers.add("Authorization", "Bearer \(settings.token)") }
        if method == "POST", let kind = SignedRegistryCall.Kind(path: path) {
            for (name, value) in signed(kind, bytes).headers(signedWith: nodeKey) { headers.add(name, value) }
        }
        let r = try client.request(method: method, path: path, headers: headers, body: bytes,
                                   timeout: .milliseconds(settings.requestTimeoutMs))
        if let fenced = Self.fencingRefusal(status: r.status, body: r.body) { throw fenced }
        guard (200..<300).contains(r.status) else { throw RegistryClientError.status(r.status, r.bodyText) }
        return (try? JSON.parse(r.body)) ?? .null
    }

    /// The registry's answers that end this copy of the node: 409 `superseded` (a newer copy
    /// reported), 409 `retired` or `retired_key` (its ID or key was removed from the cluster for
    /// good). Any other answer, a 409 of another code included, is an ordinary failure.
    static func fencingRefusal(status: Int, body: [UInt8]) -> RegistryClientError? {
        guard status == 409, let error = (try? JSON.parse(body))?["error"], let code = error["code"]?.stringValue else { return nil }
        let message = error["message"]?.stringValue ?? code
        switch code {
        case "superseded": return .superseded(message)
        case "retired", "retired_key": return .retired(message)
        default: return nil
        }
    }
}

public enum RegistryClientError: Error, CustomStringConvertible {
    case status(Int, String)
    /// The registry answered 409 `superseded` (fencing): a newer copy of this node runs.
    case superseded(String)
    /// The registry answered 409 `retired` or `retired_key`: this node's ID or key is tombstoned.
    case retired(String)
    public var description: String {
        switch self {
        case .superseded(let message): "superseded: \(message)"
        case .retired(let message): "retired: \(message)"
        case .status(let code, let body): "HTTP \(code): \(body.prefix(200))"
        }
    }
}
