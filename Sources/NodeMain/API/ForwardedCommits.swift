import Chain
import Dispatch
import P2P
import Synchronization

/// `?wait=commit` submissions a follower forwarded to the leader, kept until they commit here.
///
/// Promise: a forwarded transfer follows leadership. When the leader it went to is replaced (the
/// term or the leader changes) or could not be reached, the transfer is offered to the new leader
/// (this node itself, once it leads); the new leader answering `already_known`, or `nonce_too_low`
/// for a transfer it has committed, counts as taken. When no leader takes it within
/// `[api] leader_wait_ms`, the caller gets 503 `leader_lost` instead of waiting out
/// `commit_wait_ms`. Submission is idempotent, so offering a transfer twice is harmless.
final class ForwardedCommits: Sendable {
    struct Entry: Sendable {
        let tx: Transaction
        let waiterId: UInt64
        /// The leader (and its term) that last took the transfer; nil: none has yet.
        var leader: String?
        var term: UInt64
        /// Since when no leader has the transfer for sure (monotonic ns).
        var lostSinceNs: UInt64?
    }

    /// Sweeps run this often while entries wait.
    static let sweepIntervalMs = 100
    /// A re-forward to the leader gives up after this long (the next sweep tries again).
    static let reforwardTimeoutMs = 2_000
    /// Refusals that mean "not now": the next sweep offers the transfer again. `nonce_too_far`
    /// is one: an earlier nonce may be on its way to the new leader too.
    static let notNowCodes: Set<String> = ["mempool_full", "sender_queue_full", "nonce_too_far", "no_leader", "not_leader", "draining"]
    /// HTTP status of a refusal a batch answer names only by its code (TxRejection.httpStatus).
    static func status(ofCode code: String) -> Int {
        switch code {
        case "nonce_too_low", "nonce_conflict", "already_known": 409
        case "invalid_json", "missing_field", "invalid_field", "invalid_hex": 400
        case "expired": 410
        default: 422
        }
    }

    private let entries = Mutex<[UInt64: Entry]>([:])
    private let sweepScheduled = Atomic<Bool>(false)
    let queue = DispatchQueue(label: "forwarded-commits")

    var count: Int { entries.withLock { $0.count } }

    /// Tracks a forwarded transfer; false when `limit` are tracked already.
    func add(_ entry: Entry, limit: Int) -> Bool {
        entries.withLock { e in
            guard e.count < limit else { return false }
            e[entry.waiterId] = entry
            return true
        }
    }

    func snapshot() -> [Entry] { entries.withLock { Array($0.values) } }

    func update(_ entry: Entry) { entries.withLock { e in if e[entry.waiterId] != nil { e[entry.waiterId] = entry } } }

    func remove(_ waiterId: UInt64) { entries.withLock { _ = $0.removeValue(forKey: waiterId) } }

    /// True for the caller that must schedule the next sweep.
    func claimSweep() -> Bool { sweepScheduled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged }

    func sweepDone() { sweepScheduled.store(false, ordering: .releasing) }
}

extension NodeAPI {
    /// Waits (on this follower) for a transfer that went, or should go, to the leader.
    /// `leader` is nil when it could not be handed over yet.
    func trackForwarded(_ tx: Transaction, _ waiter: CommitWaiter, leader: String?, term: UInt64) throws {
        let entry = ForwardedCommits.Entry(tx: tx, waiterId: waiter.id, leader: leader, term: term,
                                           lostSinceNs: leader == nil ? monotonicNs() : nil)
        guard forwarded.add(entry, limit: NodeState.maxWaiters) else {
            throw APIError(TxRejection.mempoolFull(limit: NodeState.maxWaiters))
        }
        scheduleForwardSweep()
    }

    func scheduleForwardSweep() {
        guard forwarded.claimSweep() else { return }
        forwarded.queue.asyncAfter(deadline: .now() + .milliseconds(ForwardedCommits.sweepIntervalMs)) { [self] in
            sweepForwarded(now: monotonicNs())
            forwarded.sweepDone()
            if forwarded.count > 0 { scheduleForwardSweep() }
        }
    }

