import Chain
import Dispatch
import P2P

/// Where the peer link delivers the forwarding messages: `txs` requests (this node as leader)
/// and their `txsResult` answers (this node as follower). Called on the peer loop: keep it cheap.
protocol ForwardingEndpoint: AnyObject, Sendable {
    func serveForwarded(id: UInt64, txs: [Transaction], from peer: String)
    func forwardAnswered(id: UInt64, answer: ForwardedTxsAnswer, from peer: String)
    func forwardLinkClosed(peer: String)
}

// MARK: - Follower side

extension NodeAPI {
    /// The leader to forward to, or 503 `no_leader` when none is known.
    func knownLeader() throws -> String {
        let st = runtime.status
        guard let leader = st.leader, leader != settings.node.id else {
            throw APIError(code: "no_leader", message: "no leader is known right now (role \(st.role.rawValue)); retry shortly")
        }
        return leader
    }

    /// Sends `txs` (at most `PeerLimits.maxTxsPerMessage`) to `leader` as one `txs` request over
    /// the peer link; `done` runs once with the answer or a failure (after `timeoutMs`, default
    /// `[api] forward_timeout_ms`). Never blocks.
    func forward(_ txs: [Transaction], to leader: String, timeoutMs: Int? = nil, _ done: @escaping LeaderForwards.Completion) {
        precondition(!txs.isEmpty && txs.count <= PeerLimits.maxTxsPerMessage, "a txs request holds 1...maxTxsPerMessage transfers")
        guard let id = leaderForwards.open(peer: leader, count: txs.count, timeoutMs: timeoutMs, done: done) else { return }
        guard let link = transport.withLock({ $0 }), link.send(.txs(id: id, txs: txs), to: leader) else {
            leaderForwards.fail(id, APIError(code: "leader_unreachable",
                                             message: "no link to the leader \(leader) right now; retry shortly"))
            return
        }
    }

    /// HTTP status for a refusal code the leader sent: its row in `ErrorCodes` (the one table),
    /// and 422 for a code that has none (a peer's word, never trusted to be one of ours).
    static func status(ofCode code: String) -> Int {
        ErrorCodes.status(of: code) ?? 422
    }

    /// What the caller of a forwarded single submission gets: the shapes and statuses the leader
    /// itself would answer, with `X-Forwarded-To` naming it.
    static func forwardedAnswer(_ hash: Hash32, _ outcome: LeaderForwards.Outcome, leader: String) -> HTTPResponse {
        var response: HTTPResponse
        switch outcome {
        case .failed(let error):
            return error.response
        case .answered(.results(let results)):
            guard let result = results.first, let code = result.code else {
                response = .json(["hash": .string(hash.hex), "status": "pending"], status: 202)
                break
            }
            response = APIError(status: status(ofCode: code), code: code, message: result.message).response
        case .answered(.refused(let code, let message, let hint)):
            response = refusal(code, message, hint: hint, leader: leader).response
        }
        response.headers.add("X-Forwarded-To", leader)
        return response
    }

    /// A whole-request refusal from the leader as this API's error. `not_leader` means leadership
    /// moved between our last status and the leader's answer: the caller retries.
    static func refusal(_ code: String, _ message: String, hint: String?, leader: String) -> APIError {
        if code == "not_leader" {
            return APIError(code: "no_leader",
                            message: "\(leader) no longer leads (it names \(hint ?? "no leader")); retry shortly")
        }
        return APIError(status: status(ofCode: code), code: code, message: message)
    }
}

// MARK: - Leader side

extension NodeAPI: ForwardingEndpoint {
    /// A member's `txs` request: admitted to this peer's budget, served off the peer loop
    /// (signatures checked in parallel), answered with one `txsResult`.
    func serveForwarded(id: UInt64, txs: [Transaction], from peer: String) {
        guard let link = transport.withLock({ $0 }) else { return }
        let units = txs.count
        guard forwardedBudget.enter(peer, units: units) else {
            _ = link.send(.txsResult(id: id, answer: .refused(
                code: "overloaded", message: "\(forwardedBudget.limitPerPeer) forwarded transfers from \(peer) are being served; retry shortly",
                leaderHint: nil)), to: peer)
            return
        }
        forwardedWork.async { [self] in
            defer { forwardedBudget.leave(peer, units: units) }
            // A link that closed meanwhile drops the answer (send is false): nobody waits for it.
            _ = link.send(.txsResult(id: id, answer: answerForwarded(txs)), to: peer)
        }
    }

    func forwardAnswered(id: UInt64, answer: ForwardedTxsAnswer, from peer: String) {
        leaderForwards.answer(id, from: peer, answer)
    }

    func forwardLinkClosed(peer: String) {
        leaderForwards.linkClosed(peer)
    }

    /// Checks and admits forwarded transfers as `/submit-txs` would on this node; refuses the
    /// whole request when this node cannot take transfers now.
    func answerForwarded(_ txs: [Transaction]) -> ForwardedTxsAnswer {
        if draining { return .refused(code: "draining", message: "the leader is shutting down; retry shortly", leaderHint: nil) }
        if let fault = runtime.storage.fault {
            return .refused(code: "insufficient_storage",
                            message: "the leader's storage refuses writes (\(fault.reason)); retry shortly", leaderHint: nil)
        }
        let st = runtime.status
        guard st.role == .leader else {
            return .refused(code: "not_leader", message: "this node does not lead (role \(st.role.rawValue))", leaderHint: st.leader)
        }
        let signed = Transaction.verifyAll(txs)
        var rejections = [TxRejection?](repeating: nil, count: txs.count)
        var good: [Int] = []
        good.reserveCapacity(txs.count)
        for (i, tx) in txs.enumerated() {
            do throws(TxRejection) {
                try tx.checkStatelessExceptSignature(chainId: state.chainId)
                guard signed[i] else { throw .badSignature }
                good.append(i)
            } catch let e {
                rejections[i] = e
            }
        }
        for (i, rejection) in zip(good, state.admit(good.map { txs[$0] }, arrival: monotonicNs())) { rejections[i] = rejection }
        if rejections.contains(where: { $0 == nil }) { runtime.transfersAdmitted() }
        return .results(zip(txs, rejections).map { tx, rejection in
            guard let rejection else { return .admitted }
            metrics.txRejected.inc(1, rejection.code)
            // Replaces the follower's old GET /tx follow-up: is the nonce used by this very transfer?
            let committed = rejection.code == "nonce_too_low" && ((try? reader.transaction(hash: tx.hash)) ?? nil) != nil
            return ForwardedTxResult(code: rejection.code, message: rejection.message, committed: committed)
        })
    }
}
