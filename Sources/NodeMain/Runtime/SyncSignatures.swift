import Chain
import NodeCore
import Dispatch
import Synchronization

/// Transaction signatures of block-synced blocks, checked on the other cores as the blocks arrive
/// (before they are in order), so that the runtime thread, when it applies them, only executes
/// and stores: verification, decoding and applying overlap instead of taking turns.
///
/// Promise: `take(hash)` answers whether every transaction signature of the block with that hash
/// verifies, as checked on exactly that block's transactions; nil when no check was started (the
/// caller then verifies itself). A block's hash commits to its transactions (txRoot), which the
/// block check compares, so the answer cannot be reused for other transactions.
final class SyncSignatures: Sendable {
    final class Job: Sendable {
        let group = DispatchGroup()
        let valid = Atomic<Bool>(false)
    }

    /// Checks started and not yet taken, at most (a little more than block sync buffers).
    static let maxJobs = BlockSync.maxBufferedBlocks + 256

    private let jobs = Mutex<[Hash32: Job]>([:])
    private let queue = DispatchQueue(label: "sync-signatures", qos: WorkPriority.bulk, attributes: .concurrent)

    /// Starts checking the blocks' transaction signatures in the background.
    func start(_ blocks: [Block]) {
        for block in blocks where !block.txs.isEmpty {
            let job = Job()
            let fresh = jobs.withLock { j -> Bool in
                guard j.count < Self.maxJobs, j[block.hash] == nil else { return false }
                j[block.hash] = job
                return true
            }
            guard fresh else { continue }
            job.group.enter()
            queue.async {
                job.valid.store(Transaction.verifyAll(block.txs).allSatisfy { $0 }, ordering: .releasing)
                job.group.leave()
            }
        }
    }

    /// Whether every signature of the block verifies (waiting for the check), or nil when none was started.
    func take(_ hash: Hash32) -> Bool? {
        guard let job = jobs.withLock({ $0.removeValue(forKey: hash) }) else { return nil }
        guard job.group.wait(timeout: .now() + .seconds(NodeSettings.PeerNetwork.syncSignatureWaitLimitS)) == .success else { return nil }
        return job.valid.load(ordering: .acquiring)
    }

    /// Forgets every check (sync finished, or its buffer was dropped).
    func clear() { jobs.withLock { $0.removeAll() } }

    var pending: Int { jobs.withLock { $0.count } }
}
