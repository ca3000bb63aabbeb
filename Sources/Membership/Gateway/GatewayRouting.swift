/// The gateway's decisions, kept free of I/O so they can be tested as plain values: which nodes
/// a request tries, in what order, and whether a failed attempt may be tried again elsewhere.
///
/// Promises:
/// - Reads and writes are spread round-robin over the nodes the registry reported: each request
///   starts one node further along. Nodes the registry calls `alive` come before `suspect` ones,
///   and a node that failed a connection within `failureCooldownS` comes last (still tried when
///   nothing better is left, so a wrong guess never turns the gateway away from a working node).
/// - A plan never names a node twice and holds at most `maxAttempts` nodes.
/// - The retry rule (`mayRetry`) never sends a request twice when sending it twice could apply a
///   change twice; see there.
public struct GatewayRouting: Sendable {
    /// A node requests can be forwarded to, as `GET /discover` reports it.
    public struct Node: Sendable, Equatable {
        public let id: String
        /// `http://host:port` of its REST API.
        public let apiURL: String
        /// The registry's view: `alive` or `suspect` (dead nodes are not reported).
        public let suspect: Bool

        public init(id: String, apiURL: String, suspect: Bool = false) {
            self.id = id
            self.apiURL = apiURL
            self.suspect = suspect
        }
    }

    /// How an attempt on one node failed.
    public enum Failure: Sendable, Equatable {
        /// The request provably never reached the node: the connection was refused or never
        /// established, nothing of the request was written.
        case notDelivered
        /// The connection broke or timed out after the request was (maybe partly) written: the
        /// node may have acted on it.
        case afterSending
    }

    public let maxAttempts: Int
    public let failureCooldownS: Double
    public private(set) var nodes: [Node] = []
    private var nextStart = 0
    /// Node ID -> when it last failed to take a connection (monotonic seconds).
    private var failedAt: [String: Double] = [:]

    public init(maxAttempts: Int, failureCooldownS: Double) {
        precondition(maxAttempts >= 1, "a request is tried at least once")
        self.maxAttempts = maxAttempts
        self.failureCooldownS = failureCooldownS
    }

    /// Takes the registry's latest list (duplicate IDs after the first are ignored). Failure marks
    /// of nodes no longer listed are forgotten, so the table is bounded by the list.
    public mutating func replace(nodes fresh: [Node]) {
        var seen = Set<String>()
        nodes = fresh.filter { seen.insert($0.id).inserted }
        failedAt = failedAt.filter { seen.contains($0.key) }
    }

    /// Records that `id` failed a connection at `now`: it goes to the back of plans for a while.
    public mutating func markFailed(_ id: String, now: Double) {
        guard nodes.contains(where: { $0.id == id }) else { return }
        failedAt[id] = now
    }

    /// Records that `id` answered: any failure mark is cleared.
    public mutating func markAnswered(_ id: String) {
        failedAt[id] = nil
    }

    /// The nodes one request tries, in order (empty when none is known). Advances the rotation.
    public mutating func plan(now: Double) -> [Node] {
        guard !nodes.isEmpty else { return [] }
        let start = nextStart % nodes.count
        nextStart = (start + 1) % nodes.count
        if failedAt.isEmpty && !nodes.contains(where: \.suspect) {  // the usual case, per request: no ranking needed
            return (0..<min(maxAttempts, nodes.count)).map { nodes[(start + $0) % nodes.count] }
        }
        let rotated = Array(nodes[start...] + nodes[..<start])
        func rank(_ n: Node) -> Int {
            if let at = failedAt[n.id], now - at < failureCooldownS { return 2 }
            return n.suspect ? 1 : 0
        }
        // A stable partition by rank keeps the rotation inside each rank.
        let ordered = (0...2).flatMap { r in rotated.filter { rank($0) == r } }
        return Array(ordered.prefix(maxAttempts))
    }

    /// Whether a request that failed on one node may be sent to another.
    ///
    /// The rule: a request that provably never reached a node (`notDelivered`: connection refused
    /// or never established) is retried whatever it is — no node saw it. A request that may have
    /// reached a node (`afterSending`: the node died or timed out mid-request) is retried only
    /// when doing it twice is harmless:
    /// - reads (`GET`, `HEAD`) change nothing;
    /// - `POST /submit-tx` is idempotent by transaction hash: the same signed transfer sent again
    ///   is recognised (`already_known` while pending, `nonce_too_low`/committed once in a block)
    ///   and can never be applied twice;
    /// - every other write (batches, membership, leadership) is not retried: the client gets the
    ///   error and decides, since it may have taken effect.
    public static func mayRetry(method: String, path: String, failure: Failure) -> Bool {
        switch failure {
        case .notDelivered: return true
        case .afterSending: return method == "GET" || method == "HEAD" || (method == "POST" && path == "/submit-tx")
        }
    }
}
