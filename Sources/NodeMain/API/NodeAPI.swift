import Chain
import Dispatch
import P2P
import Synchronization

/// The node's REST API (DESIGN section 7, docs/openapi.yaml): routing, input checks and answers.
/// Reads come from the shared state and the chain reader; writes go through the mempool.
final class NodeAPI: Sendable {
    let settings: NodeSettings
    let state: NodeState
    let runtime: NodeRuntime
    let reader: ChainReader
    let metrics: NodeMetrics
    let nodeKey: PublicKey
    private let work = DispatchQueue(label: "api-work", qos: WorkPriority.bulk, attributes: .concurrent)
    /// Bounds what waits for or runs on `work` (`api.max_queued_requests`).
    let workGate: WorkGate
    let transport = Mutex<PeerTransport?>(nil)
    /// `?wait=commit` submissions forwarded to the leader, followed across leader changes.
    let forwarded = ForwardedCommits()
    /// `txs` requests sent to the leader over the peer link, waiting for its answer.
    let leaderForwards: LeaderForwards
    /// Forwarded transfers each member has waiting here (as leader), bounded per member.
    let forwardedBudget: PeerWorkBudget
    /// Serves members' `txs` requests off the peer loop.
    let forwardedWork = DispatchQueue(label: "forwarded-txs", qos: WorkPriority.bulk, attributes: .concurrent)
    /// What this node accepted as leader and still holds after losing leadership.
    let stranded = StrandedMempool()
    private let served = Atomic<UInt64>(0)
    private let drainingFlag = Atomic<Bool>(false)
    /// Set when the node stops: submissions are refused with 503 `draining`.
    var draining: Bool {
        get { drainingFlag.load(ordering: .relaxed) }
        set { drainingFlag.store(newValue, ordering: .relaxed) }
    }
    /// Requests answered since start (the registry's request-rate signal).
    var requestsServed: UInt64 { served.load(ordering: .relaxed) }
    private let apiAddressBox = Mutex<String>("")

    func attach(_ t: PeerTransport) {
        transport.withLock { $0 = t }
        t.attachForwarding(self)
        apiAddressBox.withLock { $0 = t.identity.apiAddr }
    }

    var apiAddress: String { apiAddressBox.withLock { $0 } }

    func transportPeers() -> [PeerInfo] { transport.withLock { $0 }?.peers ?? [] }

    init(settings: NodeSettings, state: NodeState, runtime: NodeRuntime, reader: ChainReader, metrics: NodeMetrics, nodeKey: PublicKey) {
        self.settings = settings
        self.state = state
        self.runtime = runtime
        self.reader = reader
        self.metrics = metrics
        self.nodeKey = nodeKey
        self.workGate = WorkGate(limit: settings.api.maxQueuedRequests)
        self.leaderForwards = LeaderForwards(limit: settings.api.maxForwardsInFlight, timeoutMs: settings.api.forwardTimeoutMs)
        self.forwardedBudget = PeerWorkBudget(limitPerPeer: settings.p2p.maxForwardedTxsPerPeer)
    }

    /// Largest body accepted for a route; the server answers 413 above it without reading on.
    func maxBodyBytes(method: String, path: String) -> Int {
        path == "/submit-txs" ? settings.api.maxBatchBodyBytes : settings.api.maxBodyBytes
    }

