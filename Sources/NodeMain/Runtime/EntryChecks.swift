import Chain
import Consensus
import Dispatch
import Synchronization

/// Blocks a follower receives through Raft replication, their transaction signatures checked on
/// the other cores as soon as the entries passed the door (`EntryDoor`, which decoded them and
/// checked their proposer), before they commit.
///
/// Why: a follower applies a committed block on its runtime thread, and most of that work is
/// checking signatures. Done there, it delays the follower's answers to the leader's next
/// appends (sent after the same Ready is handled); on a starved machine past the election timeout,
/// and the leader, hearing from no quorum, steps down. Checked ahead, the runtime thread only
/// executes and stores when the block commits.
///
/// With `[consensus] replicated_transfer_signatures = "trust_leader_signed"`, the blocks of
/// entries the door saw signed by their sender as the leader of the message's term are only
/// decoded: their transfer signatures are left to the core's decision (`ReplicatedTransferTrust`,
/// which verifies them after all unless the block's term is still the node's current term).
///
/// Promise: `take(entry)` answers with the decoded block and whether every transaction signature
/// verifies, as checked on exactly that entry's bytes (nil `valid`: not checked, as above); nil
/// when no check was started (or the entry differs), and the caller then decodes and verifies
/// itself. `verifiedTransfers` counts every signature it verified.
final class EntryChecks: Sendable {
    final class Job: Sendable {
        let term: UInt64
        let data: [UInt8]
        let group = DispatchGroup()
        let outcome = Mutex<(block: Block, valid: Bool?)?>(nil)
        init(term: UInt64, data: [UInt8]) {
            self.term = term
            self.data = data
        }
    }

    /// Entries checked ahead at most (each holds its block's bytes until it commits).
    static let maxJobs = 1_024

    /// Whether blocks signed by their term's leader (as the door saw them) skip the signature checks.
    let trustLeaderSigned: Bool
    /// Transfer signatures verified so far (the cost `trustLeaderSigned` saves), also added to
    /// `verifiedMetric` (`autochain_replicated_transfer_signatures_verified_total`) when given.
    let verifiedTransfers = Atomic<Int>(0)
    private let verifiedMetric: Counter?
    private let jobs = Mutex<[UInt64: Job]>([:])
    private let queue = DispatchQueue(label: "entry-checks", qos: WorkPriority.bulk, attributes: .concurrent)

    init(trustLeaderSigned: Bool = false, verifiedMetric: Counter? = nil) {
        self.trustLeaderSigned = trustLeaderSigned
        self.verifiedMetric = verifiedMetric
    }

    /// Starts checking the entries' blocks in the background (decoding those given without one);
    /// an entry replacing another at its index (a truncated uncommitted tail) replaces its check,
    /// the same entry again (a retransmission) keeps it. `leaderSigned`: the door saw the block
    /// signed by the sender as the leader of the message's term.
    func start(_ entries: [(index: UInt64, term: UInt64, data: [UInt8], block: Block?)], leaderSigned: Bool = false) {
        let verify = !(trustLeaderSigned && leaderSigned)
        for e in entries where !e.data.isEmpty {
            let job = Job(term: e.term, data: e.data)
            let fresh = jobs.withLock { j -> Bool in
                if let existing = j[e.index], existing.term == e.term, existing.data == e.data { return false }
                guard j.count < Self.maxJobs || j[e.index] != nil else { return false }
                j[e.index] = job
                return true
            }
            guard fresh else { continue }
            if !verify, let block = e.block {
                job.outcome.withLock { $0 = (block, nil) }
                continue
            }
            job.group.enter()
            let decoded = e.block
            queue.async { [self] in
                if let block = decoded ?? (try? Block.decode(job.data)) {
                    verifiedTransfers.add(block.txs.count, ordering: .relaxed)
                    verifiedMetric?.inc(Double(block.txs.count))
                    let valid = block.txs.isEmpty || Transaction.verifyAll(block.txs).allSatisfy { $0 }
                    job.outcome.withLock { $0 = (block, valid) }
                }
                job.group.leave()
            }
        }
    }

    /// The checked block of the entry at `index`, when its check was started on the same bytes.
    func take(index: UInt64, term: UInt64, data: [UInt8]) -> (block: Block, valid: Bool?)? {
        guard let job = jobs.withLock({ $0.removeValue(forKey: index) }), job.term == term, job.data == data,
              job.group.wait(timeout: .now() + .seconds(NodeSettings.Raft.entryCheckWaitLimitS)) == .success else { return nil }
        return job.outcome.withLock { $0 }
    }

    /// Forgets checks of entries at or below `height` (applied another way, e.g. by block sync).
    func forget(through height: UInt64) {
        jobs.withLock { j in
            guard !j.isEmpty else { return }
            j = j.filter { $0.key > height }
        }
    }

    var pending: Int { jobs.withLock { $0.count } }
}
