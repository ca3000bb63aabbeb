import Chain
import Consensus
import FoundationEssentials
import P2P

/// The registry's REST API (DESIGN §7). Errors have the node API's shape and stable codes.
extension RegistryService {
    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let route = Self.routeLabel(request.method, request.path)
        let reply: @Sendable (HTTPResponse) -> Void = { [metrics] r in
            metrics.requests.inc(1, route, String(r.status))
            responder.send(r)
        }
        do {
            reply(try answer(request))
        } catch let e as RegistryAPIError {
            reply(.json(status: e.status, body: JSON.object(JSONObject([("error", .object(JSONObject([("code", .string(e.code)), ("message", .string(e.message))])))])).serialized()))
        } catch {
            reply(.json(status: 500, body: JSON.object(JSONObject([("error", .object(JSONObject([("code", "internal"), ("message", .string("\(error)"))])))])).serialized()))
        }
    }

    static func routeLabel(_ method: String, _ path: String) -> String {
        if path.hasPrefix("/nodes/") { return "/nodes/{id}" }
        let known = ["/", "/register", "/heartbeat", "/discover", "/discover/prometheus", "/health", "/status", "/events", "/series", "/consensus-failure", "/scale", "/metrics"]
        return known.contains(path) ? path : "unmatched"
    }

    func answer(_ request: HTTPRequest) throws -> HTTPResponse {
        let m = request.method
        switch request.path {
        case "/":
            try allow(m, "GET")
            return HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "text/html; charset=utf-8")]), body: Array(Dashboard.html.utf8))
        case "/register", "/heartbeat":
            try allow(m, "POST")
            try checkToken(request)
            let b = try body(request)
            let kind: SignedRegistryCall.Kind = request.path == "/register" ? .register : .heartbeat
            return try heartbeat(b, call: try signedCall(request, kind, b))
        case "/discover":
            try allow(m, "GET")
            return .json(status: 200, body: discoverJSON().serialized())
        case "/discover/prometheus":
            try allow(m, "GET")
            return .json(status: 200, body: PrometheusDiscovery.targetGroups(discover: discoverJSON()).serialized())
        case "/health":
            try allow(m, "GET")
            guard let id = request.query("node_id"), !id.isEmpty else {
                throw RegistryAPIError("missing_field", "query parameter node_id is required")
            }
            guard NodeIDGrammar.isValid(id) else { throw RegistryAPIError("invalid_field", "node_id must match \(NodeIDGrammar.pattern)") }
            return .json(status: 200, body: try healthJSON(id).serialized())
        case "/status":
            try allow(m, "GET")
            return .json(status: 200, body: statusJSON().serialized())
        case "/events":
            try allow(m, "GET")
            let since = UInt64(request.query("since") ?? "0") ?? 0
            let events = state.withLock { $0.events.filter { $0.seq > since } }
            return .json(status: 200, body: JSON.object(JSONObject([("events", .array(events.map(\.json)))])).serialized())
        case "/series":
            try allow(m, "GET")
            return .json(status: 200, body: seriesJSON().serialized())
        case "/consensus-failure":
            try allow(m, "POST")
            try checkToken(request)
            let b = try body(request)
            let call = try signedCall(request, .consensusFailure, b)
            try admit(call)
            let reason = b["reason"]?.stringValue ?? "reported"
            let now = Self.now()
            perform(state.withLock { $0.core.consensusFailureReported(by: call.nodeId, reason: reason, at: now) })
            return .json(status: 202, body: JSON.object(JSONObject([("status", "accepted")])).serialized())
        case "/scale":
            try allow(m, "POST")
            try checkToken(request)
            let b = try body(request)
            guard let field = b["target_nodes"] else { throw RegistryAPIError("missing_field", "field target_nodes is required") }
            guard case .int(let n) = field else { throw RegistryAPIError("invalid_field", "target_nodes must be an integer") }
            let a = settings.autoscaler
            guard n >= Int64(a.minNodes), n <= Int64(a.maxNodes) else {
                throw RegistryAPIError("out_of_range", "target_nodes must be between \(a.minNodes) and \(a.maxNodes), got \(n)")
            }
            perform(state.withLock { $0.core.scale(to: Int(n)) })
            return .json(status: 202, body: JSON.object(JSONObject([("status", "accepted"), ("target_nodes", .int(n))])).serialized())
        case "/metrics":
            try allow(m, "GET")
            return HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]),
                                body: Array(metrics.registry.render().utf8))
        default:
            if request.path.hasPrefix("/nodes/") {
                try allow(m, "DELETE")
                try checkToken(request)
                return try retire(String(request.path.dropFirst("/nodes/".count)))
            }
            throw RegistryAPIError("not_found", "no route for \(request.path.prefix(200))")
        }
    }

    func allow(_ method: String, _ allowed: String) throws {
        let ok = method == allowed || (allowed == "GET" && method == "HEAD")
        if !ok { throw RegistryAPIError("method_not_allowed", "\(method) is not allowed here; use \(allowed)") }
    }

    /// Every call that changes the registry's view or the cluster carries the cluster credential
    /// (compared in constant time) and, when it has a body, a JSON one: a web page can send
    /// neither. A registry without a credential refuses them all: deny by default.
    func checkToken(_ request: HTTPRequest) throws {
        let credential = try? ClusterCredential(settings.clusterToken)
        guard let credential, credential.authorizes(authorizationHeader: request.headers["Authorization"]) else {
            metrics.unauthorized.inc(1, Self.routeLabel(request.method, request.path))
            throw RegistryAPIError("unauthorized", "this call needs Authorization: Bearer <cluster credential>")
        }
        if request.method == "POST", !HTTPMediaType.isJSON(request.headers["Content-Type"]) {
            throw RegistryAPIError("unsupported_media_type", "this call takes a JSON body: send Content-Type: application/json")
        }
    }

    func body(_ request: HTTPRequest) throws -> JSON {
        guard !request.body.isEmpty else { throw RegistryAPIError("invalid_json", "request body is empty") }
        let value: JSON
        do { value = try JSON.parse(request.body) } catch { throw RegistryAPIError("invalid_json", "body is not valid JSON: \(error)") }
        guard case .object = value else { throw RegistryAPIError("invalid_json", "body must be a JSON object") }
        return value
    }

    /// The node's signed call (docs/PROTOCOL.md): signature verified over the exact body bytes,
    /// for the node ID in the body. Not yet checked against pins, sequence or clock (`admit`).
    func signedCall(_ request: HTTPRequest, _ kind: SignedRegistryCall.Kind, _ b: JSON) throws -> SignedRegistryCall {
        guard let id = b["nodeId"]?.stringValue, MembershipChange.isValidNodeId(id) else {
            throw RegistryAPIError("invalid_field", "nodeId must match \(NodeIDGrammar.pattern)")
        }
        do throws(RegistryCallRefusal) {
            return try SignedRegistryCall.verified(kind: kind, headers: request.headers, body: request.body, nodeId: id)
        } catch {
            throw refused(error, id)
        }
    }

    /// Admits a signed call of a pinned node (no new slot): reports, not registrations.
    func admit(_ call: SignedRegistryCall) throws {
        let expected = provider.nodeKey(call.nodeId)
        let nowMs = Self.unixMs()
        do throws(RegistryCallRefusal) {
            try state.withLock { s throws(RegistryCallRefusal) in
                try s.pins.admit(call, nowMs: nowMs, maxSkewMs: UInt64(settings.signedClockSkewS) * 1000, expectedKey: expected,
                                 slotFree: false, slotLimit: settings.maxNodes)
            }
        } catch {
            throw refused(error, call.nodeId)
        }
    }

    /// Counts a refused node call and turns it into the API error (recorded as an event at most once a second).
    func refused(_ refusal: RegistryCallRefusal, _ id: String) -> RegistryAPIError {
        metrics.callsRefused.inc(1, refusal.code)
        record(.nodeCallRefused, id, "a call for \(id) refused: \(refusal.code) (\(refusal.message))", atMostEvery: settings.refusedCallEventIntervalS)
        return RegistryAPIError(refusal.code, refusal.message)
    }

    /// Milliseconds since the Unix epoch (signed calls carry wall-clock time).
    static func unixMs() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) }

    /// `POST /register` and `POST /heartbeat`: the node's own signed report, the registry's soft
    /// state. The node's key is pinned at its registration (or was, at spawn); a slot is taken
    /// only once the call is admitted.
    func heartbeat(_ b: JSON, call: SignedRegistryCall) throws -> HTTPResponse {
        let id = call.nodeId
        // null is "none" (a node that knows no leader yet sends "leader": null): refusing it would
        // silence every node during an election or a join, and the registry would see them late.
        func text(_ k: String) throws -> String {
            guard let v = b[k], v != .null else { return "" }
            guard let s = v.stringValue, s.utf8.count <= 256 else { throw RegistryAPIError("invalid_field", "\(k) must be a string of at most 256 bytes") }
            return s
        }
        func uint(_ k: String) throws -> UInt64 {
            guard let v = b[k] else { return 0 }
            guard case .int(let i) = v, i >= 0 else { throw RegistryAPIError("invalid_field", "\(k) must be a non-negative integer") }
            return UInt64(i)
        }
        func role() throws -> Role? { try Role.reported(text("role")) }
        func number(_ k: String) throws -> Double? {
            guard let v = b[k], v != .null else { return nil }
            guard let d = v.doubleValue, d.isFinite, d >= 0 else { throw RegistryAPIError("invalid_field", "\(k) must be a non-negative number") }
            return d
        }
        func ids(_ k: String) throws -> [String] {
            guard let v = b[k] else { return [] }
            guard let a = v.arrayValue, a.count <= 256 else { throw RegistryAPIError("invalid_field", "\(k) must be an array of node IDs") }
            return try a.map { e in
                guard let s = e.stringValue, MembershipChange.isValidNodeId(s) else { throw RegistryAPIError("invalid_field", "\(k) must hold node IDs") }
                return s
            }
        }
        let apiUrl = try text("apiUrl"), p2p = try text("p2pAddr")
        guard apiUrl.hasPrefix("http://") else { throw RegistryAPIError("invalid_field", "apiUrl must be an http:// URL") }
        let claimedKey = try text("nodeKey")
        guard claimedKey.isEmpty || PublicKey(hex: claimedKey) == call.nodeKey else {
            throw RegistryAPIError("invalid_field", "nodeKey must be the key that signed the call")
        }
        let expectedKey = provider.nodeKey(id)
        let nowMs = Self.unixMs()
        let load = NodeLoad(cpu: try number("cpu"), requestRate: try number("requestRate"), mempool: try number("mempool"),
                            submitLatencyMs: try number("submitLatencyMs"))
        let degraded = try text("degraded")
        var report = NodeReport(id: id, apiUrl: apiUrl, p2pAddr: p2p, nodeKey: call.nodeKey.hex)
        (report.height, report.commitIndex, report.term, report.role) = (try uint("height"), try uint("commitIndex"), try uint("term"), try role())
        let leader = try text("leader")
        report.leader = leader.isEmpty ? nil : leader
        (report.voters, report.learners, report.retiredIds) = (try ids("voters"), try ids("learners"), try ids("retired"))
        report.load = load
        report.degraded = degraded.isEmpty ? nil : degraded
        report.evidence = try Self.evidenceReport(b["evidence"])
        report.incarnation = try uint("incarnation")
        let now = Self.now()
        enum Admission { case retired, refused(RegistryCallRefusal), fenced(NodeReportRefusal), admitted([RegistryEffect]) }
        let admission = state.withLock { s -> Admission in
            if s.core.isRetired(id) { return .retired }
            do throws(RegistryCallRefusal) {
                try s.pins.admit(call, nowMs: nowMs, maxSkewMs: UInt64(settings.signedClockSkewS) * 1000, expectedKey: expectedKey,
                                 slotFree: s.core.nodes[id] != nil || s.core.nodes.count < settings.maxNodes, slotLimit: settings.maxNodes)
            } catch {
                return .refused(error)
            }
            do throws(NodeReportRefusal) {
                return .admitted(try s.core.admit(report, at: now))
            } catch {
                return .fenced(error)
            }
        }
        switch admission {
        case .retired: throw RegistryAPIError("retired", "node ID \(id) was retired and is never reused")
        case .refused(let refusal): throw refused(refusal, id)
        case .fenced(let refusal):
            metrics.callsRefused.inc(1, refusal.code)
            record(refusal.code == "superseded" ? .supersededCopyRefused : .nodeCallRefused, id,
                   "a report of \(id) refused: \(refusal.code) (\(refusal.message))", atMostEvery: settings.refusedCallEventIntervalS)
            throw RegistryAPIError(refusal.code, refusal.message)
        case .admitted(let effects): perform(effects)
        }
        let peers = discoverJSON()
        return .json(status: 200, body: JSON.object(JSONObject([
            ("nodeId", .string(id)), ("heartbeatIntervalMs", .int(settings.heartbeatIntervalMs)), ("nodes", peers["nodes"] ?? .array([])),
        ])).serialized())
    }

    /// `GET /discover`: nodes that are not dead, for nodes finding peers and clients spreading load.
    func discoverJSON() -> JSON {
        let now = Self.now()
        let list = state.withLock { st in
            let s = st.core
            return s.nodes.values.sorted { $0.id < $1.id }.compactMap { r -> JSON? in
                let h = s.detector.health(node: r.id, now: now)
                guard h != .dead, !s.isDraining(r.id) else { return nil }
                return .object(JSONObject([("id", .string(r.id)), ("apiUrl", .string(r.apiUrl)), ("p2pAddr", .string(r.p2pAddr)),
                                           ("role", .string(r.role.wireName)), ("height", .uint(r.height)), ("state", .string(h.rawValue)),
                                           ("incarnation", .uint(r.incarnation))]))
            }
        }
        return .object(JSONObject([("nodes", .array(list))]))
    }

    func healthJSON(_ id: String) throws -> JSON {
        let now = Self.now()
        return try state.withLock { st in
            let s = st.core
            guard let r = s.nodes[id] else { throw RegistryAPIError("unknown_node", "the registry has not heard of \(id.prefix(64))") }
            let h = s.detector.health(node: id, now: now)
            var o = JSONObject([("id", .string(id)), ("state", .string(h.rawValue)), ("role", .string(r.role.wireName)), ("height", .uint(r.height))])
            o["lastHeartbeatAgoMs"] = r.lastHeartbeatAt.map { .int(Int64((now - $0) * 1000)) } ?? .null
            o["apiUrl"] = .string(r.apiUrl)
            o["managed"] = .bool(provider.isRunning(id) || provider.hasData(id))
            o["restartFailures"] = .int(Int64(s.restartFailures[id] ?? 0))
            return .object(o)
        }
    }

    func statusJSON() -> JSON {
        let now = Self.now()
        return state.withLock { st in
            let s = st.core
            let m = s.membership
            let nodes = s.nodes.values.sorted { $0.id < $1.id }.map { r -> JSON in
                var o = r.json.objectValue!
                o["state"] = .string(s.detector.health(node: r.id, now: now).rawValue)
                o["voter"] = .bool(m.voters.contains(r.id))
                o["lastHeartbeatAgoMs"] = r.lastHeartbeatAt.map { .int(Int64((now - $0) * 1000)) } ?? .null
                o["cpu"] = r.load.cpu.map { .double($0) } ?? .null
                o["requestRate"] = r.load.requestRate.map { .double($0) } ?? .null
                o["mempool"] = r.load.mempool.map { .double($0) } ?? .null
                return .object(o)
            }
            let alive = s.nodes.keys.filter { s.detector.health(node: $0, now: now) != .dead }.count
            let deadVoters = m.voters.filter { s.detector.health(node: $0, now: now) == .dead }.count
            return .object(JSONObject([
                ("provider", .string(provider.name)), ("uptimeSeconds", .double(now - startedAt)),
                ("leader", m.leader.map { .string($0) } ?? .null), ("commitIndex", .uint(m.commit)),
                ("voters", .array(m.voters.map { .string($0) })), ("learners", .array(m.learners.map { .string($0) })),
                ("quorum", .string(m.voters.isEmpty ? "unknown" : (deadVoters * 2 >= m.voters.count && deadVoters > 0 ? "lost" : "ok"))),
                ("aliveNodes", .int(Int64(alive))), ("targetNodes", s.operatorTarget.map { .int(Int64($0)) } ?? .null),
                ("minNodes", .int(Int64(settings.autoscaler.minNodes))), ("maxNodes", .int(Int64(settings.autoscaler.maxNodes))),
                ("inFlight", .array(s.inFlight.map { .string("\($0.action.kind.rawValue) \($0.action.node ?? "")") })),
                ("decisions", .uint(s.decisions)), ("nodes", .array(nodes)),
            ]))
        }
    }

    /// `GET /series`: the dashboard's time series of the last hour (`RegistrySeries`).
    func seriesJSON() -> JSON {
        let a = settings.autoscaler
        let now = Self.now() - startedAt
        return series.withLock { $0.json(now: now, targetValue: a.targetValue, tolerance: a.tolerance, metric: a.metric.rawValue,
                                          minNodes: a.minNodes, maxNodes: a.maxNodes) }
    }

    /// `DELETE /nodes/{id}`: an operator retires a node. The node drains at once; the rounds that
    /// follow move leadership away from it, take it out of the configuration and retire it (the
    /// answer says the request is accepted, not that the node is gone: `GET /events` tells).
    func retire(_ id: String) throws -> HTTPResponse {
        guard MembershipChange.isValidNodeId(id) else { throw RegistryAPIError("invalid_field", "bad node ID") }
        let hasData = provider.hasData(id)
        let effects: [RegistryEffect]
        do throws(RegistryRefusal) {
            effects = try state.withLock { s throws(RegistryRefusal) in try s.core.retireRequested(id, hasData: hasData) }
        } catch {
            throw RegistryAPIError("unknown_node", "the registry has not heard of \(id)")
        }
        perform(effects)
        return .json(status: 202, body: JSON.object(JSONObject([("status", "retiring"), ("nodeId", .string(id))])).serialized())
    }
}

/// A refusal the registry answers: its status is `code`'s row in `ErrorCodes` (the one table).
struct RegistryAPIError: Error {
    let status: Int
    let code: String
    let message: String
    init(_ code: String, _ message: String) {
        status = ErrorCodes.status(ofOwn: code)
        self.code = code
        self.message = message
    }
}

extension RegistryService {
    /// A heartbeat's optional `evidence` object: `{"count", "kind", "accused", "term"}`.
    static func evidenceReport(_ value: JSON?) throws -> EvidenceReport? {
        guard let value, value != .null else { return nil }
        let bad = RegistryAPIError("invalid_field",
                                   "evidence must be {\"count\": n, \"kind\": \"equivocating_leader\"|\"committed_conflict\", \"accused\": nodeId, \"term\": n}")
        guard case .object(let o) = value, let count = o["count"]?.intValue, count >= 0, let kind = o["kind"]?.stringValue,
              EvidenceReport.kinds.contains(kind), let accused = o["accused"]?.stringValue, NodeIDGrammar.isValid(accused),
              let term = o["term"]?.intValue, term >= 0 else { throw bad }
        return EvidenceReport(count: UInt64(count), kind: kind, accused: accused, term: UInt64(term))
    }
}
