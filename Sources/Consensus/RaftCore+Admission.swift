// Who may say what: the checks a peer's message passes before it can touch any state.
//
// Raft is crash-fault tolerant: it assumes every member runs this code. These rules do not make
// it Byzantine-tolerant; they make sure that nothing a peer sends (a stranger, a learner, or a
// faulty voter) can trap the core, move it with values it cannot hold, or let a node that is not
// a voter elect, lead or raise terms. See docs/SECURITY.md, "Consensus threat model".

extension Message {
    /// The largest term or index a message may carry. Terms and indexes grow by one per
    /// election and per block, so real values stay far below it; it keeps every `+ 1` the core
    /// does from overflowing and every value inside JSON's signed 64-bit range.
    public static let maxTermOrIndex = UInt64(Int64.max)
    /// How far above ours a peer's term may be. Honest terms grow by one per election, so two
    /// members' terms never differ by this much; a faulty voter that could name any term would
    /// push every node to `maxTermOrIndex` in one message, after which no election could start
    /// (the next term is out of range). A node with an empty log (a newcomer, whose term is 0)
    /// takes any term in range.
    public static let maxTermJump: UInt64 = 1 << 24
}

/// Why the core refused a message before acting on it (the runtime counts these by reason: the
/// raw value is the `reason` label of `autochain_raft_refused_messages_total`, snake_case like
/// every label value).
public enum RefusalReason: String, Sendable, CaseIterable {
    /// Not addressed to us, from us, or from an empty id.
    case misaddressed
    /// A term, index or commit beyond `Message.maxTermOrIndex`, a term more than
    /// `Message.maxTermJump` above ours, or a value inconsistent with the message's own term (an
    /// entry or log position from the future).
    case outOfRange = "out_of_range"
    /// An append whose entries are not contiguous from `prevIndex + 1` with non-decreasing
    /// terms in 1...term.
    case malformed
    /// The sender is not a member (as of the last applied membership), or, on a node that knows
    /// no members yet, not one of the anchors it was given (`trustBeforeMembership`).
    case notMember = "not_member"
    /// A learner (or a non-voter) tried to campaign, vote, lead, or raise our term.
    case notVoter = "not_voter"
}

extension RaftCore {
    /// Nil when `message` may be stepped; otherwise why not. Pure: changes nothing.
    func refusal(of message: Message) -> RefusalReason? {
        guard message.to == id, message.from != id, !message.from.isEmpty else { return .misaddressed }
        if let reason = senderRefusal(of: message) { return reason }
        return rangeRefusal(of: message)
    }

    /// Who: a member, and a voter for anything that elects, leads or raises a term.
    private func senderRefusal(of message: Message) -> RefusalReason? {
        // A node that has not yet applied the bootstrap block knows no members. It listens only to
        // the nodes it was given reason to trust (its anchors: whoever admitted it to the cluster
        // it was told to join); a stranger's append would otherwise commit junk (which halts the
        // node) or a chain of the stranger's own.
        guard !membership.voters.isEmpty else { return anchors.contains(message.from) ? nil : .notMember }
        guard membership.all.contains(message.from) else { return .notMember }
        if !membership.isVoter(message.from) && (speaksAsVoter(message.kind) || message.term > term) {
            return .notVoter
        }
        return nil
    }

    /// Messages only a voter sends: election traffic and a leader's.
    private func speaksAsVoter(_ kind: Message.Kind) -> Bool {
        switch kind {
        case .preVote, .preVoteResponse, .vote, .voteResponse, .append, .heartbeat, .timeoutNow: return true
        case .appendResponse, .heartbeatResponse: return false
        }
    }

    /// Every number in the message is in range and consistent with the message's term.
    private func rangeRefusal(of message: Message) -> RefusalReason? {
        let max = Message.maxTermOrIndex
        guard message.term <= max else { return .outOfRange }
        // term <= maxTermOrIndex, so the sum cannot overflow.
        guard log.lastIndex == 0 || message.term <= term + Message.maxTermJump else { return .outOfRange }
        switch message.kind {
        case .preVote(let lastIndex, let lastTerm), .vote(let lastIndex, let lastTerm, _):
            // A candidate's last entry is from before the term it campaigns for.
            guard lastIndex <= max, lastTerm < message.term else { return .outOfRange }
        case .append(let prevIndex, let prevTerm, let entries, let commit):
            guard prevIndex <= max - UInt64(min(entries.count, Int(max))), commit <= max,
                  prevTerm <= message.term else { return .outOfRange }
            guard isWellFormed(prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, term: message.term) else {
                return .malformed
            }
        case .appendResponse(_, let index, let hint, let hintTerm):
            guard index <= max, hint <= max, hintTerm <= message.term else { return .outOfRange }
        case .heartbeat(let commit):
            guard commit <= max else { return .outOfRange }
        case .timeoutNow:
            // Sent by our leader in our term; from a higher term it would start an election
            // (past the leader lease) on the word of a node we never followed.
            guard message.term <= term else { return .outOfRange }
        case .preVoteResponse, .voteResponse, .heartbeatResponse:
            break
        }
        return nil
    }

    /// Entries are contiguous from `prevIndex + 1`, with terms in 1...term that never go down
    /// (a log's terms only grow), starting at or above `prevTerm`.
    private func isWellFormed(prevIndex: UInt64, prevTerm: UInt64, entries: [Entry], term messageTerm: UInt64) -> Bool {
        var expected = prevIndex + 1  // cannot overflow: prevIndex + entries.count <= max was checked
        var lastTerm = prevTerm
        for entry in entries {  // bounded by the message
            guard entry.index == expected, entry.term >= lastTerm, entry.term >= 1, entry.term <= messageTerm else {
                return false
            }
            lastTerm = entry.term
            expected += 1
        }
        assert(expected == prevIndex + 1 + UInt64(entries.count))
        return true
    }

    /// Lets `sender` speak to this node while it knows no members (a fresh node: the leader that
    /// admitted it, as the runtime learned from an authenticated join answer). Has no effect
    /// once a membership is known: from then on only members are heard.
    public mutating func trustBeforeMembership(_ sender: NodeID) {
        guard membership.voters.isEmpty, sender != id, !sender.isEmpty else { return }
        anchors.insert(sender)
    }

    /// True when this node knows no members yet and `sender` is one of its anchors.
    public func isAnchor(_ sender: NodeID) -> Bool { membership.voters.isEmpty && anchors.contains(sender) }

    /// Counts a refusal; the runtime reads the totals from `status`.
    mutating func noteRefusal(_ reason: RefusalReason) {
        refusals[reason, default: 0] &+= 1
    }

    /// Keeps evidence for the runtime, up to a bound per Ready (the total is always counted).
    mutating func noteEvidence(_ evidence: Evidence) {
        evidenceCount &+= 1
        if pendingEvidence.count < settings.maxEvidencePerReady { pendingEvidence.append(evidence) }
    }
}
