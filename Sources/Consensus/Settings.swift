// Consensus settings: every bound the core keeps, named once, with its default and reason.

/// Why a `RaftSettings` value was rejected.
public enum RaftSettingsError: Error, Sendable, Equatable {
    case invalid(field: String, reason: String)
}

/// Tunables of one core. All times are in ticks of the runtime's clock; all bounds are hard.
public struct RaftSettings: Sendable {
    /// This node's id; must be non-empty.
    public var id: NodeID
    /// Base election timeout T; the randomized timeout is drawn from [T, 2T). Also the
    /// check-quorum window, the leader-lease window and the leadership-transfer deadline.
    public var electionTimeoutTicks: Int = 10
    /// Leader heartbeat period; must be below the election timeout.
    public var heartbeatIntervalTicks: Int = 1
    /// Pipelined append messages in flight per follower in the replicate state.
    public var maxInflightAppends: Int = 64
    /// Entries per append message.
    public var maxEntriesPerAppend: Int = 64
    /// Bytes of entries per append message (at least one entry is always sent).
    public var maxBytesPerAppend: Int = 16 * 1024 * 1024
    /// Uncommitted entries a leader accepts before refusing proposals (bounds the unstable tail).
    public var maxUncommittedEntries: Int = 1024
    /// Unpersisted entries a follower holds; appends beyond it are dropped and retried later.
    public var maxUnstableEntries: Int = 4096
    /// Committed entries handed out per Ready.
    public var maxCommittedEntriesPerReady: Int = 256
    /// Outgoing messages queued between two Ready calls; beyond it messages are dropped,
    /// which Raft tolerates like network loss.
    public var maxPendingMessages: Int = 8192
    /// Evidence of faulty peers handed out per Ready; beyond it evidence is only counted
    /// (`RaftStatus.evidenceCount`), so a flooding peer cannot grow the core's memory.
    public var maxEvidencePerReady: Int = 64
    /// Pre-vote: a node that cannot win does not raise terms (rejoining partitions stay quiet).
    public var preVote: Bool = true
    /// Check-quorum: a leader without a quorum for an election timeout steps down, and
    /// followers that heard from a leader within it ignore vote requests.
    public var checkQuorum: Bool = true
    /// Seed of the election-timeout PRNG; give every node a different one.
    public var randomSeed: UInt64 = 0

    public init(id: NodeID, randomSeed: UInt64 = 0) {
        self.id = id
        self.randomSeed = randomSeed
    }

    /// Rejects values the core cannot run with.
    public func validate() throws(RaftSettingsError) {
        func check(_ ok: Bool, _ field: String, _ reason: String) throws(RaftSettingsError) {
            if !ok { throw .invalid(field: field, reason: reason) }
        }
        try check(!id.isEmpty, "id", "must not be empty")
        try check(heartbeatIntervalTicks >= 1, "heartbeatIntervalTicks", "must be >= 1")
        try check(electionTimeoutTicks > heartbeatIntervalTicks, "electionTimeoutTicks",
                  "must exceed heartbeatIntervalTicks")
        try check(electionTimeoutTicks <= 1_000_000, "electionTimeoutTicks", "must be <= 1000000")
        try check(maxInflightAppends >= 1, "maxInflightAppends", "must be >= 1")
        try check(maxEntriesPerAppend >= 1, "maxEntriesPerAppend", "must be >= 1")
        try check(maxBytesPerAppend >= 1, "maxBytesPerAppend", "must be >= 1")
        try check(maxUncommittedEntries >= 1, "maxUncommittedEntries", "must be >= 1")
        try check(maxUnstableEntries >= maxEntriesPerAppend, "maxUnstableEntries",
                  "must be >= maxEntriesPerAppend")
        try check(maxCommittedEntriesPerReady >= 1, "maxCommittedEntriesPerReady", "must be >= 1")
        try check(maxPendingMessages >= 16, "maxPendingMessages", "must be >= 16")
        try check(maxEvidencePerReady >= 1, "maxEvidencePerReady", "must be >= 1")
        assert(electionTimeoutTicks >= 2 && heartbeatIntervalTicks < electionTimeoutTicks)
        assert(maxUnstableEntries >= 1 && maxInflightAppends >= 1)
    }
}

/// SplitMix64: a small, seeded, deterministic PRNG (the core may use no other randomness).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
        assert(self.state == seed)
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
