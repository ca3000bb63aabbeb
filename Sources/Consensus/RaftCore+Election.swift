// Message dispatch by term, and elections: pre-vote, vote, leader lease, leadership transfer.

extension RaftCore {
    /// Feeds one message from a peer. Stale messages are ignored; one refused at the door
    /// (RaftCore+Admission.swift) changes nothing and its reason is returned for the runtime's
    /// log and metrics. Nothing a message carries can trap the core.
    @discardableResult
    public mutating func step(_ message: Message) -> RefusalReason? {
        if let reason = refusal(of: message) {
            noteRefusal(reason)
            return reason
        }
        stepAdmitted(message)
        return nil
    }

    private mutating func stepAdmitted(_ message: Message) {
        guard stepTerm(message) else { return }
        assert(message.term >= term || isVoteRequest(message.kind))
        switch message.kind {
        case .preVote(let lastIndex, let lastTerm):
            handleVoteRequest(message, lastIndex: lastIndex, lastTerm: lastTerm, preVote: true)
        case .vote(let lastIndex, let lastTerm, _):
            handleVoteRequest(message, lastIndex: lastIndex, lastTerm: lastTerm, preVote: false)
        case .preVoteResponse(let reject):
            // A grant carries the term we asked for; anything else answers an older pre-vote.
            if state == .preCandidate && (reject || message.term == term + 1) {
                handleVoteResponse(from: message.from, reject: reject)
            }
        case .voteResponse(let reject):
            if state == .candidate && message.term == term { handleVoteResponse(from: message.from, reject: reject) }
        case .append, .heartbeat:
            guard message.from != closedLinkLeader else { return }  // sent before its link closed
            guard isLeaderOfTerm(message) else { return }
            guard state != .leader else { return }  // unreachable: we lead this term ourselves
            if state != .follower { becomeFollower(term: message.term, leader: message.from) }
            acceptedLeader = message.from
            leader = message.from
            leaderLinkClosed = false  // the leader is back (its link reconnected): no quick election
            electionElapsedTicks = 0
            if case .append(let prevIndex, let prevTerm, let entries, let commit) = message.kind {
                handleAppend(from: message.from, prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: commit)
            } else if case .heartbeat(let commit) = message.kind {
                handleHeartbeat(from: message.from, commit: commit)
            }
        case .appendResponse(let reject, let index, let hint, let hintTerm):
            if state == .leader {
                handleAppendResponse(from: message.from, reject: reject, index: index, hint: hint, hintTerm: hintTerm)
            }
        case .heartbeatResponse:
            if state == .leader { handleHeartbeatResponse(from: message.from) }
        case .timeoutNow:
            if state != .leader && isPromotable && message.from == leader && !logRemovesSelf { startElection(transfer: true) }
        }
    }

    /// The first node this node accepted as leader of a term keeps it: another node claiming
    /// the same term is ignored and kept as evidence (one of the two lies or is broken).
    private mutating func isLeaderOfTerm(_ message: Message) -> Bool {
        assert(message.term == term)
        guard let known = acceptedLeader, known != message.from, enforcesLeaderOfTerm else { return true }
        noteEvidence(Evidence(kind: .equivocatingLeader, from: message.from, term: term, leader: known))
        return false
    }

    private func isVoteRequest(_ kind: Message.Kind) -> Bool {
        assert(!id.isEmpty)
        switch kind {
        case .preVote, .vote: return true
        default: return false
        }
    }

    /// Term rules common to every message; false when the message must go no further.
    private mutating func stepTerm(_ message: Message) -> Bool {
        if message.term > term {
            switch message.kind {
            case .preVote, .vote:
                var transfer = false
                if case .vote(_, _, let t) = message.kind { transfer = t }
                // Leader lease: a node that heard from a leader recently ignores disruptors.
                let inLease = settings.checkQuorum && leader != nil
                    && electionElapsedTicks < settings.electionTimeoutTicks
                if inLease && !transfer { return false }
                if case .preVote = message.kind { return true }  // pre-vote never moves our term
                becomeFollower(term: message.term, leader: nil)
            case .preVoteResponse(let reject):
                // A granted pre-vote carries the future term; a rejection carries the voter's term.
                if !reject { return true }
                becomeFollower(term: message.term, leader: nil)
            case .append, .heartbeat, .timeoutNow:
                becomeFollower(term: message.term, leader: message.from)
            default:
                becomeFollower(term: message.term, leader: nil)
            }
            assert(term == message.term)
            return true
        }
        if message.term < term {
            switch message.kind {
            case .append, .heartbeat:
                // Tell a stale leader about our term; with pre-vote it cannot learn it otherwise.
                if settings.checkQuorum || settings.preVote {
                    send(to: message.from, .appendResponse(reject: false, index: 0, rejectHint: 0, hintTerm: 0))
                }
            case .preVote:
                send(to: message.from, .preVoteResponse(reject: true))
            default:
                break
            }
            return false
        }
        return true
    }

    mutating func startElection(transfer: Bool) {
        precondition(isPromotable && state != .leader)
        if settings.preVote && !transfer {
            becomePreCandidate()
            granted = [id]
            requestVotes(preVote: true, transfer: false)
        } else {
            becomeCandidate()
            granted = [id]
            requestVotes(preVote: false, transfer: transfer)
        }
        assert(state == .preCandidate || state == .candidate || state == .leader)
    }

    private mutating func requestVotes(preVote: Bool, transfer: Bool) {
        if checkElection() { return }
        let lastIndex = log.lastIndex
        let lastTerm = log.lastTerm
        for voter in membership.voters.sorted() where voter != id {
            if preVote {
                send(to: voter, .preVote(lastIndex: lastIndex, lastTerm: lastTerm), term: term + 1)
            } else {
                send(to: voter, .vote(lastIndex: lastIndex, lastTerm: lastTerm, transfer: transfer))
            }
        }
        assert(granted.contains(id))
    }

    /// Moves on when the election is decided; true when it was.
    private mutating func checkElection() -> Bool {
        switch Quorum.voteResult(voters: membership.voters, granted: granted, rejected: rejected) {
        case .won:
            if state == .preCandidate {
                becomeCandidate()
                granted = [id]
                requestVotes(preVote: false, transfer: false)
            } else {
                becomeLeader()
            }
            return true
        case .lost:
            becomeFollower(term: term, leader: nil)
            return true
        case .pending:
            return false
        }
    }

    private mutating func handleVoteResponse(from peer: NodeID, reject: Bool) {
        precondition(state == .preCandidate || state == .candidate)
        guard !granted.contains(peer) && !rejected.contains(peer) else { return }
        if reject { rejected.insert(peer) } else { granted.insert(peer) }
        assert(granted.isDisjoint(with: rejected))
        _ = checkElection()
    }

    private mutating func handleVoteRequest(_ message: Message, lastIndex: UInt64, lastTerm: UInt64, preVote: Bool) {
        assert(message.term >= term)
        let canVote = vote == message.from
            || (vote == nil && leader == nil)
            || (preVote && message.term > term)
        let grant = canVote && log.isUpToDate(lastIndex: lastIndex, lastTerm: lastTerm)
        if preVote {
            // Another voter asks first: let it go ahead rather than split the vote with it.
            if grant { leaderLinkClosed = false }
            send(to: message.from, .preVoteResponse(reject: !grant), term: grant ? message.term : term)
            return
        }
        if grant {
            vote = message.from
            electionElapsedTicks = 0
        }
        send(to: message.from, .voteResponse(reject: !grant))
        assert(!grant || vote == message.from)
    }
}
