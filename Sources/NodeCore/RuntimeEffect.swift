import Chain
import Consensus

/// What the runtime core asks its shell to do. The shell performs a list of effects in order;
/// `persist` is always the last of a list: the shell makes the batch durable and only then calls
/// `RuntimeCore.persisted(now:)`, whose effects (messages, published blocks, answers) follow.
/// A write the disk refuses stalls the core: the shell keeps the batch, retries it, and does not
/// hand the core anything that could produce another write until it succeeds.
public enum RuntimeEffect: Sendable {
    /// Make the batch durable, then call `persisted(now:)`.
    case persist(StoreBatch)
    /// Raft messages to peers (their order kept).
    case send([Message])
    /// Committed blocks, stored: move them into the shared state, answer the callers waiting on
    /// their transactions. `startedNs`: when their round began (for the apply-time metric).
    case publish([CommittedBlock], startedNs: UInt64)
    /// Replicated entries of other proposers, to decode and check off the runtime thread.
    case precheckEntries([LogRecord])
    /// Checks of entries at or below this height are no longer needed.
    case forgetPrechecks(through: UInt64)
    /// Block-synced blocks to signature-check off the runtime thread.
    case precheckSyncedBlocks([Block])
    /// Every block-sync check is no longer needed.
    case clearSyncedPrechecks
    /// Transactions taken for blocks that will not be proposed go back to the mempool.
    case returnInFlightTransactions
    /// Candidates the leader refused: out of the mempool, their waiters answered.
    case dropTransactions([(Transaction, TxRejection)])
    /// Transactions stuck behind a nonce gap since before this time leave the mempool.
    case evictStaleTransactions(arrivedBeforeNs: UInt64)
    /// Tells a joining node (or the member that relayed its request) the outcome.
    case answerJoin(peer: String, nodeId: String, accepted: Bool, reason: String, leaderHint: String?)
    /// Ask connected peers to add this node (`--join`).
    case requestJoin
    /// A `getBlocks` request; when it cannot be sent, tell `blockRequestFailed(from:)`.
    case requestBlocks(from: UInt64, count: Int, peer: String)
    /// The answer to `membership(_:request:)`.
    case answerMembership(request: UInt64, MembershipOutcome)
    /// The answer to `transferLeadership(to:request:)`: true when leadership moved (or was not ours).
    case answerTransfer(request: UInt64, Bool)
    /// The Raft role changed (the status is as of after the change).
    case roleChanged(RaftStatus)
    /// Status worth publishing changed (role, term, commit, sync, membership).
    case publishStatus
    /// The consensus core refused a peer's message at the door.
    case refused(Message, RefusalReason)
    /// A peer sent what only a faulty member sends.
    case evidence(Evidence)
    /// Blocks arrived that no sync request asked for (ignored).
    case unsolicitedBlocks
    /// A line for the node's log.
    case log(LogLevel, String, KeyValuePairs<String, any Sendable>)
    /// Consensus state cannot be trusted: the node must stop at once. Nothing after it happens.
    case halt(String)
}

/// The outcome of a membership change asked of this node.
public enum MembershipOutcome: Sendable, Equatable {
    case proposed(height: UInt64)
    case notLeader(leader: String?)
    case refused(MembershipRejection)
}

/// The runtime core's settings, from `[consensus]` and `[p2p]` (NodeSettings in the node).
public struct RuntimeCoreSettings: Sendable {
    public var nodeId: String
    public var blockIntervalMs: Int
    public var maxBlockTxs: Int
    public var maxInflightBlocks: Int
    /// Voters the cluster aims for: learners are promoted while there are fewer.
    public var voters: Int
    public var promotionStabilizationMs: Int
    public var electionTimeoutMs: Int
    public var syncRequestTimeoutMs: Int
    public var syncIgnorePeerMs: Int
    /// Transactions stuck behind a nonce gap this long leave the mempool.
    public var mempoolFutureTtlS: Int
    /// A joining node asks the cluster to add it this often until it is a member (`[p2p]
    /// join_retry_ms`; default 1 s: a lost request costs a second, and a member's
    /// `min_join_interval_ms` of 500 ms lets every one through).
    public var joinRetryMs = 1_000
    /// A voter whose link to its leader closes (end of stream or reset: the leader process is
    /// most likely gone) starts a pre-vote after a delay in this range instead of an election
    /// timeout (`[consensus] leader_link_closed_election_min_ms` / `_max_ms`; default 10 to
    /// 210 ms), spread by the voters' order (sorted IDs without the leader: the first asks after
    /// the minimum, the last after the maximum). Survivors asking at once would split the vote
    /// and wait a whole election timeout; in turn, a later one has granted the first's pre-vote
    /// and stays quiet, unless the first could not win (its log behind). The spread must exceed
    /// a pre-vote's round trip (tens of ms on a loaded machine). Silence (a partition) changes
    /// nothing: the election timeout still applies.
    public var leaderLinkClosedElectionMinMs = 10
    public var leaderLinkClosedElectionMaxMs = 210
    /// How often the mempool is searched for transactions stuck behind a nonce gap past their
    /// TTL (`[mempool] eviction_interval_ms`; default 1 s: one leaves at most a second late).
    public var mempoolEvictionIntervalMs = 1_000
    /// Whether block sync verifies every transfer signature of a synced block again, or trusts
    /// those of blocks signed by the leader of their term (`[p2p] sync_transfer_signatures`;
    /// default `verify`; what the other trusts: `SyncTransferSignatures`).
    public var syncTransferSignatures = SyncTransferSignatures.verify
    /// Whether a follower verifies every transfer signature of the blocks Raft replicates to it,
    /// or trusts those of blocks signed by the leader it follows in its current term
    /// (`[consensus] replicated_transfer_signatures`; default `verify`; what the other trusts:
    /// `ReplicatedTransferSignatures`).
    public var replicatedTransferSignatures = ReplicatedTransferSignatures.verify

    /// A leadership transfer is answered false when leadership has not moved within this many
    /// election timeouts. Internal: Raft itself gives a transfer up after one election timeout,
    /// so two leave the new leader time to win its election and be heard of.
    public static let transferWaitElectionTimeouts = 2
    /// Block sync logs its progress at most this often (internal: a log throttle).
    public static let syncProgressLogIntervalMs = 1_000

    /// How long a leadership transfer is waited for before it is answered false.
    public var transferWaitMs: Int { electionTimeoutMs * Self.transferWaitElectionTimeouts }

    public init(nodeId: String, blockIntervalMs: Int, maxBlockTxs: Int, maxInflightBlocks: Int, voters: Int,
                promotionStabilizationMs: Int, electionTimeoutMs: Int, syncRequestTimeoutMs: Int, syncIgnorePeerMs: Int,
                mempoolFutureTtlS: Int) {
        self.nodeId = nodeId
        self.blockIntervalMs = blockIntervalMs
        self.maxBlockTxs = maxBlockTxs
        self.maxInflightBlocks = maxInflightBlocks
        self.voters = voters
        self.promotionStabilizationMs = promotionStabilizationMs
        self.electionTimeoutMs = electionTimeoutMs
        self.syncRequestTimeoutMs = syncRequestTimeoutMs
        self.syncIgnorePeerMs = syncIgnorePeerMs
        self.mempoolFutureTtlS = mempoolFutureTtlS
    }
}
