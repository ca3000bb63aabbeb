// The Raft core: a value type with no I/O. Inputs are `tick`, `step` and proposals; the output
// is a `Ready` the runtime performs. See Types.swift for the runtime contract.

/// A Raft node as a deterministic state machine. Not thread-safe; own it from one place.
public struct RaftCore<Storage: RaftStorage> {
    public let settings: RaftSettings
    var log: RaftLog<Storage>
    var id: NodeID { settings.id }

    var term: UInt64
    var vote: NodeID?
    var leader: NodeID?
    /// The first leader this node accepted for `term` (itself when it won); a different node
    /// claiming the same term is ignored as evidence. Forgotten only when the term moves.
    var acceptedLeader: NodeID?
    var state: Role = .follower
    var membership: RaftMembership

    /// Leader only: every other member's progress.
    var progress: [NodeID: Progress] = [:]
    var granted: Set<NodeID> = []
    var rejected: Set<NodeID> = []

    var electionElapsedTicks = 0
    var heartbeatElapsedTicks = 0
    var randomizedElectionTimeoutTicks: Int
    var rng: SplitMix64

    /// This follower's link to its leader closed and no word of a leader came since: it waits
    /// the short delay of `campaignAfterLeaderLinkClosed` instead of an election timeout.
    var leaderLinkClosed = false
    /// The leader of this term whose link closed and has not reopened: its messages still on
    /// the way were sent before the close and are dropped (they would renew a dead lease).
    var closedLinkLeader: NodeID?

    var transferee: NodeID?
    /// Index of the last conf change this leader proposed (or the last index at election).
    var pendingConfIndex: UInt64 = 0
    /// First index of this leader's term; a conf change waits until it is committed.
    var termStartIndex: UInt64 = 0

    var outbox: [Message] = []
    var persistedHardState: HardState
    var reportedRole: (role: Role, leader: NodeID?)
    var readyOutstanding = false

    /// Refusals by reason and evidence, for status; evidence not yet handed out in a Ready.
    var refusals: [RefusalReason: UInt64] = [:]
    /// Before this node knows any member: the only senders it steps (`trustBeforeMembership`).
    var anchors: Set<NodeID> = []
    var evidenceCount: UInt64 = 0
    var pendingEvidence: [Evidence] = []
    /// Always true in a node. Tests turn it off to show that the simulator catches a core that
    /// accepts a second leader for a term (the rule is what keeps those seeds safe).
    var enforcesLeaderOfTerm = true

    /// `appliedIndex`: the highest entry the runtime has applied (nil: the persisted commit).
    /// `storage.initialState().1` must be the membership as of that entry.
    public init(settings: RaftSettings, storage: Storage, appliedIndex: UInt64? = nil) {
        do { try settings.validate() } catch { preconditionFailure("invalid RaftSettings: \(error)") }
        let (hardState, membership) = storage.initialState()
        precondition(hardState.vote.map { !$0.isEmpty } ?? true)
        self.settings = settings
        self.log = RaftLog(storage: storage, committed: hardState.commit,
                           applied: appliedIndex ?? hardState.commit)
        self.term = hardState.term
        self.vote = hardState.vote
        self.membership = membership
        self.persistedHardState = hardState
        self.rng = SplitMix64(seed: settings.randomSeed)
        self.randomizedElectionTimeoutTicks = settings.electionTimeoutTicks
        self.reportedRole = (.follower, nil)
        becomeFollower(term: hardState.term, leader: nil)
        reportedRole = (visibleRole, nil)
        assert(log.lastIndex >= log.committed)
    }

    // MARK: - Roles

    /// The role as reported: a follower that is a learner says so.
    var visibleRole: Role {
        state == .follower && membership.isLearner(id) ? .learner : state
    }

    var isPromotable: Bool { membership.isVoter(id) }

    // Cheap reads of single `status` fields (status builds the per-peer table each time).
    public var role: Role { visibleRole }
    public var currentTerm: UInt64 { term }
    public var knownLeader: NodeID? { leader }
    public var lastIndex: UInt64 { log.lastIndex }

    /// True when an entry not yet applied removes this node. It does not stand for election then:
    /// it would lead a configuration it is leaving, and the runtime's term-start block would name
    /// a proposer the chain no longer counts as a voter, which every replica refuses (found by the
    /// runtime simulator). Bounded by the uncommitted-entries limit; read only when an election
    /// would start.
    var logRemovesSelf: Bool {
        let last = log.lastIndex
        var next = log.applied + 1
        while next <= last {
            let batch = log.entries(from: next, to: last + 1, maxBytes: Int.max, maxCount: 256)
            if batch.contains(where: { $0.confChange == .remove(id) }) { return true }
            guard !batch.isEmpty else { return false }
            next += UInt64(batch.count)
        }
        return false
    }

