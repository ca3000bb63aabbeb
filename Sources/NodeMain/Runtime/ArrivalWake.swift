import Synchronization

/// Whether a transfer admitted to the mempool should wake the runtime thread. The runtime arms it
/// before it sleeps with no transfer ready (the first arrival may be cut at once) and disarms it
/// when transfers wait for the block interval (it wakes by itself when the next block is due, so
/// an arrival changes nothing). Promise: an armed gate answers true to exactly one arrival, a
/// disarmed gate to none. One atomic exchange per call: it sits on every submission's path.
///
/// Why: unbatched clients (one transfer per request, 10,000 requests/s) woke the runtime once per
/// transfer; each wake-up was a futex call, two context switches and one idle round that cut
/// nothing, because the block interval had not passed (docs/DESIGN-NOTES.md).
final class ArrivalWake: Sendable {
    private let armed = Atomic<Bool>(true)

    /// The runtime's choice before it sleeps: arrivals wake it (true) or not (false).
    func arm(_ on: Bool) { armed.store(on, ordering: .sequentiallyConsistent) }

    /// A transfer was admitted: true when the runtime must be woken for it (at most once per arming).
    func arrived() -> Bool { armed.exchange(false, ordering: .sequentiallyConsistent) }

    var isArmed: Bool { armed.load(ordering: .sequentiallyConsistent) }
}
