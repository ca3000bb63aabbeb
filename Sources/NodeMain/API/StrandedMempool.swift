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
    /// Passes run this often.
    static let intervalMs = 250
    /// Transfers per `/submit-txs` batch.
    static let batch = 2_000
    private let handed = Mutex<[Hash32: HandedTo]>([:])
    let queue = DispatchQueue(label: "stranded-mempool")
    private let stopped = Atomic<Bool>(false)
    let log = Logger(component: "api")

    struct HandedTo: Equatable, Sendable {
        let leader: String
        let term: UInt64
    }

    func stop() { stopped.store(true, ordering: .releasing) }
    var isStopped: Bool { stopped.load(ordering: .acquiring) }

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
        stranded.queue.asyncAfter(deadline: .now() + .milliseconds(StrandedMempool.intervalMs)) { [self] in
            guard !stranded.isStopped else { return }
            handOverStranded()
            startMempoolHandover()
        }
    }

    /// One pass: when this node follows a known leader and still holds transfers, offer them.
    func handOverStranded() {
        let st = runtime.status
        guard st.role != "leader", let leader = st.leader, leader != settings.node.id,
              state.withLock({ $0.mempool.count }) > 0 else { return }
        let target = StrandedMempool.HandedTo(leader: leader, term: st.term)
        let pending = stranded.notHanded(state.withLock { $0.mempool.all }, to: target)
        guard !pending.isEmpty, let peer = transportPeers().first(where: { $0.nodeId == leader }),
              let client = try? HTTPClient(baseURL: "http://\(peer.apiAddr)") else { return }
        defer { client.close() }
        var taken = 0, refused = 0
        let headers = HTTPHeaders([("Content-Type", "application/json")])
        for start in stride(from: 0, to: pending.count, by: StrandedMempool.batch) {
            let txs = Array(pending[start..<min(start + StrandedMempool.batch, pending.count)])
            let body = JSON.object(JSONObject([("txs", .array(txs.map(\.json)))])).serialized()
            guard let r = try? client.request(method: "POST", path: "/submit-txs", headers: headers, body: body,
                                              timeout: .milliseconds(ForwardedCommits.reforwardTimeoutMs)),
                  let results = (try? JSON.parse(r.body))?["results"]?.arrayValue, results.count == txs.count else { break }
            var done: [Hash32] = [], dropped: [Hash32] = []
            for (tx, result) in zip(txs, results) {
                let code = result["error"]?["code"]?.stringValue
                switch code {
                case nil, "already_known"?, "nonce_too_low"?:
                    done.append(tx.hash)  // taken, or its nonce is used there: the applied block settles it here
                case let c? where ForwardedCommits.notNowCodes.contains(c):
                    break
                default:
                    dropped.append(tx.hash)
                }
            }
            stranded.markHanded(done, to: target)
            taken += done.count
            if !dropped.isEmpty {
                // Refused for good by the leader: it cannot commit here either. Later nonces of its
                // sender go too (Mempool.drop), as they could not execute without it.
                refused += state.withLock { s in dropped.reduce(0) { n, h in n + s.mempool.drop(h).count } }
            }
        }
        if taken + refused > 0 {
            stranded.log.info("stranded transfers handed to the new leader", ["leader": leader, "term": st.term, "taken": taken,
                                                                     "dropped": refused, "pending": pending.count])
        }
    }
}
