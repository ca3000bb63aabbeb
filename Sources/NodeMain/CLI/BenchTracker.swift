import Chain
import FoundationEssentials
import Glibc
import Synchronization

/// What `autochain bench` knows of every transfer it signed: not yet sent, in flight (sent, not
/// yet seen committed, with the time it was sent), or done (committed or given up). It is the
/// bench's flow control: submitters wait for room in the window of transfers in flight, so a run
/// of any size proceeds at the rate the cluster commits instead of overrunning its mempool.
final class CommitTracker: Sendable {
    private struct State {
        var pending: [Hash32: Double] = [:]
        var unsent: Set<Hash32>
        var latencies: [Double] = []
        var lastCommit: Double = 0
        var skipped = 0
    }
    private let state: Mutex<State>

    init(_ hashes: [Hash32]) {
        state = Mutex(State(unsent: Set(hashes)))
        precondition(state.withLock { $0.unsent.count } == hashes.count, "bench transfers must have distinct hashes")
    }

    func submitted(_ hashes: [Hash32], at t: Double) {
        state.withLock { s in for h in hashes where s.unsent.remove(h) != nil { s.pending[h] = t } }
    }

    /// Gives up on transfers (refused, or never sent because an earlier nonce of their sender was refused).
    func forget(_ hashes: [Hash32], skipped: Bool = false) {
        state.withLock { s in
            for h in hashes {
                let wasPending = s.pending.removeValue(forKey: h) != nil
                let wasUnsent = s.unsent.remove(h) != nil
                if skipped && (wasPending || wasUnsent) { s.skipped += 1 }
            }
        }
    }

    func committed(_ hashes: [Hash32], at t: Double) {
        state.withLock { s in
            for h in hashes {
                if let sent = s.pending.removeValue(forKey: h) {
                    assert(t >= sent, "committed before it was sent")
                    s.latencies.append(t - sent)
                    s.lastCommit = max(s.lastCommit, t)
                }
            }
        }
    }

    /// Transfers sent and not yet seen committed.
    var inFlight: Int { state.withLock { $0.pending.count } }

    var isDone: Bool { state.withLock { $0.pending.isEmpty && $0.unsent.isEmpty } }

    /// Up to `max` transfers in flight since before `cutoff`, oldest first: candidates to offer
    /// again when the window stops moving (a transfer lost with a leader's mempool, say).
    func stale(sentBefore cutoff: Double, max: Int) -> [Hash32] {
        let old = state.withLock { s in s.pending.filter { $0.value < cutoff } }
        return old.sorted { $0.value < $1.value }.prefix(max).map(\.key)
    }

    func waitUntilDone(timeoutS: Double) {
        let deadline = monotonicSeconds() + timeoutS
        while !isDone, monotonicSeconds() < deadline { usleep(BenchPolls.commitPollUs) }
    }

    func snapshot() -> (latencies: [Double], lastCommit: Double, skipped: Int) {
        state.withLock { ($0.latencies, $0.lastCommit, $0.skipped) }
    }
}

/// Senders with a transfer refused for good: their later nonces can never execute, so the bench
/// does not send them (they would wait in the mempool until `future_ttl_s`).
final class DeadSenders: Sendable {
    private let dead = Mutex<Set<Address>>([])
    func add(_ addresses: [Address]) { dead.withLock { $0.formUnion(addresses) } }
    func contains(_ a: Address) -> Bool { dead.withLock { $0.contains(a) } }
    var isEmpty: Bool { dead.withLock { $0.isEmpty } }
}

func monotonicSeconds() -> Double { Double(monotonicNs()) / 1e9 }
