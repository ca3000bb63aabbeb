// Consensus: Raft with log index = block height, as a pure state machine.
// This file holds the value types shared with the node runtime.

/// A node's stable identity in the cluster.
public typealias NodeID = String

/// The state that must be durable before any message produced with it is sent.
public struct HardState: Sendable, Equatable {
    public var term: UInt64
    public var vote: NodeID?
    public var commit: UInt64

    public init(term: UInt64 = 0, vote: NodeID? = nil, commit: UInt64 = 0) {
        assert(vote.map { !$0.isEmpty } ?? true, "a vote names a node")
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// The voters (who elect and form quorums) and learners (who only receive the log).
/// A node is never both.
public struct RaftMembership: Sendable, Equatable {
    public var voters: Set<NodeID>
    public var learners: Set<NodeID>

    public init(voters: Set<NodeID>, learners: Set<NodeID> = []) {
        precondition(voters.isDisjoint(with: learners), "a node is either a voter or a learner")
        self.voters = voters
        self.learners = learners
    }

    /// Every member, voter or learner.
    public var all: Set<NodeID> { voters.union(learners) }
}

/// A single-step membership change. Applied when the runtime applies the committed entry.
public enum ConfChange: Sendable, Equatable {
    case addLearner(NodeID)
    case promote(NodeID)
    case remove(NodeID)
}

/// One log entry. `index` is the block height; entry 0 is genesis (term 0).
/// `data` is opaque to the core; `confChange` is set when the block carries a membership change.
public struct Entry: Sendable, Equatable {
    public var index: UInt64
    public var term: UInt64
    public var data: [UInt8]
    public var confChange: ConfChange?

    public init(index: UInt64, term: UInt64, data: [UInt8] = [], confChange: ConfChange? = nil) {
        self.index = index
        self.term = term
        self.data = data
        self.confChange = confChange
    }

    /// Size used for the per-append byte bound: payload plus a fixed header estimate.
    var sizeBytes: Int { data.count + 32 }
}

/// The role a node plays in its current term.
public enum Role: String, Sendable, CaseIterable {
    case follower, preCandidate, candidate, leader, learner
}

/// A message between two cores. The runtime moves it; the core gives it meaning.
public struct Message: Sendable, Equatable {
    /// What the message asks or answers.
    public enum Kind: Sendable, Equatable {
        /// Would you vote for me at `term` (the sender's term + 1)? Changes no one's term.
        case preVote(lastIndex: UInt64, lastTerm: UInt64)
        case preVoteResponse(reject: Bool)
        /// `transfer`: sent on a leadership transfer, so it overrides the leader lease.
        case vote(lastIndex: UInt64, lastTerm: UInt64, transfer: Bool)
        case voteResponse(reject: Bool)
        case append(prevIndex: UInt64, prevTerm: UInt64, entries: [Entry], commit: UInt64)
        /// On accept `index` is the follower's last matching index. On reject `index` is the
        /// rejected `prevIndex`; `rejectHint`/`hintTerm` point at the follower's likely match.
        case appendResponse(reject: Bool, index: UInt64, rejectHint: UInt64, hintTerm: UInt64)
        case heartbeat(commit: UInt64)
        case heartbeatResponse
        /// Campaign now, skipping pre-vote: the leader is handing over.
        case timeoutNow
    }

    public var from: NodeID
    public var to: NodeID
    public var term: UInt64
    public var kind: Kind

    public init(from: NodeID, to: NodeID, term: UInt64, kind: Kind) {
        self.from = from
        self.to = to
        self.term = term
        self.kind = kind
    }
}

/// The persisted log and state, read-only to the core. The runtime writes it from `Ready`.
/// It always holds entry 0 (genesis, term 0) and every entry up to `lastIndex` (no compaction).
public protocol RaftStorage {
    /// Hard state and the membership as of the last applied entry.
    func initialState() -> (HardState, RaftMembership)
    var lastIndex: UInt64 { get }
    /// The term of the entry at `index`, nil when there is none.
    func term(at index: UInt64) -> UInt64?
    /// Entries in [lo, hi), at most `maxBytes` of them but at least one when lo < hi.
    func entries(from lo: UInt64, to hi: UInt64, maxBytes: Int) -> [Entry]
    /// The payload of the entry a new leader appends to commit earlier terms' entries (§5.4.2).
    /// The runtime makes it a signed block without transactions; the default is empty.
    /// `lastEntry` is the entry right before it, possibly still unpersisted.
    func termStartData(index: UInt64, term: UInt64, after lastEntry: Entry?) -> [UInt8]
}

extension RaftStorage {
    public func termStartData(index: UInt64, term: UInt64, after lastEntry: Entry?) -> [UInt8] { [] }
}

/// Everything the runtime must do, in order: persist `hardState` and `entries` (durably when
/// `mustSync`), send `messages`, apply `committedEntries`, then call `advance`.
public struct Ready: Sendable {
    public var hardState: HardState?
    /// Persist first. If `entries[0].index <= storage.lastIndex`, truncate storage from there
    /// (only ever uncommitted entries) before writing.
    public var entries: [Entry]
    public var committedEntries: [Entry]
    public var messages: [Message]
    public var roleChanged: (role: Role, leader: NodeID?)?
    public var mustSync: Bool
    /// Rule breaks seen since the last Ready, to log, count and report (the messages were ignored).
    public var evidence: [Evidence] = []

    public var isEmpty: Bool {
        hardState == nil && entries.isEmpty && committedEntries.isEmpty && messages.isEmpty && roleChanged == nil
            && evidence.isEmpty
    }
}

/// A message only a faulty (or broken) node sends, kept as proof. The core ignored the message;
/// the runtime logs the evidence, counts it and reports it.
public struct Evidence: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// `from` claimed to lead `term`, which this node already knows `leader` leads
        /// (two leaders for one term: one of them lies).
        case equivocatingLeader = "equivocating_leader"
        /// `from`, leading `term`, sent an entry (or a previous-entry term) at `index` that
        /// conflicts with this node's committed entry there: committed entries never change.
        case committedConflict = "committed_conflict"
    }

