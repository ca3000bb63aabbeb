import Chain

/// The cluster's membership, leader term and head as the registry verified them from the chain
/// itself (DESIGN §6 Trust), never from what a node claims. Kept incrementally: each round
/// applies only the headers above `height`.
///
/// Promises: every applied header links to the one before (`prevHash`), heights are consecutive,
/// terms never go down, and its proposer signature verifies under the key of a voter of the
/// configuration in force before it; block 1 is the bootstrap, signed by the node it names, whose
/// key is the one the registry pinned for that ID; a membership change is the one the proposer
/// signed (the header's stateRoot commits to it), and an empty block carries none (its stateRoot
/// is the one before it, as nodes require). A batch that breaks any rule changes nothing. Pure.
public struct VerifiedChain: Sendable, Equatable {
    /// Height of the last verified block (0: nothing verified yet).
    public private(set) var height: UInt64 = 0
    public private(set) var headHash = Hash32.zero
    public private(set) var headStateRoot = Hash32.zero
    public private(set) var term: UInt64 = 0
    /// The proposer of the last verified block: the leader of `term` when it proposed it.
    public private(set) var proposer: String?
    public private(set) var membership = ClusterMembership()
    /// Hash of block 0, as block 1 names it.
    public private(set) var genesisHash = Hash32.zero
    /// Transactions in the verified blocks (their headers' txCount): the dashboard's transfer rate.
    public private(set) var transactions: UInt64 = 0
    /// The node keys of members a verified block removed: the registry refuses them for good,
    /// under any ID (fencing's tombstones). One per removal; kept by the membership itself
    /// (`ClusterMembership.retiredKeys`), as every node keeps them.
    public var retiredKeys: Set<PublicKey> { Set(membership.retiredKeys.values) }

    public init() {}

    public var isVerified: Bool { height >= 1 }

    /// One header as `GET /chain/headers` serves it: no transactions.
    public struct Entry: Sendable, Equatable {
        public var header: BlockHeader
        public var signature: Signature
        public var membership: MembershipChange?
        public init(header: BlockHeader, signature: Signature, membership: MembershipChange?) {
            self.header = header
            self.signature = signature
            self.membership = membership
        }
        public init(_ block: Block) { self.init(header: block.header, signature: block.proposerSignature, membership: block.membership) }
    }

    /// Applies `entries` (from `height + 1` on, in order) or throws and changes nothing.
    /// `pinnedKey` answers the key the registry pinned for a node ID (the bootstrap's anchor).
    public mutating func apply(_ entries: [Entry], pinnedKey: (String) -> PublicKey?) throws(ChainVerificationError) {
        var next = self
        for e in entries { try next.applyOne(e, pinnedKey: pinnedKey) }
        self = next
    }

    private mutating func applyOne(_ e: Entry, pinnedKey: (String) -> PublicKey?) throws(ChainVerificationError) {
        let h = e.header
        guard height < UInt64.max, h.height == height + 1 else { throw .wrongHeight(expected: height &+ 1, got: h.height) }
        guard Ed25519.verify(e.signature, message: h.hash.bytes, publicKey: h.proposer) else { throw .badSignature(height: h.height) }
        if h.height == 1 {
            guard let change = e.membership, change.kind == .bootstrap else { throw .noBootstrap }
            guard change.nodeKey == h.proposer else { throw .notAVoter(height: 1) }
            guard let anchor = pinnedKey(change.nodeId) else { throw .unknownBootstrap(change.nodeId) }
            guard anchor == change.nodeKey else { throw .bootstrapKeyMismatch(change.nodeId) }
            genesisHash = h.prevHash
        } else {
            guard h.prevHash == headHash else { throw .brokenLink(height: h.height) }
            guard h.term >= term else { throw .termWentBack(height: h.height) }
            guard membership.voters.contains(where: { membership.keys[$0] == h.proposer }) else { throw .notAVoter(height: h.height) }
        }
        try checkContents(e)
        let previousMembership = membership
        if let change = e.membership { membership = membership.applying(change) }
        // Block 1's stateRoot is the bootstrap's over genesis state, checked the same way.
        proposer = previousMembership.voters.first { previousMembership.keys[$0] == h.proposer } ?? e.membership?.nodeId
        height = h.height
        transactions &+= UInt64(h.txCount)
        headHash = h.hash
        headStateRoot = h.stateRoot
        term = h.term
    }

