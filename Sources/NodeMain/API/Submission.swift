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
                    reply(APIError(code: "commit_timeout",
                                   message: "not committed within \(self.settings.api.commitWaitMs) ms; it may still commit, see GET /tx/\(hash.hex)").response)
                }
            }
        }
        if runtime.status.role != .leader {
            guard let waiter else {
                let leader = try knownLeader()
                forward([tx], to: leader) { outcome in reply(Self.forwardedAnswer(hash, outcome, leader: leader)) }
                return
            }
            // Forward to the leader and wait here for this node to apply it. The transfer is
            // followed across leader changes: offered to the next leader if this one is lost.
            state.addWaiter(hash, waiter)
            scheduleTimeout(hash, waiter)
            let term = runtime.status.term
            guard let leader = try? knownLeader() else { return try trackOrUnwait(tx, waiter, leader: nil, term: term) }
            forward([tx], to: leader) { [self] outcome in
                forwardedWait(tx, waiter, outcome, leader: leader, term: term, reply)
            }
            return
        }
        admitHere(tx, waiter: waiter, reply)
    }

    /// The leader's answer to a forwarded `?wait=commit` transfer: taken (or not handed over,
    /// to be offered again) means wait here for the commit; a refusal is the caller's answer.
    private func forwardedWait(_ tx: Transaction, _ waiter: CommitWaiter, _ outcome: LeaderForwards.Outcome, leader: String,
                               term: UInt64, _ reply: @escaping @Sendable (HTTPResponse) -> Void) {
        let owner: String??
        switch outcome {
        case .answered(.results(let results)) where results.first?.code == nil || results.first?.code == "already_known":
            owner = .some(leader)
        case .answered(.refused(let code, _, _)) where ForwardedCommits.notNowCodes.contains(code):
            owner = .some(nil)
        case .failed:
            owner = .some(nil)  // unreachable, timed out or overloaded here: the sweep offers it again
        default:
            owner = nil
        }
        guard let owner else {
            if state.removeWaiter(tx.hash, id: waiter.id) != nil { reply(Self.forwardedAnswer(tx.hash, outcome, leader: leader)) }
            return
        }
        do {
            try trackForwarded(tx, waiter, leader: owner, term: term)
        } catch let e as APIError {
            if state.removeWaiter(tx.hash, id: waiter.id) != nil { reply(e.response) }
        } catch {
            preconditionFailure("trackForwarded throws only APIError: \(error)")
        }
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
        runtime.transfersAdmitted()
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

    /// `POST /submit-txs`: `{"txs": [...]}`. Signatures are verified in parallel; each transaction
    /// is admitted or refused on its own, and the answer lists a result per transaction, in order.
    /// A follower forwards the well-formed ones to the leader over the peer link (which verifies
    /// them) and answers when the leader does.
    func submitBatch(_ request: HTTPRequest, _ reply: @escaping @Sendable (HTTPResponse) -> Void) throws {
        let items = try batchItems(request)
        guard runtime.status.role == .leader else { return try forwardBatch(items, reply) }
        let checked = checkInParallel(items, verifySignatures: true)
        var results = checked.map { r -> JSON? in r.1.map { APIError($0).json } }
        let good = checked.enumerated().compactMap { i, r in r.0.map { (i, $0) } }
        let admitted = state.admit(good.map(\.1), arrival: monotonicNs())
        for ((i, tx), rejection) in zip(good, admitted) {
            results[i] = rejection.map { APIError($0).json } ?? ["hash": .string(tx.hash.hex), "status": "pending"]
        }
        let response = batchResponse(results)
        if response.status == 202 { runtime.transfersAdmitted() }
        reply(response)
    }

    /// The batch's items, or the error for a body that is not a usable batch.
    private func batchItems(_ request: HTTPRequest) throws -> [JSON] {
        let body = try parseBody(request.body)
        guard case .object(let object) = body else { throw APIError.badRequest("invalid_json", "body must be an object {\"txs\": [...]}") }
        guard let field = object["txs"] else { throw APIError.badRequest("missing_field", "missing field 'txs'") }
        guard case .array(let items) = field else { throw APIError.badRequest("invalid_field", "field 'txs' must be an array") }
        guard !items.isEmpty else { throw APIError.badRequest("invalid_field", "field 'txs' is empty") }
        guard items.count <= settings.api.maxBatchTxs else {
            throw APIError(code: "batch_too_large", message: "at most \(settings.api.maxBatchTxs) transactions per batch, got \(items.count)")
        }
        return items
    }

    /// `{"accepted", "rejected", "results"}`: 202 when any was accepted, else 400. Every item
    /// has a result by now.
    private func batchResponse(_ results: [JSON?]) -> HTTPResponse {
        var accepted = 0
        for case let r? in results {
            if r["error"] == nil { accepted += 1 } else if let code = r["error"]?["code"]?.stringValue { metrics.txRejected.inc(1, code) }
        }
        return .json(["accepted": .int(accepted), "rejected": .int(results.count - accepted), "results": .array(results.map { $0 ?? .null })],
                     status: accepted > 0 ? 202 : 400)
    }

    /// On a follower: malformed items are answered here; the rest go to the leader in requests
    /// of at most `PeerLimits.maxTxsPerMessage`, and the caller gets one answer once all are back.
    private func forwardBatch(_ items: [JSON], _ reply: @escaping @Sendable (HTTPResponse) -> Void) throws {
        let leader = try knownLeader()
        let checked = checkInParallel(items, verifySignatures: false)
        let good = checked.enumerated().compactMap { i, r in r.0.map { (i, $0) } }
        let gather = BatchGather(results: checked.map { r -> JSON? in r.1.map { APIError($0).json } },
                                 requests: (good.count + PeerLimits.maxTxsPerMessage - 1) / PeerLimits.maxTxsPerMessage)
        let finish: @Sendable (BatchGather.Done) -> Void = { [self] done in
            var response: HTTPResponse
            switch done {
            case .failed(let error): return reply(error.response)
            case .refused(let error): response = error.response
            case .results(let results): response = batchResponse(results)
            }
            response.headers.add("X-Forwarded-To", leader)
            reply(response)
        }
        guard !good.isEmpty else { return finish(.results(gather.initial)) }
        for start in stride(from: 0, to: good.count, by: PeerLimits.maxTxsPerMessage) {
            let part = Array(good[start..<min(start + PeerLimits.maxTxsPerMessage, good.count)])
            forward(part.map(\.1), to: leader) { outcome in
                if let done = gather.fill(part, outcome, leader: leader) { finish(done) }
            }
        }
    }

    /// Items one worker of `checkInParallel` decodes and checks: a batch of 100 is spread over
    /// four workers, so both cores verify it and its answer comes sooner. (Chunks of 256 left a
    /// batch of 100 to one core: the bench's `/submit-txs` of 100 took 7.0-9.7 ms at the median
    /// of a paced run, against 5.2-6.3 ms with chunks of 25.)
    static let checkChunkItems = 32

    /// Decodes and checks every item (signature last, unless the leader checks it), spread over the cores.
    private func checkInParallel(_ items: [JSON], verifySignatures: Bool) -> [(Transaction?, TxRejection?)] {
        let chainId = state.chainId
        let chunk = Self.checkChunkItems
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
                    if verifySignatures { try tx.checkStateless(chainId: chainId) } else { try tx.checkStatelessExceptSignature(chainId: chainId) }
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