    mutating func resetTerm(_ newTerm: UInt64) {
        precondition(newTerm >= term, "terms never go back")
        if newTerm != term {
            term = newTerm
            vote = nil
            acceptedLeader = nil
            closedLinkLeader = nil
        }
        leader = nil
        electionElapsedTicks = 0
        heartbeatElapsedTicks = 0
        randomizedElectionTimeoutTicks = settings.electionTimeoutTicks
            + Int(rng.next() % UInt64(settings.electionTimeoutTicks))
        transferee = nil
        leaderLinkClosed = false
        granted = []
        rejected = []
        progress = [:]
        assert(randomizedElectionTimeoutTicks < 2 * settings.electionTimeoutTicks)
    }

    mutating func becomeFollower(term newTerm: UInt64, leader newLeader: NodeID?) {
        resetTerm(newTerm)
        state = .follower
        leader = newLeader
        if acceptedLeader == nil { acceptedLeader = newLeader }
        assert(state != .leader && progress.isEmpty)
    }

    mutating func becomePreCandidate() {
        precondition(state != .leader && isPromotable)
        // Pre-vote changes neither term nor vote: the node only asks if it could win.
        let keptTerm = term
        resetTerm(term)
        state = .preCandidate
        assert(term == keptTerm)
    }

    mutating func becomeCandidate() {
        precondition(state != .leader && isPromotable)
        resetTerm(term + 1)
        vote = id
        state = .candidate
        assert(vote == id)
    }

    mutating func becomeLeader() {
        precondition(state == .candidate && isPromotable, "only a candidate becomes leader")
        let keptVote = vote
        resetTerm(term)
        vote = keptVote
        state = .leader
        leader = id
        acceptedLeader = id
        let last = log.lastIndex
        for member in membership.all where member != id {
            var peer = Progress(next: last + 1, maxInflight: settings.maxInflightAppends,
                                isLearner: membership.isLearner(member))
            peer.recentActive = true
            progress[member] = peer
        }
        // Conservatively treat any earlier conf change in the log as still pending.
        pendingConfIndex = last
        if last > log.committed {
            // Entries of earlier terms commit only under an entry of ours (§5.4.2).
            termStartIndex = last + 1
            let previous = last == 0 ? nil : log.entries(from: last, to: last + 1, maxBytes: Int.max, maxCount: 1).first
            let data = log.storage.termStartData(index: last + 1, term: term, after: previous)
            appendLocal([Entry(index: last + 1, term: term, data: data)])
        } else {
            termStartIndex = last
        }
        broadcastAppend(sendIfEmpty: true)
        assert(state == .leader && leader == id)
    }

    // MARK: - Ticks

    /// Advances logical time by one tick.
    public mutating func tick() {
        precondition(electionElapsedTicks >= 0 && heartbeatElapsedTicks >= 0)
        if state == .leader { tickLeader() } else { tickElection() }
        assert(electionElapsedTicks <= 2 * settings.electionTimeoutTicks)
    }

    private mutating func tickElection() {
        electionElapsedTicks += 1
        if isPromotable && electionElapsedTicks >= randomizedElectionTimeoutTicks {
            electionElapsedTicks = 0
            // Whatever was sent before a close arrived long ago: if the reopening went unseen,
            // the leader counts again from here (else this node would ignore it for the term).
            closedLinkLeader = nil
            if !logRemovesSelf { startElection(transfer: false) }
        }
        electionElapsedTicks = min(electionElapsedTicks, 2 * settings.electionTimeoutTicks)
    }

    private mutating func tickLeader() {
        heartbeatElapsedTicks += 1
        electionElapsedTicks += 1
        if electionElapsedTicks >= settings.electionTimeoutTicks {
            electionElapsedTicks = 0
            transferee = nil  // a transfer that did not finish within an election timeout aborts
            if settings.checkQuorum && !hasActiveQuorum() {
                becomeFollower(term: term, leader: nil)
                return
            }
        }
        tickStalledReplication()
        if heartbeatElapsedTicks >= settings.heartbeatIntervalTicks {
            heartbeatElapsedTicks = 0
            broadcastHeartbeat()
        }
        assert(state == .leader)
    }

    /// Counts voters heard from since the last round (self included) and resets the marks.
    private mutating func hasActiveQuorum() -> Bool {
        var active: Set<NodeID> = membership.isVoter(id) ? [id] : []
        for (peer, var pr) in progress {
            if pr.recentActive && !pr.isLearner { active.insert(peer) }
            pr.recentActive = false
            progress[peer] = pr
        }
        let result = Quorum.voteResult(voters: membership.voters, granted: active, rejected: [])
        return result == .won
    }

    // MARK: - Client API

    /// Starts an election now (pre-vote first when enabled). Ignored by non-voters and leaders.
    public mutating func campaign() {
        guard state != .leader, isPromotable, !logRemovesSelf else { return }
        startElection(transfer: false)
        assert(state != .follower)
    }

