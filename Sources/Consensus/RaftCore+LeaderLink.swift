// A follower told that its link to the leader closed: the leader process is most likely gone
// (a killed process's sockets close at once), so it need not wait a whole election timeout.

extension RaftCore {
    /// The transport saw the authenticated link to `peer` close: end of stream or a reset, never
    /// mere silence (a partition closes nothing and keeps the normal timeouts). When `peer` is
    /// the leader this voter follows, the leader is taken as gone: its lease is dropped at once
    /// (this node now grants pre-votes, as it would after an election timeout without news),
    /// what still comes from it over the closed link is dropped (it was sent before the close:
    /// it must not bring the lease back), and this voter's campaign order is returned: its place
    /// among the other voters by ID (0 first, of `count`), from which the runtime spreads the
    /// short delays after which it calls `campaignAfterLeaderLinkClosed()`. Survivors that ask in
    /// turn do not split the vote. A heartbeat from the leader over a reopened link cancels it.
    ///
    /// Only when an election starts changes, never how it is decided: a voter that still hears
    /// the leader keeps its lease and ignores the pre-vote (check-quorum), so a node whose link
    /// merely flapped cannot depose a leader the others still hear. Learners never campaign and
    /// ignore it.
    @discardableResult
    public mutating func peerLinkClosed(_ peer: NodeID) -> (order: Int, count: Int)? {
        guard state == .follower, isPromotable, leader == peer else { return nil }
        leader = nil
        closedLinkLeader = peer
        leaderLinkClosed = true
        let others = membership.voters.subtracting([peer]).sorted()
        guard let order = others.firstIndex(of: id) else { return nil }
        assert(awaitsLeaderLinkElection)
        return (order, others.count)
    }

    /// The link to `peer` is open again (after `peerLinkClosed`): what it sends counts again.
    public mutating func peerLinkOpened(_ peer: NodeID) {
        if closedLinkLeader == peer { closedLinkLeader = nil }
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
