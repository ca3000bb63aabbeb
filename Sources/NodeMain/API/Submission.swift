import Synchronization
import Chain
import Dispatch
import P2P

extension NodeAPI {
    /// `POST /submit-tx`: one transaction; `?wait=commit` answers once it is committed.
    func submitOne(_ request: HTTPRequest, _ reply: @escaping @Sendable (HTTPResponse) -> Void) throws {
        let wait = try waitMode(request)
        let body = try parseBody(request.body)
        let tx: Transaction
        do throws(TxRejection) {
            tx = try Transaction(json: body)
            try tx.checkStateless(chainId: state.chainId)
        } catch let e {
            metrics.txRejected.inc(1, e.code)
            throw APIError(e)
        }
        let hash = tx.hash
        var waiter: CommitWaiter?
        if wait {
            let once = OnceFlag()
            waiter = CommitWaiter { outcome in
                guard once.claim() else { return }
                switch outcome {
                case .committed(let height):
                    reply(.json(["hash": .string(hash.hex), "status": "committed", "height": .uint(height)]))
                case .dropped(let reason):
                    reply(APIError(reason).response)
                case .refused(let error):
                    reply(error.response)
                case .timedOut:
                    reply(APIError(status: 504, code: "commit_timeout",
                                   message: "not committed within \(self.settings.api.commitWaitMs) ms; it may still commit, see GET /tx/\(hash.hex)").response)
                }
            }
        }
        if runtime.status.role != "leader" {
            guard let waiter else {
                if let answer = try forwardToLeader(request) { reply(answer); return }
                return admitHere(tx, waiter: nil, reply)
            }
            // Forward to the leader and wait here for this node to apply it. The transfer is
            // followed across leader changes: offered to the next leader if this one is lost.
            state.addWaiter(hash, waiter)
            let term = runtime.status.term
            let answer: HTTPResponse?
            do {
                answer = try forwardToLeader(request, dropWait: true)
            } catch let e as APIError where e.code == "no_leader" || e.code == "leader_unreachable" {
                try trackOrUnwait(tx, waiter, leader: nil, term: term)
                scheduleTimeout(hash, waiter)
                return
            } catch {
                _ = state.removeWaiter(hash, id: waiter.id)
                throw error
            }
            if let answer, (200..<300).contains(answer.status) || Self.answerMeansTaken(answer) {
                try trackOrUnwait(tx, waiter, leader: answer.headers["X-Forwarded-To"], term: term)
                scheduleTimeout(hash, waiter)
                return
            }
            if state.removeWaiter(hash, id: waiter.id) == nil { return }
            if let answer { reply(answer); return }
        }
        admitHere(tx, waiter: waiter, reply)
    }

    /// A leader's refusal that still means it has the transfer (a duplicate of a pending one).
    static func answerMeansTaken(_ answer: HTTPResponse) -> Bool {
        answer.status == 409 && (try? JSON.parse(answer.body))?["error"]?["code"]?.stringValue == "already_known"
    }

    private func trackOrUnwait(_ tx: Transaction, _ waiter: CommitWaiter, leader: String?, term: UInt64) throws {
        do {
            try trackForwarded(tx, waiter, leader: leader, term: term)
        } catch {
            _ = state.removeWaiter(tx.hash, id: waiter.id)
            throw error
        }
    }

    private func admitHere(_ tx: Transaction, waiter: CommitWaiter?, _ reply: @escaping @Sendable (HTTPResponse) -> Void) {
        let hash = tx.hash
        if let rejection = state.admit([tx], arrival: monotonicNs(), waiter: waiter)[0] {
            metrics.txRejected.inc(1, rejection.code)
            reply(APIError(rejection).response)
            return
        }
        runtime.wake()
        guard let waiter else {
            reply(.json(["hash": .string(hash.hex), "status": "pending"], status: 202))
            return
        }
        scheduleTimeout(hash, waiter)
    }

