import Chain

/// Whether block sync checks every transfer signature of a synced block again
/// (`[p2p] sync_transfer_signatures`). Raft-replicated blocks have their own setting with the same
/// values (`ReplicatedTransferSignatures`).
///
/// What `trustLeaderSigned` trusts, and nothing more: that no key which was a **voter** of the
/// chain's membership at some height signs a block holding a transfer whose signature does not
/// verify. Every autochain node checks each transfer's signature before it proposes it (and every
/// follower checks the blocks its leader replicates), so an honest voter never does; a stolen
/// voter key could, and then this node would store transfers nobody signed. A peer serving sync
/// without a voter key cannot: a block's transfers (signatures included) are bound by its txRoot
/// into the header hash, which the proposer's signature covers, and `SyncedTransferTrust.allows`
/// is only asked once that signature, the proposer's vote and the link to this node's head have
/// been checked (`BlockCheck` checks them before the transfers).
public enum SyncTransferSignatures: String, Sendable, CaseIterable {
    /// Every transfer signature of every synced block is verified (the default).
    case verify
    /// Transfer signatures are not verified again inside a block whose proposer signature
    /// verifies, whose proposer is a voter of the membership before it, which links to the
    /// previous block by hash, and whose proposer is the one key its term's blocks are signed
    /// with as far as this node has seen (`SyncedTransferTrust`). Any other block is verified.
    case trustLeaderSigned = "trust_leader_signed"
}

/// The core's decision for one synced block, under `SyncTransferSignatures`.
public enum SyncedTransferTrust {
    /// Whether `block`'s transfer signatures may go unchecked, given the block it links to
    /// (`previous`, the header at `block.height - 1`; nil when unknown).
    ///
    /// Raft gives a term at most one leader, which proposes every block of its term and only
    /// those, and terms never decrease along a chain. So a block may be trusted only when its
    /// term is above the previous block's, or equal to it with the same proposer: two keys
    /// signing blocks of one term, or a term going back, cannot come from a committed chain,
    /// and such a block is verified in full. Callers must run the proposer checks first (as
    /// `BlockCheck.verifyAndExecute` does): this looks at the header only.
    public static func allows(_ block: Block, after previous: BlockHeader?, policy: SyncTransferSignatures) -> Bool {
        guard policy == .trustLeaderSigned, let previous, previous.height + 1 == block.header.height,
              previous.hash == block.header.prevHash
        else { return false }
        if block.header.term > previous.term { return true }
        return block.header.term == previous.term && block.header.proposer == previous.proposer
    }
}
