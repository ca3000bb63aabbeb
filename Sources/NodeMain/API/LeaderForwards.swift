import Chain
import Dispatch
import P2P
import Synchronization

/// `txs` requests this node sent to the leader over the peer link, waiting for their `txsResult`.
///
/// Promise: each request's completion runs exactly once: with the leader's answer (one result per
/// transfer, or a refusal of the whole request), or with a 503/504 failure when the request could
/// not be sent, the link to that leader closed, or no answer came within `timeoutMs`. No thread
/// waits meanwhile. At most `limit` requests wait at once; more fail at once with 503 `overloaded`.
final class LeaderForwards: Sendable {
    enum Outcome: Sendable {
        case answered(ForwardedTxsAnswer)
        case failed(APIError)
    }
    typealias Completion = @Sendable (Outcome) -> Void

    private struct Pending {
        let peer: String
        let count: Int
        let done: Completion
    }

    private struct Table {
        var nextId: UInt64 = 1
        var pending: [UInt64: Pending] = [:]
    }

    let limit: Int
    let timeoutMs: Int
    private let table = Mutex(Table())
    private let timers = DispatchQueue(label: "leader-forwards")

    init(limit: Int, timeoutMs: Int) {
        precondition(limit >= 1 && timeoutMs >= 1, "forward limits must be positive")
        self.limit = limit
        self.timeoutMs = timeoutMs
    }

    /// Requests waiting for an answer.
    var count: Int { table.withLock { $0.pending.count } }

    /// Registers a request of `count` transfers to `peer` and arms its timeout (`timeoutMs`, or
    /// the table's); nil (and `done` already called with 503 `overloaded`) when `limit` requests wait.
    func open(peer: String, count: Int, timeoutMs: Int? = nil, done: @escaping Completion) -> UInt64? {
        let timeoutMs = timeoutMs ?? self.timeoutMs
        let id = table.withLock { t -> UInt64? in
            guard t.pending.count < limit else { return nil }
            let id = t.nextId
            t.nextId += 1
            t.pending[id] = Pending(peer: peer, count: count, done: done)
            return id
        }
        guard let id else {
            done(.failed(APIError(code: "overloaded",
                                  message: "\(limit) forwards to the leader wait for answers on this node; retry shortly")))
            return nil
        }
        timers.asyncAfter(deadline: .now() + .milliseconds(timeoutMs)) { [self] in
            fail(id, APIError(code: "leader_timeout",
                              message: "the leader \(peer) did not answer within \(timeoutMs) ms; the transfer may still commit"))
        }
        return id
    }

    /// The leader's answer to `id`. Ignored unless `id` waits on `peer` and a result list has one
    /// result per transfer (anything else from a peer is treated as no answer: the timeout fires).
    func answer(_ id: UInt64, from peer: String, _ answer: ForwardedTxsAnswer) {
        let done = table.withLock { t -> Completion? in
            guard let p = t.pending[id], p.peer == peer else { return nil }
            if case .results(let results) = answer, results.count != p.count { return nil }
            t.pending.removeValue(forKey: id)
            return p.done
        }
        done?(.answered(answer))
    }

    /// Ends `id` with `error` (no-op when it was answered already).
    func fail(_ id: UInt64, _ error: APIError) {
        let done = table.withLock { $0.pending.removeValue(forKey: id)?.done }
        done?(.failed(error))
    }

    /// The link to `peer` closed: every request waiting on it fails with 503 `leader_unreachable`.
    func linkClosed(_ peer: String) {
        let lost = table.withLock { t -> [Completion] in
            let ids = t.pending.filter { $0.value.peer == peer }.map(\.key)
            return ids.compactMap { t.pending.removeValue(forKey: $0)?.done }
        }
        let error = APIError(code: "leader_unreachable",
                             message: "the link to the leader \(peer) closed before it answered; the transfer may still commit")
        for done in lost { done(.failed(error)) }
    }
}
