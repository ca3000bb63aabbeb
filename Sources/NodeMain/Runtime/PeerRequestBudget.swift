import Synchronization

/// What each peer has waiting on the serving queue (`getBlocks`, `join`): at most `limitPerPeer`
/// at once, and forgotten when the peer disconnects, so that its queued work is skipped instead
/// of done for nobody. One peer cannot take the whole `max_pending_peer_requests`.
///
/// Promise: `enter` admits at most `limitPerPeer` tickets per peer until they `leave`;
/// `disconnected` makes every ticket issued before it stale (`isCurrent` false, `leave` a no-op).
final class PeerRequestBudget: Sendable {
    struct Ticket: Sendable {
        let peer: String
        let epoch: UInt64
    }

    private struct Slot {
        var pending: Int
        let epoch: UInt64
    }

    let limitPerPeer: Int
    private let slots = Mutex<(byPeer: [String: Slot], nextEpoch: UInt64)>(([:], 1))

    init(limitPerPeer: Int) {
        precondition(limitPerPeer >= 1, "a peer may have at least one request waiting")
        self.limitPerPeer = limitPerPeer
    }

    /// A ticket for one more request of `peer`, or nil when it has `limitPerPeer` waiting.
    func enter(_ peer: String) -> Ticket? {
        slots.withLock { s -> Ticket? in
            var slot = s.byPeer[peer] ?? Slot(pending: 0, epoch: s.nextEpoch)
            if s.byPeer[peer] == nil { s.nextEpoch += 1 }
            guard slot.pending < limitPerPeer else { return nil }
            slot.pending += 1
            s.byPeer[peer] = slot
            return Ticket(peer: peer, epoch: slot.epoch)
        }
    }

    /// The ticket's request is done (served or skipped).
    func leave(_ ticket: Ticket) {
        slots.withLock { s in
            guard var slot = s.byPeer[ticket.peer], slot.epoch == ticket.epoch else { return }
            slot.pending -= 1
            s.byPeer[ticket.peer] = slot.pending > 0 ? slot : nil
        }
    }

    /// False once the peer disconnected after the ticket was issued.
    func isCurrent(_ ticket: Ticket) -> Bool { slots.withLock { $0.byPeer[ticket.peer]?.epoch == ticket.epoch } }

    /// The peer is gone: what it has waiting is skipped.
    func disconnected(_ peer: String) { slots.withLock { _ = $0.byPeer.removeValue(forKey: peer) } }

    /// Requests waiting, over all peers.
    var pending: Int { slots.withLock { $0.byPeer.values.reduce(0) { $0 + $1.pending } } }
}
