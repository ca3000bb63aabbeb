// Log replication: the leader's appends and heartbeats, the follower's answers, commit by quorum.

extension RaftCore {
    // MARK: - Leader

    /// Appends entries of this leader's term and counts them as its own match (the runtime
    /// persists them before any message or commit derived from them leaves the node).
    mutating func appendLocal(_ entries: [Entry]) {
        precondition(state == .leader)
        precondition(entries.allSatisfy { $0.term == term })
        log.append(entries)
        _ = maybeCommit()
        assert(log.lastIndex == entries.last?.index)
    }

    /// Commits the highest index stored on a quorum of voters if it is of the current term
    /// (Raft §5.4.2: earlier terms commit only indirectly). True when commit moved.
    mutating func maybeCommit() -> Bool {
        precondition(state == .leader)
        let matches = membership.voters.map { voter in
            voter == id ? log.lastIndex : (progress[voter]?.match ?? 0)
        }
        let index = Quorum.committedIndex(matches: matches)
        guard index > log.committed, log.term(at: index) == term else { return false }
        log.commitTo(index)
        assert(log.committed == index)
        return true
    }

    mutating func broadcastAppend(sendIfEmpty: Bool) {
        precondition(state == .leader)
        for peer in progress.keys.sorted() { sendAppend(to: peer, sendIfEmpty: sendIfEmpty) }
        assert(progress[id] == nil)
    }

    /// Sends the next batch to `peer` unless its window is paused.
    mutating func sendAppend(to peer: NodeID, sendIfEmpty: Bool) {
        guard var pr = progress[peer], !pr.isPaused else { return }
        let last = log.lastIndex
        precondition(pr.next >= 1 && pr.next <= last + 1, "next \(pr.next) outside log (last \(last))")
        let prevIndex = pr.next - 1
        guard let prevTerm = log.term(at: prevIndex) else { preconditionFailure("leader lost entry \(prevIndex)") }
        let entries = log.entries(from: pr.next, to: last + 1, maxBytes: settings.maxBytesPerAppend,
                                  maxCount: settings.maxEntriesPerAppend)
        if entries.isEmpty && !sendIfEmpty && pr.state == .replicate { return }
        let commit = log.committed
        send(to: peer, .append(prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: commit))
        pr.sent(lastIndex: entries.last?.index)
        progress[peer] = pr
        assert(pr.next > pr.match)
    }

    mutating func broadcastHeartbeat() {
        precondition(state == .leader)
        for (peer, pr) in progress.sorted(by: { $0.key < $1.key }) {
            // Never tell a follower of a commit beyond what it is known to hold.
            send(to: peer, .heartbeat(commit: min(log.committed, pr.match)))
        }
        assert(outbox.count <= settings.maxPendingMessages)
    }

    /// Replicate-state followers whose appends went unanswered for an election timeout fall
    /// back to probing, so a lost append is resent even when no new proposal arrives.
    mutating func tickStalledReplication() {
        precondition(state == .leader)
        let last = log.lastIndex
        for peer in progress.keys.sorted() {
            guard var pr = progress[peer], pr.state == .replicate, pr.match < last else { continue }
            pr.stalledTicks += 1
            if pr.stalledTicks >= settings.electionTimeoutTicks { pr.becomeProbe() }
            progress[peer] = pr
            if pr.state == .probe { sendAppend(to: peer, sendIfEmpty: true) }
        }
        assert(state == .leader)
    }

    mutating func handleAppendResponse(from peer: NodeID, reject: Bool, index: UInt64, hint: UInt64, hintTerm: UInt64) {
        precondition(state == .leader)
        guard var pr = progress[peer] else { return }
        pr.recentActive = true
        let last = log.lastIndex
        guard index <= last, hint <= last else { progress[peer] = pr; return }  // malformed
        if reject {
            var next = hint
            if hintTerm > 0 { next = log.findConflictByTerm(index: hint, term: hintTerm).index }
            let changed = pr.maybeDecrTo(rejected: index, hint: next)
            progress[peer] = pr
            if changed { sendAppend(to: peer, sendIfEmpty: true) }
            return
        }
        let wasPaused = pr.isPaused
        let updated = pr.maybeUpdate(index)
        // A probe answered at the current match also proves the follower's position.
        guard updated || (pr.state == .probe && pr.match == index) else { progress[peer] = pr; return }
        if pr.state == .probe { pr.becomeReplicate() } else { pr.inflights.freeLE(index) }
        progress[peer] = pr
        if maybeCommit() {
            broadcastAppend(sendIfEmpty: true)
        } else if wasPaused || pr.match < last {
            sendAppend(to: peer, sendIfEmpty: false)
        }
        if transferee == peer && pr.match == log.lastIndex { send(to: peer, .timeoutNow) }
        assert(pr.next > pr.match)
    }

    mutating func handleHeartbeatResponse(from peer: NodeID) {
        precondition(state == .leader)
        guard var pr = progress[peer] else { return }
        pr.recentActive = true
        pr.probeSent = false
        progress[peer] = pr
        if pr.match < log.lastIndex { sendAppend(to: peer, sendIfEmpty: true) }
        assert(progress[peer] != nil)
    }

    // MARK: - Follower

    mutating func handleAppend(from peer: NodeID, prevIndex: UInt64, prevTerm: UInt64, entries: [Entry], commit: UInt64) {
        precondition(state == .follower && leader == peer)
        if let index = committedConflict(prevIndex: prevIndex, prevTerm: prevTerm, entries: entries) {
            // A leader holds every committed entry (§5.4): this one lies or is broken.
            return noteEvidence(Evidence(kind: .committedConflict, from: peer, term: term, index: index))
        }
        if prevIndex < log.committed {
            // Already have everything up to commit; say so and let the leader move on.
            send(to: peer, .appendResponse(reject: false, index: log.committed, rejectHint: 0, hintTerm: 0))
            return
        }
        let unstableAfter = log.unstableEntries.count + entries.count
        guard unstableAfter <= settings.maxUnstableEntries else { return }  // leader will retry
        if let lastNew = log.maybeAppend(prevIndex: prevIndex, prevTerm: prevTerm, commit: commit, entries: entries) {
            send(to: peer, .appendResponse(reject: false, index: lastNew, rejectHint: 0, hintTerm: 0))
            return
        }
        let probe = min(prevIndex, log.lastIndex)
        let hint = log.findConflictByTerm(index: probe, term: prevTerm)
        send(to: peer, .appendResponse(reject: true, index: prevIndex, rejectHint: hint.index, hintTerm: hint.term))
        assert(hint.index <= prevIndex)
    }

    /// The first index at or below our commit where the append disagrees with our log, if any:
    /// its previous entry's term, or an entry's. (Well-formedness was checked at admission.)
    private func committedConflict(prevIndex: UInt64, prevTerm: UInt64, entries: [Entry]) -> UInt64? {
        let committed = log.committed
        guard prevIndex <= committed else { return nil }
        if !log.matchTerm(prevIndex, prevTerm) { return prevIndex }
        for entry in entries {  // bounded by the message
            guard entry.index <= committed else { break }
            if !log.matchTerm(entry.index, entry.term) { return entry.index }
        }
        assert(committed <= log.lastIndex)
        return nil
    }

    mutating func handleHeartbeat(from peer: NodeID, commit: UInt64) {
        precondition(state == .follower && leader == peer)
        log.commitTo(min(commit, log.lastIndex))
        send(to: peer, .heartbeatResponse)
        assert(log.committed <= log.lastIndex)
    }
}
