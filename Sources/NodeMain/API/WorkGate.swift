import Synchronization

/// A bound on work queued from outside: `enter` admits while fewer than `limit` are inside,
/// `leave` gives the place back. One atomic add per call, no lock, so it sits on the request path.
final class WorkGate: Sendable {
    let limit: Int
    private let inside = Atomic<Int>(0)
    private let refused = Atomic<UInt64>(0)

    init(limit: Int) {
        precondition(limit >= 1, "a gate admits at least one")
        self.limit = limit
    }

    /// True when admitted (the caller must `leave` once); false, and counted, when full.
    func enter() -> Bool {
        if inside.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        inside.wrappingSubtract(1, ordering: .relaxed)
        refused.wrappingAdd(1, ordering: .relaxed)
        return false
    }

    func leave() { inside.wrappingSubtract(1, ordering: .relaxed) }

    /// Admitted and not yet left.
    var count: Int { inside.load(ordering: .relaxed) }
    /// Refusals since start.
    var refusedCount: UInt64 { refused.load(ordering: .relaxed) }
}
