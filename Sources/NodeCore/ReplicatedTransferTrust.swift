import Chain
import Consensus

/// Whether a follower checks every transfer signature of the blocks Raft replicates to it
/// (`[consensus] replicated_transfer_signatures`), with the same two values as block sync's
/// `[p2p] sync_transfer_signatures`; kept apart because the two trust different keys (below).
///
/// What `trustLeaderSigned` trusts here, and nothing more: that the leader this node follows in
/// its current term does not sign a block holding a transfer whose signature does not verify.
/// Every autochain leader checks each transfer's signature when it is submitted or forwarded, so an
/// honest one never does; a stolen voter key that wins an election could, and then every follower
/// trusting it would commit transfers nobody signed. Nobody else can: the transfers (signatures
/// included) are bound by the txRoot into the header the leader signed, and everything else is
/// still checked (hash link, txRoot, proposer's vote and signature, heights, nonces and balances
/// as the ledger executes the block, the stateRoot).
public typealias ReplicatedTransferSignatures = SyncTransferSignatures

/// The core's decision for one replicated block, under `ReplicatedTransferSignatures`.
public enum ReplicatedTransferTrust {
    /// Whether `block`'s transfer signatures may go unchecked on this node (`selfId`), which
    /// accepted `leader` as the leader of the block's term (nil: the block's term is not this
    /// node's current term, or it knows no leader for it). Only blocks signed with that leader's
    /// key in `membership` (as before the block) qualify, and never this node's own: blocks of
    /// an earlier term (re-replicated after an election) are verified in full. Callers must run
    /// `BlockCheck`'s link, structure and proposer checks (it does them before the transfers).
    public static func allows(_ block: Block, leader: NodeID?, selfId: NodeID, membership: ClusterMembership,
                              policy: ReplicatedTransferSignatures) -> Bool {
        guard policy == .trustLeaderSigned, let leader, leader != selfId, let key = membership.keys[leader] else { return false }
        return block.header.proposer == key
    }
}
