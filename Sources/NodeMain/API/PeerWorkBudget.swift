import Synchronization

/// Units of work (here: forwarded transfers) each peer has waiting or being served, bounded per
/// peer. Promise: `enter` admits while the peer's total stays within `limitPerPeer`; a peer that
/// floods can hold only its own share, never another's.
final class PeerWorkBudget: Sendable {
    let limitPerPeer: Int
    private let inUse = Mutex<[String: Int]>([:])
    private let refused = Atomic<UInt64>(0)

    init(limitPerPeer: Int) {
        precondition(limitPerPeer >= 1, "a budget admits at least one unit")
        self.limitPerPeer = limitPerPeer
    }

    /// True when `units` more fit in `peer`'s share (the caller must `leave` them); false, and
    /// counted, when not.
    func enter(_ peer: String, units: Int) -> Bool {
        let admitted = inUse.withLock { use -> Bool in
            let now = use[peer, default: 0]
            guard units <= limitPerPeer - now else { return false }
            use[peer] = now + units
            return true
        }
        if !admitted { refused.wrappingAdd(1, ordering: .relaxed) }
        return admitted
    }

    func leave(_ peer: String, units: Int) {
        inUse.withLock { use in
            let left = use[peer, default: 0] - units
            use[peer] = left > 0 ? left : nil
        }
    }

    /// Units `peer` holds now.
    func units(of peer: String) -> Int { inUse.withLock { $0[peer, default: 0] } }
    /// Refused requests since start.
    var refusedCount: UInt64 { refused.load(ordering: .relaxed) }
}