    /// One pass: drop answered entries, hand transfers whose leader is gone to the current one,
    /// and answer 503 `leader_lost` for those no leader took within `leader_wait_ms`.
    func sweepForwarded(now: UInt64) {
        let st = runtime.status
        let current = st.role == "leader" ? settings.node.id : st.leader
        var stray: [ForwardedCommits.Entry] = []
        for e in forwarded.snapshot() {
            guard state.hasWaiter(e.tx.hash, id: e.waiterId) else { forwarded.remove(e.waiterId); continue }
            if let current, e.leader == current, e.term == st.term { continue }
            stray.append(e)
        }
        guard !stray.isEmpty else { return }
        // Each sender's nonces in order, so the new leader can admit them in one batch.
        stray.sort { ($0.tx.from, $0.tx.nonce) < ($1.tx.from, $1.tx.nonce) }
        if let current {
            let taken = current == settings.node.id ? admitForwarded(stray) : reforward(stray, to: current)
            for var e in stray {
                switch taken[e.waiterId] {
                case .some(.taken):
                    e.leader = current
                    e.term = st.term
                    e.lostSinceNs = nil
                    forwarded.update(e)
                    continue
                case .some(.refused(let error)):
                    forwarded.remove(e.waiterId)
                    state.removeWaiter(e.tx.hash, id: e.waiterId)?.fire(.refused(error))
                    continue
                case .none:
                    break
                }
                expireIfLost(e, now: now)
            }
        } else {
            for e in stray { expireIfLost(e, now: now) }
        }
    }

    enum Handover: Sendable {
        case taken
        case refused(APIError)
    }

    private func expireIfLost(_ entry: ForwardedCommits.Entry, now: UInt64) {
        var e = entry
        let since = e.lostSinceNs ?? now
        if e.lostSinceNs == nil {
            e.lostSinceNs = now
            forwarded.update(e)
        }
        guard now - since >= UInt64(settings.api.leaderWaitMs) * 1_000_000 else { return }
        forwarded.remove(e.waiterId)
        let error = APIError(status: 503, code: "leader_lost",
                             message: "no leader took this transfer within \(settings.api.leaderWaitMs) ms (the leader was lost or unknown); it may still commit, see GET /tx/\(e.tx.hash.hex)")
        state.removeWaiter(e.tx.hash, id: e.waiterId)?.fire(.refused(error))
    }

    /// This node leads now: the transfers go into its own mempool. `nonce_too_low` here means a
    /// transfer with that nonce is applied; had it been this one, its waiter would have fired.
    private func admitForwarded(_ entries: [ForwardedCommits.Entry]) -> [UInt64: Handover] {
        let answers = state.admit(entries.map(\.tx), arrival: monotonicNs())
        runtime.wake()
        var out: [UInt64: Handover] = [:]
        for (e, rejection) in zip(entries, answers) {
            switch rejection {
            case nil, .alreadyKnown?: out[e.waiterId] = .taken
            case let r? where ForwardedCommits.notNowCodes.contains(r.code): break
            case let r?: out[e.waiterId] = .refused(APIError(r))
            }
        }
        return out
    }

    /// Offers the transfers to the leader `leader` in one `/submit-txs` batch. Transfers it
    /// cannot be asked about now get no answer (the next sweep tries again).
    private func reforward(_ entries: [ForwardedCommits.Entry], to leader: String) -> [UInt64: Handover] {
        guard let peer = transportPeers().first(where: { $0.nodeId == leader }),
              let client = try? HTTPClient(baseURL: "http://\(peer.apiAddr)") else { return [:] }
        defer { client.close() }
        let timeout = Duration.milliseconds(ForwardedCommits.reforwardTimeoutMs)
        let headers = HTTPHeaders([("Content-Type", "application/json")])
        let body = JSON.object(JSONObject([("txs", .array(entries.map(\.tx.json)))])).serialized()
        guard let r = try? client.request(method: "POST", path: "/submit-txs", headers: headers, body: body, timeout: timeout),
              let results = (try? JSON.parse(r.body))?["results"]?.arrayValue, results.count == entries.count else { return [:] }
        var out: [UInt64: Handover] = [:]
        for (e, result) in zip(entries, results) {
            guard let error = result["error"] else { out[e.waiterId] = .taken; continue }
            let code = error["code"]?.stringValue ?? ""
            let message = error["message"]?.stringValue ?? ""
            switch code {
            case "already_known":
                out[e.waiterId] = .taken
            case "nonce_too_low":
                // Committed there (this node applies it soon and answers), or another transfer took the nonce.
                let seen = try? client.request(method: "GET", path: "/tx/\(e.tx.hash.hex)", timeout: timeout)
                let status = seen.flatMap { try? JSON.parse($0.body) }?["status"]?.stringValue
                if status == "committed" {
                    out[e.waiterId] = .taken
                } else if seen?.status == 404 {
                    out[e.waiterId] = .refused(APIError(status: 409, code: code, message: message))
                }
            case _ where ForwardedCommits.notNowCodes.contains(code):
                break
            default:
                out[e.waiterId] = .refused(APIError(status: ForwardedCommits.status(ofCode: code), code: code.isEmpty ? "refused" : code,
                                                    message: message))
            }
        }
        return out
    }
}
