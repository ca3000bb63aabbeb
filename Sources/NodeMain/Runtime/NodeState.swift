import Chain
import Dispatch
import NodeCore
import Synchronization

/// How a transaction waiting for `?wait=commit` ended.
enum CommitOutcome: Sendable {
    case committed(height: UInt64)
    case dropped(TxRejection)
    /// Refused on the way (a follower could not hand it to a leader, or the new leader refused it).
    case refused(APIError)
    case timedOut
}

/// The committed head as the API shows it, with its `/chain/head` body rendered once per block.
struct HeadInfo: Sendable {
    var header: BlockHeader
    var hash: Hash32
    var headBody: [UInt8]
}

/// State shared between the runtime thread (the only writer of committed state) and the API
/// threads: committed accounts, the mempool, the head, and the callers waiting for commits.
/// One lock guards it all, so admission always sees the mempool and the accounts it was checked
/// against in the same instant, and a commit removes its transactions and moves the accounts at once.
final class NodeState: Sendable {
    struct Guarded {
        var accounts: [Address: Account]
        var mempool: Mempool
        var head: HeadInfo
        var waiters: [Hash32: [CommitWaiter]] = [:]
        var waiterCount = 0
        var membership = ClusterMembership()
    }

    /// Most callers waiting on `?wait=commit` at once; more are refused with 503.
    static let maxWaiters = 100_000

    let chainId: String
    let genesisHash: Hash32
    private let guarded: Mutex<Guarded>

    init(chainId: String, genesisHash: Hash32, accounts: [Address: Account], mempool: Mempool, head: HeadInfo,
         membership: ClusterMembership) {
        self.chainId = chainId
        self.genesisHash = genesisHash
        guarded = Mutex(Guarded(accounts: accounts, mempool: mempool, head: head, membership: membership))
    }

    func withLock<T: Sendable>(_ body: (inout Guarded) throws -> T) rethrows -> T {
        try guarded.withLock { try body(&$0) }
    }

    var head: HeadInfo { guarded.withLock { $0.head } }

    var membership: ClusterMembership { guarded.withLock { $0.membership } }

    /// Committed accounts with `overlay` on top, for executing a block; copies the map's
    /// reference only (the runtime thread is the one writer, and it is busy executing).
    func accountSource(overlay: [Address: Account]) -> OverlaySource {
        guarded.withLock { OverlaySource(committed: $0.accounts, speculative: overlay) }
    }

    func account(_ address: Address) -> Account {
        guarded.withLock { $0.accounts[address] ?? Account(address: address, balance: 0, nonce: 0) }
    }

    /// Admits transactions whose signatures were already verified, in order. A waiter, when given,
    /// is registered atomically with admission so a fast commit cannot be missed.
    func admit(_ txs: [Transaction], arrival: UInt64, waiter: CommitWaiter? = nil) -> [TxRejection?] {
        guarded.withLock { s in
            txs.map { tx -> TxRejection? in
                if waiter != nil, s.waiterCount >= Self.maxWaiters { return .mempoolFull(limit: Self.maxWaiters) }
                let sender = s.accounts[tx.from] ?? Account(address: tx.from, balance: 0, nonce: 0)
                do throws(TxRejection) {
                    try s.mempool.add(tx, sender: sender, arrival: arrival)
                } catch let rejection {
                    return rejection
                }
                if let waiter {
                    s.waiters[tx.hash, default: []].append(waiter)
                    s.waiterCount += 1
                }
                return nil
            }
        }
    }

    /// Waits for a transaction this node did not admit itself (it forwarded it to the leader).
    func addWaiter(_ hash: Hash32, _ waiter: CommitWaiter) {
        guarded.withLock { s in
            s.waiters[hash, default: []].append(waiter)
            s.waiterCount += 1
        }
    }

    /// True while the waiter has not fired nor been removed.
    func hasWaiter(_ hash: Hash32, id: UInt64) -> Bool {
        guarded.withLock { s in s.waiters[hash]?.contains { $0.id == id } ?? false }
    }

    /// Removes one waiter (its caller gave up or timed out); nil when it already fired.
    func removeWaiter(_ hash: Hash32, id: UInt64) -> CommitWaiter? {
        guarded.withLock { s in
            guard var list = s.waiters[hash], let i = list.firstIndex(where: { $0.id == id }) else { return nil }
            let w = list.remove(at: i)
            s.waiters[hash] = list.isEmpty ? nil : list
            s.waiterCount -= 1
            return w
        }
    }

    /// Removes and returns every waiter of `hash` (the transaction was dropped).
    func takeWaiters(_ hash: Hash32) -> [CommitWaiter] {
        guarded.withLock { s in
            let list = s.waiters.removeValue(forKey: hash) ?? []
            s.waiterCount -= list.count
            precondition(s.waiterCount >= 0, "waiter count went negative")
            return list
        }
    }
}

/// A caller waiting for a transaction to commit (`?wait=commit`), answered exactly once.
struct CommitWaiter: Sendable {
    private static let counter = Atomic<UInt64>(0)
    let id: UInt64
    let fire: @Sendable (CommitOutcome) -> Void

    init(_ fire: @escaping @Sendable (CommitOutcome) -> Void) {
        id = Self.counter.wrappingAdd(1, ordering: .relaxed).newValue
        self.fire = fire
    }
}
