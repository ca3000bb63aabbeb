/// A header, the proposer's signature over its hash, and the transactions. Promises: `hash` is the
/// header hash, computed once at construction. Nothing is checked at construction: use
/// `checkStructure`, `verifyProposerSignature` and `Transaction.verifyAll` before trusting a block.
public struct Block: Sendable, Hashable {
    /// Version byte that starts the binary codec.
    public static let codecVersion: UInt8 = 2

    public let header: BlockHeader
    /// Ed25519 signature of the 32 hash bytes by `header.proposer` (zero for genesis).
    public let proposerSignature: Signature
    public let txs: [Transaction]
    /// A membership change; a block that carries one has no transactions.
    public let membership: MembershipChange?
    public let hash: Hash32

    public init(header: BlockHeader, proposerSignature: Signature, txs: [Transaction], membership: MembershipChange? = nil) {
        self.header = header
        self.proposerSignature = proposerSignature
        self.txs = txs
        self.membership = membership
        self.hash = header.hash
    }

    /// A block proposed and signed by `proposerKey`, its txRoot and txCount derived from `txs`.
    public static func make(
        height: UInt64, prevHash: Hash32, stateRoot: Hash32, timestamp: UInt64, term: UInt64,
        txs: [Transaction], membership: MembershipChange? = nil, proposerKey: KeyPair
    ) -> Block {
        precondition(membership == nil || txs.isEmpty, "a membership block carries no transactions")
        precondition(txs.count <= Limits.maxTxsPerBlock, "block over the transaction limit")
        let header = BlockHeader(
            height: height, prevHash: prevHash, txRoot: Merkle.root(txs.map(\.hash)), stateRoot: stateRoot,
            timestamp: timestamp, term: term, proposer: proposerKey.publicKey, txCount: UInt32(txs.count))
        let block = Block(header: header, proposerSignature: proposerKey.sign(header.hash.bytes), txs: txs,
                          membership: membership)
        assert(block.verifyProposerSignature())
        return block
    }

    public var height: UInt64 { header.height }

    /// True when `proposerSignature` is `header.proposer`'s signature of the block hash.
    public func verifyProposerSignature() -> Bool {
        Ed25519.verify(proposerSignature, message: hash.bytes, publicKey: header.proposer)
    }

    /// Checks what a block claims about its own contents: count, txRoot, no duplicates, and each
    /// transaction's cheap stateless rules (on `chainId` when given). Signatures are checked
    /// separately, in bulk, with `Transaction.verifyAll`; ledger rules by `Ledger.execute`.
    public func checkStructure(chainId: String? = nil) throws(BlockRejection) {
        guard txs.count <= Limits.maxTxsPerBlock else {
            throw .tooManyTransactions(count: txs.count, limit: Limits.maxTxsPerBlock)
        }
        guard Int(header.txCount) == txs.count else { throw .txCountMismatch(header: header.txCount, actual: txs.count) }
        guard membership == nil || txs.isEmpty else { throw .invalidJSON("a membership block carries no transactions") }
        let root = Merkle.root(txs.map(\.hash))
        guard root == header.txRoot else { throw .txRootMismatch(header: header.txRoot, computed: root) }
        var seen = Set<Hash32>(minimumCapacity: txs.count)
        for (i, tx) in txs.enumerated() {
            guard seen.insert(tx.hash).inserted else { throw .duplicateTransaction(index: i, hash: tx.hash) }
            do {
                try tx.checkStatelessExceptSignature(chainId: chainId)
            } catch {
                throw .invalidTransaction(index: i, hash: tx.hash, reason: error)
            }
        }
    }

    // Blocks are identified by their hash; the header hash covers txRoot and so the txs.
    public static func == (a: Block, b: Block) -> Bool {
        a.hash == b.hash && a.proposerSignature == b.proposerSignature && a.txs == b.txs && a.membership == b.membership
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(hash) }
}

// MARK: - Binary codec (SQLite storage, Raft log)

extension Block {
    /// u8 version ‖ header fields (canonical bytes without the tag) ‖ proposerSignature ‖ each tx.
    public func encode() -> [UInt8] {
        var out: [UInt8] = [Self.codecVersion]
        out.reserveCapacity(BlockHeader.canonicalByteCount + Signature.byteCount + txs.count * 256)
        header.appendFields(to: &out)
        proposerSignature.append(to: &out)
        assert(Int(header.txCount) == txs.count, "encoding a block whose txCount is wrong")
        for tx in txs { tx.encode(into: &out) }
        if let membership {
            out.append(1)
            membership.encode(into: &out)
        } else {
            out.append(0)
        }
        return out
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Block {
        var reader = ByteReader(bytes)
        let version = try reader.readUInt8()
        guard version == codecVersion else { throw .unsupportedVersion(version) }
        let countOffset = 1 + BlockHeader.canonicalByteCount - BlockHeader.domainTag.count - 4
        let header = try BlockHeader.readFields(&reader)
        guard header.txCount <= UInt32(Limits.maxTxsPerBlock) else {
            throw .invalidValue(offset: countOffset, what: "txCount")
        }
        let signature = try reader.read(Signature.self)
        var txs: [Transaction] = []
        txs.reserveCapacity(Int(header.txCount))
        for _ in 0..<header.txCount { txs.append(try Transaction.decode(&reader)) }
        let flagOffset = reader.offset
        let membership: MembershipChange?
        switch try reader.readUInt8() {
        case 0: membership = nil
        case 1: membership = try MembershipChange.decode(&reader)
        default: throw .invalidValue(offset: flagOffset, what: "membership flag")
        }
        try reader.expectEnd()
        return Block(header: header, proposerSignature: signature, txs: txs, membership: membership)
    }
}
