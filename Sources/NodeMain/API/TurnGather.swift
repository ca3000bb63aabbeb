import P2P
import Synchronization

/// Collects what HTTP loops hand over during one turn and passes it on as one list at the end of
/// that turn: 64 unbatched clients whose `/submit-tx` requests arrive together become one job on
/// the work queue, one admission into the mempool and one wake of the runtime, instead of 64 of
/// each (thread hand-overs were the leader's largest cost after the signature checks).
///
/// Promises: every item added is passed exactly once, in the order added, to the `flush` given
/// with the first item of its list; that runs on the loop the first item came from, at the end of
/// its current turn, never inside `add`. Bounded by its callers: the API adds an item only after
/// its `WorkGate` admitted it.
final class TurnGather<Item: Sendable>: Sendable {
    private struct Pending {
        var items: [Item] = []
        /// A flush is scheduled and has not yet taken the list.
        var scheduled = false
    }

    private let pending = Mutex(Pending())

    init() {}

    /// Adds `item`; the first item of a list schedules `flush` at the end of `loop`'s turn (a
    /// later item's `flush` is not used). Must be called on `loop`'s thread.
    func add(_ item: Item, on loop: EventLoop, flush: @escaping @Sendable ([Item]) -> Void) {
        let schedule = pending.withLock { p -> Bool in
            p.items.append(item)
            guard !p.scheduled else { return false }
            p.scheduled = true
            return true
        }
        guard schedule else { return }
        loop.atEndOfTurn { [self] in
            let items = pending.withLock { p -> [Item] in
                p.scheduled = false
                defer { p.items = [] }
                return p.items
            }
            flush(items)
        }
    }
}
