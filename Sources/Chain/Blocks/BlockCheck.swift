/// Everything a node checks before a block it did not build touches its state: linkage, shape,
/// that a voter of the current membership proposed and signed it, every transaction signature,
/// and that executing it gives the stateRoot it claims. Used for Raft-replicated blocks and for
/// blocks fetched by block sync alike.
public enum BlockCheck {
    /// - Parameters:
    ///   - term: the Raft term of the log entry that carried the block, when known.
    ///   - membership: the membership as of the previous block.
    ///   - signaturesValid: the outcome of `Transaction.verifyAll` on exactly `block.txs`, when the
    ///     caller has checked them already (block sync checks them on other cores), or true when
    ///     the caller trusts them on the proposer's signature (block sync's
    ///     `sync_transfer_signatures = "trust_leader_signed"`): it is looked at only after the
    ///     link, the structure (txRoot), the proposer's vote and its signature checked out;
    ///     nil: checked here.
    public static func verifyAndExecute(
        _ block: Block, index: UInt64, term: UInt64?, prevHash: Hash32, prevStateRoot: Hash32,
        membership: ClusterMembership, accounts: some AccountSource, signaturesValid: Bool? = nil
    ) throws(BlockCheckError) -> CommittedBlock {
        let h = block.header
        guard h.height == index else { throw .init(index, "height \(h.height) in a slot for \(index)") }
        if let term { guard h.term == term else { throw .init(index, "term \(h.term), log entry says \(term)") } }
        guard h.prevHash == prevHash else { throw .init(index, "does not link to the previous block") }
        do { try block.checkStructure() } catch { throw .init(index, "malformed: \(error)") }
        try checkProposer(block, membership: membership)
        guard block.verifyProposerSignature() else { throw .init(index, "bad proposer signature") }
        if let change = block.membership {
            if let why = membership.rejection(of: change) { throw .init(index, "invalid membership change: \(why)") }
            let root = StateRoot.next(previous: prevStateRoot, membership: change)
            guard root == h.stateRoot else { throw .init(index, "stateRoot mismatch on a membership block") }
            return CommittedBlock(block: block, delta: .empty)
        }
        if block.txs.isEmpty {
            guard h.stateRoot == prevStateRoot else { throw .init(index, "an empty block must keep the stateRoot") }
            return CommittedBlock(block: block, delta: .empty)
        }
        if let signaturesValid {
            guard signaturesValid else { throw .init(index, "a transaction has a bad signature") }
        } else if let bad = Transaction.verifyAll(block.txs).firstIndex(of: false) {
            throw .init(index, "transaction \(bad) has a bad signature")
        }
        let delta: StateDelta
        do { delta = try Ledger.execute(block: block.txs, on: accounts) } catch { throw .init(index, "does not execute: \(error)") }
        let root = StateRoot.next(previous: prevStateRoot, changes: delta.changes)
        guard root == h.stateRoot else {
            throw .init(index, "stateRoot mismatch: block says \(h.stateRoot.hex), execution gives \(root.hex)")
        }
        return CommittedBlock(block: block, delta: delta)
    }

    /// Block 1 is the bootstrap block, signed by the node it names; every later block is
    /// proposed by a voter of the membership as it stood before the block.
    static func checkProposer(_ block: Block, membership: ClusterMembership) throws(BlockCheckError) {
        let index = block.header.height
        if let change = block.membership, change.kind == .bootstrap {
            guard index == 1, block.header.proposer == change.nodeKey else {
                throw .init(index, "a bootstrap block must be block 1, signed by the node it names")
            }
            return
        }
        guard index > 1 else { throw .init(index, "block 1 must be the bootstrap block") }
        let voterKeys = membership.voters.compactMap { membership.keys[$0] }
        guard voterKeys.contains(block.header.proposer) else {
            throw .init(index, "proposer \(block.header.proposer.hex) is not a voter")
        }
    }
}

/// A block that must not be applied, and why.
public struct BlockCheckError: Error, Sendable, CustomStringConvertible {
    public let height: UInt64
    public let reason: String
    init(_ height: UInt64, _ reason: String) {
        self.height = height
        self.reason = reason
    }
    public var description: String { "block \(height) rejected: \(reason)" }
}