    /// Proposes `data` as the next block; returns its index.
    public mutating func propose(_ data: [UInt8]) throws(ProposalError) -> UInt64 {
        try checkCanPropose()
        return appendProposal(Entry(index: log.lastIndex + 1, term: term, data: data))
    }

    /// Proposes a membership change carried by the block `data`; returns its index.
    public mutating func proposeConfChange(_ change: ConfChange, data: [UInt8]) throws(ProposalError) -> UInt64 {
        try checkCanPropose()
        if pendingConfIndex > log.applied || log.committed < termStartIndex {
            throw .confChangePending
        }
        if let reason = membership.rejection(of: change) { throw .invalidConfChange(reason) }
        let index = appendProposal(Entry(index: log.lastIndex + 1, term: term, data: data, confChange: change))
        pendingConfIndex = index
        return index
    }

    private func checkCanPropose() throws(ProposalError) {
        guard state == .leader else { throw .notLeader(leader: leader) }
        guard transferee == nil else { throw .transferInProgress }
        guard log.lastIndex - log.committed < UInt64(settings.maxUncommittedEntries) else {
            throw .tooManyUncommitted
        }
    }

    private mutating func appendProposal(_ entry: Entry) -> UInt64 {
        precondition(state == .leader && entry.index == log.lastIndex + 1 && entry.term == term)
        appendLocal([entry])
        broadcastAppend(sendIfEmpty: false)
        assert(log.lastIndex == entry.index)
        return entry.index
    }

    /// Hands leadership to `target` once it is caught up; aborts after an election timeout.
    public mutating func transferLeadership(to target: NodeID) {
        guard state == .leader, target != id, membership.isVoter(target), transferee != target else { return }
        guard let pr = progress[target] else { return }
        transferee = target
        electionElapsedTicks = 0
        if pr.match == log.lastIndex {
            send(to: target, .timeoutNow)
        } else {
            sendAppend(to: target, sendIfEmpty: true)
        }
        assert(transferee == target)
    }

    /// The runtime applied the committed entry carrying `change`; returns the new membership.
    public mutating func applyConfChange(_ change: ConfChange) -> RaftMembership {
        let before = membership
        membership = membership.applying(change)
        guard membership != before else { return membership }
        if state == .leader { reconcileProgress() }
        if !isPromotable && state != .follower {
            // Removed or demoted: stop leading or campaigning; the rest of the cluster goes on.
            becomeFollower(term: term, leader: state == .leader ? nil : leader)
        }
        assert(membership.voters.isDisjoint(with: membership.learners))
        return membership
    }

    private mutating func reconcileProgress() {
        precondition(state == .leader)
        for peer in progress.keys where !membership.all.contains(peer) { progress[peer] = nil }
        for member in membership.all where member != id {
            if progress[member] == nil {
                var pr = Progress(next: log.lastIndex + 1, maxInflight: settings.maxInflightAppends, isLearner: true)
                pr.recentActive = true
                progress[member] = pr
            }
            progress[member]?.isLearner = membership.isLearner(member)
        }
        if transferee.map({ !membership.isVoter($0) }) ?? false { transferee = nil }
        if maybeCommit() { broadcastAppend(sendIfEmpty: true) } else { broadcastAppend(sendIfEmpty: false) }
        assert(progress.count == membership.all.subtracting([id]).count)
    }

    // MARK: - Status

    public var status: RaftStatus {
        var peers: [NodeID: PeerStatus] = [:]
        for (peer, pr) in progress {
            peers[peer] = PeerStatus(match: pr.match, next: pr.next, replicating: pr.state == .replicate,
                                     isLearner: pr.isLearner)
        }
        assert(state == .leader || peers.isEmpty)
        return RaftStatus(id: id, term: term, role: visibleRole, leader: leader, commit: log.committed,
                          applied: log.applied, lastIndex: log.lastIndex, membership: membership, peers: peers,
                          refusedMessages: refusals, evidenceCount: evidenceCount)
    }

    var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }

    /// The node this node accepted as leader of `term`, if it knows one: the runtime checks a
    /// block of that term against it (its proposer must be that leader). Only the current term
    /// is remembered; nil for any other.
    public func leader(ofTerm queried: UInt64) -> NodeID? {
        queried == term ? acceptedLeader : nil
    }

    /// Queues a message, dropping it when the outbox is full (Raft tolerates loss).
    mutating func send(to peer: NodeID, _ kind: Message.Kind, term messageTerm: UInt64? = nil) {
        precondition(peer != id, "a node never messages itself")
        guard outbox.count < settings.maxPendingMessages else { return }
        outbox.append(Message(from: id, to: peer, term: messageTerm ?? term, kind: kind))
        assert(outbox.count <= settings.maxPendingMessages)
    }
}

extension RaftCore: Sendable where Storage: Sendable {}
