import Consensus

// The runtime's half of the leader-link election: the Raft core decides whether a closed link
// means the leader is gone; the runtime owns the clock, so it holds the short delay.
extension RuntimeCore {
    /// The link to `peer` closed: when it was the leader's, the pre-vote is due after a delay
    /// spread over [`leaderLinkClosedElectionMinMs`, `leaderLinkClosedElectionMaxMs`] by this
    /// voter's campaign order (the first after the minimum, the last after the maximum).
    mutating func leaderLinkClosed(_ peer: String, now: RuntimeTime) -> [RuntimeEffect] {
        guard let campaign = raft.peerLinkClosed(peer) else { return [] }
        let minMs = UInt64(settings.leaderLinkClosedElectionMinMs)
        let spreadMs = UInt64(max(0, settings.leaderLinkClosedElectionMaxMs - settings.leaderLinkClosedElectionMinMs))
        let delayMs = minMs + spreadMs * UInt64(campaign.order) / UInt64(max(1, campaign.count - 1))
        leaderLinkElectionAtNs = now.monotonicNs + delayMs * 1_000_000
        return [.log(.info, "link to the leader closed; pre-vote soon unless it comes back", ["leader": peer, "delay_ms": delayMs]),
                .publishStatus]
    }

    /// The link to `peer` is open again: what it sends counts again.
    mutating func leaderLinkOpened(_ peer: String) -> [RuntimeEffect] {
        raft.peerLinkOpened(peer)
        return []
    }

    /// Call when `leaderLinkElectionAtNs` has passed: the pre-vote starts if the leader is still
    /// taken as gone (no word from it meanwhile); its messages come out of the next Ready.
    public mutating func leaderLinkElectionDue(now: RuntimeTime) {
        if halted { leaderLinkElectionAtNs = nil }
        guard !halted, pendingWrite == nil, let due = leaderLinkElectionAtNs, now.monotonicNs >= due else { return }
        leaderLinkElectionAtNs = nil
        view.wallClockMs = now.wallMs
        raft.campaignAfterLeaderLinkClosed()
    }
}
