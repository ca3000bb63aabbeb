// Handing work to the runtime: Ready out, advance back in. One Ready at a time.

extension RaftCore {
    /// True when `ready()` would return something to do (and none is outstanding).
    public var hasReady: Bool {
        guard !readyOutstanding else { return false }
        let roleNow = (visibleRole, leader)
        return hardState != persistedHardState
            || !log.unstableEntries.isEmpty
            || log.committed > log.applied
            || !outbox.isEmpty
            || !pendingEvidence.isEmpty
            || roleNow.0 != reportedRole.role || roleNow.1 != reportedRole.leader
    }

    /// The next batch of work. Calling it again before `advance` is a programming error.
    public mutating func ready() -> Ready {
        precondition(!readyOutstanding, "ready() called twice without advance()")
        let now = hardState
        let hardStateChanged = now != persistedHardState
        let entries = log.unstableEntries
        let committed = log.nextCommittedEntries(maxCount: settings.maxCommittedEntriesPerReady,
                                                 maxBytes: settings.maxBytesPerAppend)
        var roleChanged: (role: Role, leader: NodeID?)?
        if visibleRole != reportedRole.role || leader != reportedRole.leader {
            roleChanged = (visibleRole, leader)
        }
        let mustSync = !entries.isEmpty || now.term != persistedHardState.term || now.vote != persistedHardState.vote
        let ready = Ready(hardState: hardStateChanged ? now : nil, entries: entries, committedEntries: committed,
                          messages: outbox, roleChanged: roleChanged, mustSync: mustSync, evidence: pendingEvidence)
        outbox.removeAll(keepingCapacity: true)
        pendingEvidence.removeAll()
        readyOutstanding = true
        assert(committed.allSatisfy { $0.index <= now.commit })
        assert(entries.isEmpty || entries[0].index > persistedHardState.commit, "only uncommitted entries are rewritten")
        return ready
    }

    /// The runtime persisted, sent and applied everything in `ready`.
    public mutating func advance(_ ready: Ready) {
        precondition(readyOutstanding, "advance() without a ready()")
        readyOutstanding = false
        if let hardState = ready.hardState {
            precondition(hardState.term >= persistedHardState.term, "hard state went back")
            persistedHardState = hardState
        }
        log.stableTo(ready.entries)
        if let last = ready.committedEntries.last {
            precondition(last.index > log.applied && last.index <= log.committed, "applied out of order")
            log.applied = last.index
        }
        if let change = ready.roleChanged { reportedRole = change }
        // A leader whose conf change was applied may now accept the next one; a follower's
        // commit may also move because its entries are now durable.
        assert(log.applied <= log.committed)
        assert(!readyOutstanding)
    }
}