    /// Entry point from the HTTP server (on its loop thread). Cheap routes answer inline; routes
    /// that parse, verify or touch SQLite move to the work queue.
    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let route = Route.match(method: request.method, path: request.path)
        served.wrappingAdd(1, ordering: .relaxed)
        let reply: @Sendable (HTTPResponse) -> Void = { [metrics] response in
            metrics.httpRequests.inc(1, route.label, String(response.status))
            responder.send(response)
        }
        switch route {
        case .chainHead:
            reply(HTTPResponse.json(status: 200, body: state.head.headBody))
        case .healthLive:
            reply(.json(["status": "ok"]))
        case .healthReady:
            reply(readiness())
        case .status:
            reply(.json(statusJSON()))
        case .peers:
            reply(.json(["peers": .array(transportPeers().map(Self.peerJSON))]))
        case .members:
            reply(.json(membersJSON()))
        case .metrics:
            metrics.mempoolTxs.set(Double(state.withLock { $0.mempool.count }))
            reply(HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]),
                               body: Array(metrics.registry.render().utf8)))
        case .notFound:
            reply(APIError.notFound("no route for \(request.path)").response)
        case .methodNotAllowed(let allowed):
            var r = APIError(code: "method_not_allowed",
                             message: "\(request.method) is not allowed on \(request.path); use \(allowed)").response
            r.headers.add("Allow", allowed)
            reply(r)
        case _ where route.isWrite && !HTTPMediaType.isJSON(request.headers["Content-Type"]):
            reply(APIError(code: "unsupported_media_type",
                           message: "\(route.label) takes a JSON body: send Content-Type: application/json").response)
        case .submitTx where draining, .submitTxs where draining:
            reply(APIError(code: "draining", message: "this node is shutting down; submit to another node").response)
        case .submitTx, .submitTxs, .membersAddLearner, .membersPromote, .membersRemove, .leadershipTransfer:
            if let fault = runtime.storage.fault {
                reply(APIError(code: "insufficient_storage",
                               message: "this node's storage refuses writes (\(fault.reason): \(fault.message)); it is read-only until space returns, submit to another node").response)
                return
            }
            dispatchWork(route, request, reply)
        default:
            dispatchWork(route, request, reply)
        }
    }

    private func dispatchWork(_ route: Route, _ request: HTTPRequest, _ reply: @escaping @Sendable (HTTPResponse) -> Void) {
        guard workGate.enter() else {
            reply(APIError(code: "overloaded",
                           message: "more than \(workGate.limit) requests are queued on this node; retry shortly").response)
            return
        }
        work.async { [self] in
            defer { workGate.leave() }
            do {
                try self.handleWork(route, request, reply)
            } catch let e as APIError {
                reply(e.response)
            } catch {
                reply(APIError(code: "internal", message: "\(error)").response)
            }
        }
    }

    private func handleWork(_ route: Route, _ request: HTTPRequest, _ reply: @escaping @Sendable (HTTPResponse) -> Void) throws {
        switch route {
        case .block(let raw):
            guard raw.allSatisfy({ $0.isASCII && $0.isNumber }), let height = UInt64(raw) else {
                throw APIError.badRequest("invalid_height", "block height must be a whole number, got '\(raw)'")
            }
            let form = try blockForm(request)
            guard let block = try reader.block(at: height) else { throw APIError.notFound("no block at height \(height)") }
            reply(.json(["block": form(block)]))
        case .chainHeaders:
            reply(.json(try headersJSON(request)))
        case .blockByHash(let raw):
            let hash = try parseHash(raw)
            let form = try blockForm(request)
            guard let block = try reader.block(hash: hash) else { throw APIError.notFound("no block with hash \(hash.hex)") }
            reply(.json(["block": form(block)]))
        case .tx(let raw):
            reply(.json(try txJSON(try parseHash(raw))))
        case .balance(let raw):
            guard raw.hasPrefix("0x"), let address = Address(hex: raw) else {
                throw APIError.badRequest("invalid_address", "address must be 0x followed by 40 hex digits, got '\(raw.prefix(100))'")
            }
            let account = state.account(address)
            let height = state.head.header.height
            reply(.json(["address": .string(address.hex), "balance": .uint(account.balance),
                         "nonce": .uint(account.nonce), "height": .uint(height)]))
        case .submitTx:
            try submitOne(request, reply)
        case .submitTxs:
            try submitBatch(request, reply)
        case .membersAddLearner, .membersPromote, .membersRemove, .leadershipTransfer:
            try membershipOp(route, request, reply)
        default:
            preconditionFailure("route \(route) is answered inline")
        }
    }

    /// `?txs=full` (the default: every transaction) or `?txs=hashes` (their hashes only).
    func blockForm(_ request: HTTPRequest) throws -> (Block) -> JSON {
        switch request.query("txs") {
        case nil, "full": return { $0.json }
        case "hashes": return { $0.jsonWithTxHashes }
        case let other?: throw APIError.badRequest("invalid_query", "txs must be 'full' or 'hashes', got '\(other.prefix(40))'")
        }
    }

    func parseHash(_ raw: String) throws -> Hash32 {
        guard raw.count == 66 || raw.count == 64, let hash = Hash32(hex: raw) else {
            throw APIError.badRequest("invalid_hash", "hash must be 0x followed by 64 hex digits, got '\(raw.prefix(100))'")
        }
        return hash
    }

    func txJSON(_ hash: Hash32) throws -> JSON {
        if let tx = state.withLock({ $0.mempool.get(hash) }) {
            return ["tx": tx.json, "status": "pending"]
        }
        guard let found = try reader.transaction(hash: hash) else { throw APIError.notFound("no transaction \(hash.hex)") }
        return ["tx": found.tx.json, "status": "committed", "height": .uint(found.height), "index": .int(found.index)]
    }

    private func readiness() -> HTTPResponse {
        let st = runtime.status
        if let fault = runtime.storage.fault {
            return APIError(code: "not_ready",
                            message: "storage degraded (\(fault.reason), \(fault.code)): the node is read-only until a write succeeds again").response
        }
        if st.syncing {
            return APIError(code: "not_ready", message: "block sync in progress (target \(st.syncTarget))").response
        }
        guard st.leader != nil else {
            return APIError(code: "not_ready", message: "no leader known (role \(st.role.rawValue), term \(st.term))").response
        }
        return .json(["status": "ready", "role": .string(st.role.rawValue), "height": .uint(state.head.header.height)])
    }

    func statusJSON() -> JSON {
        let st = runtime.status
        let head = state.head
        let mempool = state.withLock { $0.mempool.count }
        return [
            "chainId": .string(state.chainId), "genesisHash": .string(state.genesisHash.hex),
            "nodeId": .string(settings.node.id), "nodeKey": .string(nodeKey.hex), "incarnation": .uint(settings.node.incarnation),
            "role": .string(st.role.rawValue), "term": .uint(st.term), "leader": st.leader.map { .string($0) } ?? .null,
            "height": .uint(head.header.height), "headHash": .string(head.hash.hex),
            "commitIndex": .uint(st.commitIndex), "peers": .array(transportPeers().map { .string($0.nodeId) }),
            "mempool": .int(mempool), "storage": .string(runtime.storage.fault?.reason ?? "ok"),
            "sync": ["state": .string(st.syncing ? "syncing" : "synced"), "target": .uint(max(st.syncTarget, head.header.height))],
            "voters": .array(st.membership.voters.map { .string($0) }), "learners": .array(st.membership.learners.map { .string($0) }),
        ]
    }

    /// One entry of `GET /peers`; `incarnation` only when the peer's auth frame carried one.
    static func peerJSON(_ p: PeerInfo) -> JSON {
        var fields = JSONObject([("nodeId", .string(p.nodeId)), ("nodeKey", .string(p.nodeKey.hex)), ("p2pAddr", .string(p.p2pAddr)),
                                 ("apiAddr", .string(p.apiAddr)), ("height", .uint(p.height)),
                                 ("direction", .string(p.direction.rawValue)), ("member", .bool(p.isMember))])
        if let incarnation = p.incarnation { fields["incarnation"] = .uint(incarnation) }
        return .object(fields)
    }

    static func headBody(chainId: String, block: Block) -> [UInt8] {
        // The header's fields (and a membership change's), never the transactions: this runs on
        // the runtime thread for every commit, and blocks hold up to 2,000 transfers.
        var head = block.header.json.objectValue ?? JSONObject()
        if let change = block.membership { head["membership"] = change.json }
        return JSON.object(JSONObject([("chainId", .string(chainId)), ("head", .object(head))])).serialized()
    }
}