    public var kind: Kind
    public var from: NodeID
    public var term: UInt64
    /// The leader this node had accepted for `term` (equivocatingLeader only).
    public var leader: NodeID?
    /// The conflicting index (committedConflict only; 0 otherwise).
    public var index: UInt64

    public init(kind: Kind, from: NodeID, term: UInt64, leader: NodeID? = nil, index: UInt64 = 0) {
        self.kind = kind
        self.from = from
        self.term = term
        self.leader = leader
        self.index = index
    }
}

/// What a client-caused proposal failure means; none of these are programmer errors.
public enum ProposalError: Error, Sendable, Equatable {
    case notLeader(leader: NodeID?)
    case transferInProgress
    case tooManyUncommitted
    case confChangePending
    case invalidConfChange(String)
}

/// The leader's view of one peer's replication.
public struct PeerStatus: Sendable, Equatable {
    public var match: UInt64
    public var next: UInt64
    public var replicating: Bool
    public var isLearner: Bool
}

/// A read-only snapshot of a core for `/status`, metrics and tests.
public struct RaftStatus: Sendable, Equatable {
    public var id: NodeID
    public var term: UInt64
    public var role: Role
    public var leader: NodeID?
    public var commit: UInt64
    public var applied: UInt64
    public var lastIndex: UInt64
    public var membership: RaftMembership
    /// Leader only; empty otherwise.
    public var peers: [NodeID: PeerStatus]
    /// Messages refused before they touched any state, by reason, since start.
    public var refusedMessages: [RefusalReason: UInt64] = [:]
    /// Evidence seen since start (each also handed out once in a Ready, up to a bound per Ready).
    public var evidenceCount: UInt64 = 0
}
