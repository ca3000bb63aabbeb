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
        /// An offer to a new leader is on its way; its answer settles the entry (sweeps skip it).
        var offering = false
    }

    /// Refusals that mean "not now": the next sweep offers the transfer again. `nonce_too_far`
    /// is one: an earlier nonce may be on its way to the new leader too.
    static let notNowCodes: Set<String> = ["mempool_full", "sender_queue_full", "nonce_too_far", "no_leader", "not_leader",
                                           "draining", "overloaded", "insufficient_storage"]

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

    /// Marks (or clears) an offer on its way for each of `waiterIds` still tracked.
    func setOffering(_ waiterIds: [UInt64], _ offering: Bool) {
        entries.withLock { e in for id in waiterIds where e[id] != nil { e[id]?.offering = offering } }
    }

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
        forwarded.queue.asyncAfter(deadline: .now() + .milliseconds(NodeSettings.API.forwardedSweepIntervalMs)) { [self] in
            sweepForwarded(now: monotonicNs())
            forwarded.sweepDone()
            if forwarded.count > 0 { scheduleForwardSweep() }
        }
    }

    /// One pass: drop answered entries, hand transfers whose leader is gone to the current one,
    /// and answer 503 `leader_lost` for those no leader took within `leader_wait_ms`.
    func sweepForwarded(now: UInt64) {
        let st = runtime.status
        let current = st.role == .leader ? settings.node.id : st.leader
        var stray: [ForwardedCommits.Entry] = []
        for e in forwarded.snapshot() {
            guard state.hasWaiter(e.tx.hash, id: e.waiterId) else { forwarded.remove(e.waiterId); continue }
            if e.offering { continue }
            if let current, e.leader == current, e.term == st.term { continue }
            stray.append(e)
        }
        guard !stray.isEmpty else { return }
        // Each sender's nonces in order, so the new leader can admit them in one batch.
        stray.sort { ($0.tx.from, $0.tx.nonce) < ($1.tx.from, $1.tx.nonce) }
        guard let current else {
            for e in stray { expireIfLost(e, now: now) }
            return
        }
        if current == settings.node.id {
            settle(stray, admitForwarded(stray), leader: current, term: st.term, now: now)
            return
        }
        reforward(stray, to: current, term: st.term)
    }

    /// Applies the answers of an offer: taken entries now wait on `leader`, refused ones answer
    /// their caller, unanswered ones count towards `leader_wait_ms`.
    private func settle(_ entries: [ForwardedCommits.Entry], _ taken: [UInt64: Handover], leader: String, term: UInt64, now: UInt64) {
        for var e in entries {
            switch taken[e.waiterId] {
            case .some(.taken):
                e.leader = leader
                e.term = term
                e.lostSinceNs = nil
                e.offering = false
                forwarded.update(e)
            case .some(.refused(let error)):
                forwarded.remove(e.waiterId)
                state.removeWaiter(e.tx.hash, id: e.waiterId)?.fire(.refused(error))
            case .none:
                expireIfLost(e, now: now)
            }
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
        let error = APIError(code: "leader_lost",
                             message: "no leader took this transfer within \(settings.api.leaderWaitMs) ms (the leader was lost or unknown); it may still commit, see GET /tx/\(e.tx.hash.hex)")
        state.removeWaiter(e.tx.hash, id: e.waiterId)?.fire(.refused(error))
    }

    /// This node leads now: the transfers go into its own mempool. `nonce_too_low` here means a
    /// transfer with that nonce is applied; had it been this one, its waiter would have fired.
    private func admitForwarded(_ entries: [ForwardedCommits.Entry]) -> [UInt64: Handover] {
        let answers = state.admit(entries.map(\.tx), arrival: monotonicNs())
        runtime.transfersAdmitted()
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

    /// Offers the transfers to the leader `leader` over the peer link (requests of at most
    /// `PeerLimits.maxTxsPerMessage`); each answer settles its entries when it comes. Transfers
    /// it cannot be asked about now get no answer (the next sweep tries again).
    private func reforward(_ entries: [ForwardedCommits.Entry], to leader: String, term: UInt64) {
        for start in stride(from: 0, to: entries.count, by: PeerLimits.maxTxsPerMessage) {
            let part = Array(entries[start..<min(start + PeerLimits.maxTxsPerMessage, entries.count)])
            let ids = part.map(\.waiterId)
            forwarded.setOffering(ids, true)
            forward(part.map(\.tx), to: leader, timeoutMs: NodeSettings.API.reforwardTimeoutMs) { [self] outcome in
                settle(part, Self.handovers(part, outcome), leader: leader, term: term, now: monotonicNs())
                forwarded.setOffering(ids, false)
            }
        }
    }

    /// What the leader's answer means for each offered entry. `nonce_too_low` for a transfer the
    /// leader has committed counts as taken (this node applies it soon and answers).
    static func handovers(_ entries: [ForwardedCommits.Entry], _ outcome: LeaderForwards.Outcome) -> [UInt64: Handover] {
        guard case .answered(.results(let results)) = outcome else { return [:] }
        var out: [UInt64: Handover] = [:]
        for (e, result) in zip(entries, results) {
            guard let code = result.code else { out[e.waiterId] = .taken; continue }
            switch code {
            case "already_known":
                out[e.waiterId] = .taken
            case "nonce_too_low" where result.committed:
                out[e.waiterId] = .taken
            case _ where ForwardedCommits.notNowCodes.contains(code):
                break
            default:
                out[e.waiterId] = .refused(APIError(status: status(ofCode: code), code: code, message: result.message))
            }
        }
        return out
    }
}
