// A follower told that its link to the leader closed: the leader process is most likely gone
// (a killed process's sockets close at once), so it need not wait a whole election timeout.

extension RaftCore {
    /// The transport saw the authenticated link to `peer` close: end of stream or a reset, never
    /// mere silence (a partition closes nothing and keeps the normal timeouts). When `peer` is
    /// the leader this voter follows, the leader is taken as gone: its lease is dropped at once
    /// (this node now grants pre-votes, as it would after an election timeout without news) and
    /// true is returned: the runtime calls `campaignAfterLeaderLinkClosed()` after a short
    /// randomized delay. Word from the leader before then cancels that campaign.
    ///
    /// Only when an election starts changes, never how it is decided: a voter that still hears
    /// the leader keeps its lease and ignores the pre-vote (check-quorum), so a node whose link
    /// merely flapped cannot depose a leader the others still hear. Learners never campaign and
    /// ignore it.
    @discardableResult
    public mutating func peerLinkClosed(_ peer: NodeID) -> Bool {
        guard state == .follower, isPromotable, leader == peer else { return false }
        leader = nil
        leaderLinkClosed = true
        assert(awaitsLeaderLinkElection)
        return true
    }

    /// True while this voter's link to its leader is closed and it has not heard of a leader
    /// since (nor granted another voter's pre-vote, nor moved to another term).
    public var awaitsLeaderLinkElection: Bool { leaderLinkClosed && state == .follower && isPromotable }

    /// Starts a pre-vote (an election without pre-vote) if the leader is still taken as gone;
    /// otherwise does nothing. The runtime calls it once the delay after `peerLinkClosed` passed.
    public mutating func campaignAfterLeaderLinkClosed() {
        guard awaitsLeaderLinkElection else { return }
        leaderLinkClosed = false
        guard !logRemovesSelf else { return }
        startElection(transfer: false)
        assert(state != .follower)
    }
}
