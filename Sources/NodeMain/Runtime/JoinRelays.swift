import Synchronization

/// Join requests this follower relayed to the leader for newcomers connected only to it, so the
/// leader's `joinResult` can go back to the right link. Promise: at most `limit` relays are
/// remembered; one older than `ttlNs` is forgotten (the newcomer asks again every `[p2p]
/// join_retry_ms`).
final class JoinRelays: Sendable {
    private struct Relay {
        let newcomerLink: String
        let sinceNs: UInt64
    }

    let limit: Int
    let ttlNs: UInt64
    private let relays = Mutex<[String: Relay]>([:])

    init(limit: Int, ttlNs: UInt64 = UInt64(NodeSettings.PeerNetwork.joinRelayTtlMs) * 1_000_000) {
        precondition(limit >= 1, "at least one relay")
        self.limit = limit
        self.ttlNs = ttlNs
    }

    /// Remembers that `nodeId`'s join went to the leader on behalf of the link `newcomerLink`;
    /// false when `limit` fresh relays wait already.
    func add(_ nodeId: String, newcomerLink: String, now: UInt64) -> Bool {
        relays.withLock { r in
            r = r.filter { now &- $0.value.sinceNs < ttlNs }
            guard r[nodeId] != nil || r.count < limit else { return false }
            r[nodeId] = Relay(newcomerLink: newcomerLink, sinceNs: now)
            return true
        }
    }

    /// The link to answer for `nodeId`, once.
    func take(_ nodeId: String, now: UInt64) -> String? {
        relays.withLock { r in
            guard let relay = r.removeValue(forKey: nodeId), now &- relay.sinceNs < ttlNs else { return nil }
            return relay.newcomerLink
        }
    }
}
