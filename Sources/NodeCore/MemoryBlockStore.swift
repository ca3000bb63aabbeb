import Chain
import Consensus

/// The chain store in memory, with `ChainStore`'s contract: `persist` writes a round's hard
/// state, log entries (truncating a conflicting uncommitted tail) and committed blocks with their
/// state changes at once. The simulators and the core's tests run the real runtime core over it,
/// as etcd/raft's tests run over its `MemoryStorage`. It also serves the core's reads of committed
/// accounts; it starts no signature checks (`take…` answer nil: the core verifies).
public final class MemoryBlockStore: BlockStore, CoreReads {
    public private(set) var blocks: [Block]
    public private(set) var accounts: [Address: Account]
    public private(set) var feesBurned: UInt64 = 0
    public private(set) var membership: ClusterMembership
    public private(set) var hardState: (term: UInt64, vote: String?, commit: UInt64) = (0, nil, 0)
    public private(set) var logTail: [LogRecord] = []
    /// Every transaction signature counts as checked ahead (see `signaturesChecked`).
    public let signaturesChecked: Bool

    /// A store holding only `genesis`. `signaturesChecked`: the shell checked every transaction
    /// signature before handing blocks in (as the node's entry door does), so execution skips it.
    public init(genesis spec: GenesisSpec, membership: ClusterMembership = ClusterMembership(), signaturesChecked: Bool = false) {
        blocks = [spec.block()]
        accounts = Dictionary(uniqueKeysWithValues: spec.accounts.map { ($0.address, $0) })
        self.membership = membership
        self.signaturesChecked = signaturesChecked
    }

    /// A copy with the same durable contents (a restarted node opens the same files).
    public init(copying other: MemoryBlockStore) {
        blocks = other.blocks
        accounts = other.accounts
        feesBurned = other.feesBurned
        membership = other.membership
        hardState = other.hardState
        logTail = other.logTail
        signaturesChecked = other.signaturesChecked
    }

    public var headHeight: UInt64 { UInt64(blocks.count - 1) }
    public var headHash: Hash32 { blocks[blocks.count - 1].hash }
    public var headStateRoot: Hash32 { blocks[blocks.count - 1].header.stateRoot }

    public func block(at height: UInt64) throws -> Block? { height < UInt64(blocks.count) ? blocks[Int(height)] : nil }
    public func blockTerm(at height: UInt64) throws -> UInt64? { try block(at: height)?.header.term }
    public func loadLogTail() throws -> [LogRecord] { logTail }
    public func loadHardState() throws -> (term: UInt64, vote: String?, commit: UInt64) { hardState }

    /// As `ChainStore.persist`, all of it or (never here) nothing.
    public func persist(_ batch: StoreBatch) {
        if let hs = batch.hardState { hardState = hs }
        if let first = batch.logEntries.first {
            precondition(first.index > headHeight, "only the uncommitted tail may be rewritten")
            logTail.removeAll { $0.index >= first.index }
            logTail += batch.logEntries.filter { $0.index > headHeight + UInt64(batch.committed.count) }
        }
        for c in batch.committed {
            precondition(c.block.header.height == headHeight + 1, "blocks must be applied in height order")
            blocks.append(c.block)
            for a in c.delta.changes { accounts[a.address] = a }
            feesBurned += c.delta.feesBurned
        }
        logTail.removeAll { $0.index <= headHeight }
        if let m = batch.membership { membership = m }
    }

    /// Block sync's source: committed blocks from `from`, at most `count`.
    public func blocks(from: UInt64, count: Int) -> [Block] {
        guard from < UInt64(blocks.count), count > 0 else { return [] }
        return Array(blocks[Int(from)..<Swift.min(blocks.count, Int(from) + count)])
    }

    public func accounts(overlay: [Address: Account]) -> OverlaySource { OverlaySource(committed: accounts, speculative: overlay) }

    public func takeCheckedEntry(index: UInt64, term: UInt64, data: [UInt8]) -> (block: Block, valid: Bool?)? {
        guard signaturesChecked, let block = try? Block.decode(data) else { return nil }
        return (block, true)
    }

    public func takeSyncedSignatures(_ hash: Hash32) -> Bool? { signaturesChecked ? true : nil }
}
