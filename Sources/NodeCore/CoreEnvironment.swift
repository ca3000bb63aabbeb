import Chain
import Consensus

/// The durable chain as the runtime core reads it: the committed head and membership, committed
/// blocks by height, the uncommitted log tail and the hard state. The node's SQLite `ChainStore`
/// in production; an in-memory store in the simulators. Writes never go through here: the core
/// hands a `StoreBatch` out as an effect and the shell persists it.
public protocol BlockStore: AnyObject {
    var headHeight: UInt64 { get }
    var headHash: Hash32 { get }
    var headStateRoot: Hash32 { get }
    var membership: ClusterMembership { get }
    func block(at height: UInt64) throws -> Block?
    func blockTerm(at height: UInt64) throws -> UInt64?
    func loadLogTail() throws -> [LogRecord]
    func loadHardState() throws -> (term: UInt64, vote: String?, commit: UInt64)
}

extension ChainStore: BlockStore {}

/// What else the core reads from its shell, all of it state the shell keeps current for it:
/// the committed accounts (for executing blocks) and the outcome of checks the shell ran on other
/// threads (transaction signatures of replicated and of block-synced blocks). The core never
/// verifies a signature itself; when no check was started it passes nil and `BlockCheck` does.
public protocol CoreReads: AnyObject {
    /// Committed accounts with `overlay` on top.
    func accounts(overlay: [Address: Account]) -> OverlaySource
    /// The block of a replicated entry, decoded and checked ahead on exactly these bytes, with
    /// whether all its transaction signatures verify (`valid` nil: decoded, its signatures left
    /// unchecked, as `[consensus] replicated_transfer_signatures = "trust_leader_signed"` lets the
    /// shell do for blocks the sender signed as its term's leader); nil when no check was started.
    func takeCheckedEntry(index: UInt64, term: UInt64, data: [UInt8]) -> (block: Block, valid: Bool?)?
    /// Whether every transaction signature of a block-synced block verifies; nil when unchecked.
    func takeSyncedSignatures(_ hash: Hash32) -> Bool?
}

/// Committed accounts with the speculative (in-flight) changes layered on top.
public struct OverlaySource: AccountSource {
    public let committed: [Address: Account]
    public let speculative: [Address: Account]

    public init(committed: [Address: Account], speculative: [Address: Account]) {
        self.committed = committed
        self.speculative = speculative
    }

    public func account(_ address: Address) -> Account {
        speculative[address] ?? committed[address] ?? Account(address: address, balance: 0, nonce: 0)
    }
}

/// Signs the blocks this node proposes. Ed25519 signing is deterministic, so a value holding the
/// key is as pure as the rest of the core: the same inputs make the same block.
public struct BlockSigner: Sendable {
    public let key: KeyPair

    public init(key: KeyPair) { self.key = key }

    public func block(height: UInt64, prevHash: Hash32, stateRoot: Hash32, timestamp: UInt64, term: UInt64,
                      txs: [Transaction], membership: MembershipChange? = nil) -> Block {
        Block.make(height: height, prevHash: prevHash, stateRoot: stateRoot, timestamp: timestamp, term: term,
                   txs: txs, membership: membership, proposerKey: key)
    }
}

/// The time an event happens at, as the shell read it: a monotonic clock for every interval and
/// deadline, the wall clock for block timestamps only.
public struct RuntimeTime: Sendable, Equatable {
    public var monotonicNs: UInt64
    public var wallMs: UInt64

    public init(monotonicNs: UInt64, wallMs: UInt64) {
        self.monotonicNs = monotonicNs
        self.wallMs = wallMs
    }
}