    func scheduleTimeout(_ hash: Hash32, _ waiter: CommitWaiter) {
        let state = self.state
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(settings.api.commitWaitMs)) {
            state.removeWaiter(hash, id: waiter.id)?.fire(.timedOut)
        }
    }

    /// On a node that does not lead: the leader's answer to the same request, or nil when this
    /// node leads (answer locally). Throws when no leader is reachable.
    func forwardToLeader(_ request: HTTPRequest, dropWait: Bool = false) throws -> HTTPResponse? {
        let st = runtime.status
        guard st.role != "leader" else { return nil }
        guard let leader = st.leader, let peer = transportPeers().first(where: { $0.nodeId == leader }) else {
            throw APIError(status: 503, code: "no_leader", message: "no leader is known right now (role \(st.role)); retry shortly")
        }
        // Origin form rebuilt from the parsed target: a client may send absolute form
        // (`http://host/submit-tx`), which is not a path the leader's server would take from us.
        guard request.path.hasPrefix("/") else { throw APIError.notFound("no route for \(request.path.prefix(100))") }
        let path = dropWait || request.queryString.isEmpty ? request.path : request.path + "?" + request.queryString
        do {
            let client = try HTTPClient(baseURL: "http://\(peer.apiAddr)")
            defer { client.close() }
            let r = try client.request(method: request.method, path: path,
                                       headers: HTTPHeaders([("Content-Type", "application/json")]), body: request.body,
                                       timeout: .seconds(30))
            var headers = HTTPHeaders()
            if let type = r.headers["Content-Type"] { headers.add("Content-Type", type) }
            headers.add("X-Forwarded-To", leader)
            return HTTPResponse(status: r.status, headers: headers, body: r.body)
        } catch {
            throw APIError(status: 503, code: "leader_unreachable", message: "cannot reach the leader \(leader) at \(peer.apiAddr): \(error)")
        }
    }

    /// `POST /submit-txs`: `{"txs": [...]}`. Signatures are verified in parallel; each transaction
    /// is admitted or refused on its own, and the answer lists a result per transaction, in order.
    func submitBatch(_ request: HTTPRequest) throws -> HTTPResponse {
        let body = try parseBody(request.body)
        guard case .object(let object) = body else { throw APIError.badRequest("invalid_json", "body must be an object {\"txs\": [...]}") }
        guard let field = object["txs"] else { throw APIError.badRequest("missing_field", "missing field 'txs'") }
        guard case .array(let items) = field else { throw APIError.badRequest("invalid_field", "field 'txs' must be an array") }
        guard !items.isEmpty else { throw APIError.badRequest("invalid_field", "field 'txs' is empty") }
        guard items.count <= settings.api.maxBatchTxs else {
            throw APIError(status: 413, code: "batch_too_large", message: "at most \(settings.api.maxBatchTxs) transactions per batch, got \(items.count)")
        }
        let checked = checkInParallel(items)
        var results = checked.map { r -> JSON? in r.1.map { APIError($0).json } }
        let good = checked.enumerated().compactMap { i, r in r.0.map { (i, $0) } }
        let admitted = state.admit(good.map(\.1), arrival: monotonicNs())
        for ((i, tx), rejection) in zip(good, admitted) {
            results[i] = rejection.map { APIError($0).json } ?? ["hash": .string(tx.hash.hex), "status": "pending"]
        }
        var accepted = 0
        for case let r? in results { if r["error"] == nil { accepted += 1 } else if let code = r["error"]?["code"]?.stringValue { metrics.txRejected.inc(1, code) } }
        if accepted > 0 { runtime.wake() }
        let list = results.map { $0 ?? .null }
        return .json(["accepted": .int(accepted), "rejected": .int(items.count - accepted), "results": .array(list)],
                     status: accepted > 0 ? 202 : 400)
    }

    /// Decodes and checks every item (signature last), spread over the cores.
    private func checkInParallel(_ items: [JSON]) -> [(Transaction?, TxRejection?)] {
        let chainId = state.chainId
        let chunk = 256
        let chunks = (items.count + chunk - 1) / chunk
        let out = ResultSlots<(Transaction?, TxRejection?)>(count: items.count, empty: (nil, nil))
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = c * chunk
            let hi = min(lo + chunk, items.count)
            var part: [(Transaction?, TxRejection?)] = []
            part.reserveCapacity(hi - lo)
            for i in lo..<hi {
                do {
                    let tx = try Transaction(json: items[i])
                    try tx.checkStateless(chainId: chainId)
                    part.append((tx, nil))
                } catch let e as TxRejection {
                    part.append((nil, e))
                } catch {
                    preconditionFailure("transaction checks throw only TxRejection: \(error)")
                }
            }
            out.store(part, at: lo)
        }
        return out.values
    }

    func parseBody(_ body: [UInt8]) throws -> JSON {
        guard !body.isEmpty else { throw APIError.badRequest("invalid_json", "request body is empty") }
        do {
            return try JSON.parse(body)
        } catch {
            throw APIError.badRequest("invalid_json", "body is not valid JSON: \(error)")
        }
    }

    func waitMode(_ request: HTTPRequest) throws -> Bool {
        switch request.query("wait") {
        case nil: return false
        case "commit": return true
        case let other?: throw APIError.badRequest("invalid_query", "wait must be 'commit', got '\(other.prefix(40))'")
        }
    }
}

/// True exactly once, from any thread.
final class OnceFlag: Sendable {
    private let done = Atomic<Bool>(false)
    func claim() -> Bool { done.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged }
}

/// Fixed slots that parallel workers fill in disjoint ranges.
final class ResultSlots<T: Sendable>: Sendable {
    private let slots: Mutex<[T]>
    init(count: Int, empty: T) { slots = Mutex(Array(repeating: empty, count: count)) }
    func store(_ part: [T], at offset: Int) {
        slots.withLock { s in for (i, v) in part.enumerated() { s[offset + i] = v } }
    }
    var values: [T] { slots.withLock { $0 } }
}
