import Chain
import Dispatch
import P2P
import Synchronization

/// Transfers a deposed leader still holds in its mempool.
///
/// Only a leader admits transfers into its mempool (a follower forwards them), so a follower with
/// a non-empty mempool was the leader and lost leadership (check-quorum, a partition, a new
/// election) with transfers it had accepted (202) but not committed. Nobody else has them: left
/// alone they would wait there until they expire. Promise: once a new leader is known, every
/// such transfer is offered to it (each sender's in nonce order, in batches); one the leader
/// took stays here only until its block is applied (Mempool.committed removes it), one it
/// refused for good is dropped here too, and one it cannot take now is offered again on the next
/// pass. A `?wait=commit` waiting on this node fires when the new leader's block is applied.
final class StrandedMempool: Sendable {
    /// Transfers per `txs` request.
    static let batch = 2_000
    private let handed = Mutex<[Hash32: HandedTo]>([:])
    let queue = DispatchQueue(label: "stranded-mempool")
    private let stopped = Atomic<Bool>(false)
    private let passRunning = Atomic<Bool>(false)
    let log = Logger(component: "api")

    struct HandedTo: Equatable, Sendable {
        let leader: String
        let term: UInt64
    }

    func stop() { stopped.store(true, ordering: .releasing) }
    var isStopped: Bool { stopped.load(ordering: .acquiring) }

    /// True for the caller that may start a pass (one at a time: a pass waits for answers).
    func claimPass() -> Bool { passRunning.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged }
    func passDone() { passRunning.store(false, ordering: .releasing) }

    /// Which of `pending` still have to go to `to` (not yet taken by that leader in that term);
    /// forgets hashes no longer pending.
    func notHanded(_ pending: [Transaction], to: HandedTo) -> [Transaction] {
        handed.withLock { h in
            let live = Set(pending.map(\.hash))
            h = h.filter { live.contains($0.key) }
            return pending.filter { h[$0.hash] != to }
        }
    }

    func markHanded(_ hashes: [Hash32], to: HandedTo) {
        handed.withLock { h in for x in hashes { h[x] = to } }
    }
}

extension NodeAPI {
    func startMempoolHandover() {
        stranded.queue.asyncAfter(deadline: .now() + .milliseconds(NodeSettings.API.strandedPassIntervalMs)) { [self] in
            guard !stranded.isStopped else { return }
            handOverStranded()
            startMempoolHandover()
        }
    }

    /// One pass: when this node follows a known leader and still holds transfers, offer them over
    /// the peer link, one request of `StrandedMempool.batch` after the other (each sender's nonces
    /// in order). `done` runs once the pass is over (at once when there is nothing to do).
    func handOverStranded(done: @escaping @Sendable () -> Void = {}) {
        let st = runtime.status
        guard st.role != .leader, let leader = st.leader, leader != settings.node.id,
              state.withLock({ $0.mempool.count }) > 0, stranded.claimPass() else { return done() }
        let target = StrandedMempool.HandedTo(leader: leader, term: st.term)
        let pending = stranded.notHanded(state.withLock { $0.mempool.all }, to: target)
        let stranded = self.stranded
        handOver(pending, from: 0, to: target, tally: (0, 0)) { tally in
            if tally.taken + tally.dropped > 0 {
                stranded.log.info("stranded transfers handed to the new leader", ["leader": leader, "term": st.term, "taken": tally.taken,
                                                                         "dropped": tally.dropped, "pending": pending.count])
            }
            stranded.passDone()
            done()
        }
    }

    /// `handOverStranded`, waiting (at most `timeoutMs`) for the pass to end: for a node that
    /// stops, whose network must not close before its mempool is handed on.
    func handOverStranded(waitingUpTo timeoutMs: Int) {
        let finished = DispatchSemaphore(value: 0)
        handOverStranded { finished.signal() }
        _ = finished.wait(timeout: .now() + .milliseconds(timeoutMs))
    }

    private func handOver(_ pending: [Transaction], from start: Int, to target: StrandedMempool.HandedTo, tally: (taken: Int, dropped: Int),
                          _ finish: @escaping @Sendable ((taken: Int, dropped: Int)) -> Void) {
        guard start < pending.count else { return finish(tally) }
        let txs = Array(pending[start..<min(start + StrandedMempool.batch, pending.count)])
        forward(txs, to: target.leader, timeoutMs: NodeSettings.API.strandedRequestTimeoutMs) { [self] outcome in
            // No answer, or a refusal of the whole request: the next pass offers them again.
            guard case .answered(.results(let results)) = outcome else { return finish(tally) }
            var done: [Hash32] = [], dropped: [Hash32] = []
            for (tx, result) in zip(txs, results) {
                switch result.code {
                case nil, "already_known"?, "nonce_too_low"?:
                    done.append(tx.hash)  // taken, or its nonce is used there: the applied block settles it here
                case let c? where ForwardedCommits.notNowCodes.contains(c):
                    break
                default:
                    dropped.append(tx.hash)
                }
            }
            stranded.markHanded(done, to: target)
            // Refused for good by the leader: it cannot commit here either. Later nonces of its
            // sender go too (Mempool.drop), as they could not execute without it.
            let removed = dropped.isEmpty ? 0 : state.withLock { s in dropped.reduce(0) { n, h in n + s.mempool.drop(h).count } }
            handOver(pending, from: start + txs.count, to: target, tally: (tally.taken + done.count, tally.dropped + removed), finish)
        }
    }
}
