import Chain
import Consensus
import Dispatch
import FoundationEssentials
import P2P

/// Membership operations (`autochain members ...`) and leadership transfer. Mutating calls carry
/// the cluster token, when one is configured, as `Authorization: Bearer <token>`; they are
/// answered by the leader (a follower says who leads).
extension NodeAPI {
    func membersJSON() -> JSON {
        let st = runtime.status
        let m = st.membership
        let peers = Dictionary(transportPeers().map { ($0.nodeId, $0) }, uniquingKeysWith: { a, _ in a })
        func member(_ id: String, _ role: String) -> JSON {
            var o = JSONObject([("id", .string(id)), ("role", .string(st.leader == id ? "leader" : role))])
            o["nodeKey"] = m.keys[id].map { .string($0.hex) } ?? .null
            o["apiAddr"] = id == settings.node.id ? .string(apiAddress) : peers[id].map { .string($0.apiAddr) } ?? .null
            o["match"] = st.progress[id].map { .uint($0) } ?? .null
            return .object(o)
        }
        return ["leader": st.leader.map { .string($0) } ?? .null, "term": .uint(st.term), "commitIndex": .uint(st.commitIndex),
                "voters": .array(m.voters.map { member($0, "voter") }), "learners": .array(m.learners.map { member($0, "learner") }),
                "retired": .array(m.retired.map { .string($0) })]
    }

    /// Mutating membership calls carry the cluster credential. A node always has one (made or
    /// given at start); were it ever missing, every such call is refused, never let through.
    func checkToken(_ request: HTTPRequest) throws {
        let credential = try? ClusterCredential(settings.p2p.clusterToken)
        guard let credential, credential.authorizes(authorizationHeader: request.headers["Authorization"]) else {
            metrics.unauthorized.inc(1, Route.match(method: request.method, path: request.path).label)
            throw APIError(code: "unauthorized", message: "this call needs Authorization: Bearer <cluster credential>")
        }
    }

    func membershipOp(_ route: Route, _ request: HTTPRequest, _ reply: @escaping @Sendable (HTTPResponse) -> Void) throws {
        try checkToken(request)
        let body = try parseBody(request.body)
        if route == .leadershipTransfer {
            let to = body["to"]?.stringValue
            let accepted = runtime.post(.transferLeadership(to: to, done: { ok in
                reply(ok ? .json(["status": "transferred"]) :
                    APIError(code: "transfer_failed", message: "leadership was not transferred in time").response)
            }))
            if !accepted { throw APIError(code: "busy", message: "the node is overloaded; retry") }
            return
        }
        guard let id = body["nodeId"]?.stringValue, MembershipChange.isValidNodeId(id) else {
            throw APIError.badRequest("invalid_field", "nodeId must match \(NodeIDGrammar.pattern)")
        }
        let change: MembershipChange
        switch route {
        case .membersAddLearner:
            guard let text = body["nodeKey"]?.stringValue, let key = PublicKey(hex: text) else {
                throw APIError.badRequest("invalid_field", "nodeKey must be 64 hex digits (the node's public key, see its /status)")
            }
            change = MembershipChange(kind: .addLearner, nodeId: id, nodeKey: key)
        case .membersPromote: change = MembershipChange(kind: .promote, nodeId: id)
        default: change = MembershipChange(kind: .remove, nodeId: id)
        }
        let settingsCopy = settings
        let accepted = runtime.post(.membership(change, reply: { [self] outcome in
            switch outcome {
            case .proposed(let height):
                reply(.json(["status": "proposed", "op": .string(change.kind.name), "nodeId": .string(id), "height": .uint(height)], status: 202))
            case .notLeader(let leader):
                reply(notLeader(leader, settingsCopy))
            case .refused(let why):
                reply(APIError(code: why.code, message: why.message).response)
            }
        }))
        if !accepted { throw APIError(code: "busy", message: "the node is overloaded; retry") }
    }

    func notLeader(_ leader: String?, _ settings: NodeSettings) -> HTTPResponse {
        let api = leader.flatMap { l in transportPeers().first { $0.nodeId == l }?.apiAddr }
        var err = JSONObject([("code", "not_leader"), ("message", .string("this node does not lead; the leader is \(leader ?? "unknown")"))])
        err["leader"] = leader.map { .string($0) } ?? .null
        err["leaderApi"] = api.map { .string("http://\($0)") } ?? .null
        return .json(["error": .object(err)], status: 409)
    }
}