    /// A membership change is the one the header commits to; an empty block keeps the stateRoot.
    private func checkContents(_ e: Entry) throws(ChainVerificationError) {
        let h = e.header
        if let change = e.membership {
            guard h.txCount == 0 else { throw .membershipWithTransactions(height: h.height) }
            // Block 1 follows genesis, whose stateRoot is not served; its change is anchored by its key.
            if h.height > 1, h.stateRoot != StateRoot.next(previous: headStateRoot, membership: change) {
                throw .membershipNotSigned(height: h.height)
            }
        } else if h.txCount == 0, h.stateRoot != headStateRoot {
            // Nodes keep the stateRoot on an empty block (BlockCheck); a membership block served
            // without its change would look like an empty block that moved it.
            throw .membershipWithheld(height: h.height)
        }
    }
}

/// Why a batch of headers was not accepted (the registry tries another node next round).
public enum ChainVerificationError: Error, Sendable, Equatable, CustomStringConvertible {
    case wrongHeight(expected: UInt64, got: UInt64)
    case badSignature(height: UInt64)
    case noBootstrap
    case unknownBootstrap(String)
    case bootstrapKeyMismatch(String)
    case brokenLink(height: UInt64)
    case termWentBack(height: UInt64)
    case notAVoter(height: UInt64)
    case membershipWithTransactions(height: UInt64)
    case membershipNotSigned(height: UInt64)
    case membershipWithheld(height: UInt64)
    /// The node that served a chain from block 1 is not a member of it under its pinned key.
    case sourceNotAMember(String)
    /// Too few of the chain's voters registered with the keys it gives them (a chain from a node
    /// that is not the registry's own is believed only when a majority did).
    case votersNotRegistered(registered: Int, voters: Int)

    public var description: String {
        switch self {
        case .wrongHeight(let e, let g): "expected block \(e), got \(g)"
        case .badSignature(let h): "block \(h): the proposer signature does not verify"
        case .noBootstrap: "block 1 is not a bootstrap membership block"
        case .unknownBootstrap(let id): "block 1 bootstraps \(id), whose key the registry has not pinned"
        case .bootstrapKeyMismatch(let id): "block 1 bootstraps \(id) with a key other than the one pinned for it"
        case .brokenLink(let h): "block \(h) does not link to the block before it"
        case .termWentBack(let h): "block \(h) has a lower term than the block before it"
        case .notAVoter(let h): "block \(h) was not proposed by a voter of the configuration in force"
        case .membershipWithTransactions(let h): "block \(h) carries a membership change and transactions"
        case .membershipNotSigned(let h): "block \(h): the membership change is not the one its header commits to"
        case .membershipWithheld(let h): "block \(h): an empty block whose stateRoot shows a change that was not served"
        case .votersNotRegistered(let r, let v): "only \(r) of its \(v) voters registered here with the keys it gives them"
        case .sourceNotAMember(let id): "\(id) served a chain in which it is not a member under its key"
        }
    }
}

extension VerifiedChain.Entry {
    /// One element of `GET /chain/headers`' `headers` (a block's JSON without `txs`); the claimed
    /// `hash`, when present, must be the header's.
    public init(json: JSON) throws(BlockRejection) {
        guard case .object(var o) = json else { throw .invalidJSON("a header must be a JSON object") }
        o["txs"] = .array([])
        let block = try Block(json: .object(o))
        self.init(block)
    }
}
