// Per-peer replication progress kept by the leader, after etcd-io/raft's tracker.
//
// probe:     one append in flight at a time until the follower's match is found.
// replicate: appends are pipelined optimistically, at most `Inflights.capacity` in flight.

/// The last indexes of appends in flight to one follower, oldest first; bounded.
struct Inflights {
    let capacity: Int
    private(set) var lastIndexes: [UInt64] = []

    init(capacity: Int) {
        precondition(capacity >= 1)
        self.capacity = capacity
    }

    var isFull: Bool { lastIndexes.count >= capacity }

    mutating func add(_ lastIndex: UInt64) {
        precondition(!isFull, "inflight window overflow")
        assert(lastIndexes.last.map { $0 < lastIndex } ?? true, "inflights must grow")
        lastIndexes.append(lastIndex)
    }

    /// Frees every append whose last index is <= `index` (acknowledged).
    mutating func freeLE(_ index: UInt64) {
        let freed = lastIndexes.prefix { $0 <= index }.count
        lastIndexes.removeFirst(freed)
        assert(lastIndexes.first.map { $0 > index } ?? true)
    }

    mutating func reset() { lastIndexes.removeAll(keepingCapacity: true) }
}

struct Progress {
    enum State: Equatable { case probe, replicate }

    var match: UInt64 = 0
    var next: UInt64
    var state: State = .probe
    /// Probe state: an append was sent and not yet answered (or heartbeat-answered).
    var probeSent = false
    var inflights: Inflights
    /// Heard from since the last check-quorum round.
    var recentActive = false
    var isLearner: Bool
    /// Ticks in the replicate state with unacknowledged entries and no progress.
    var stalledTicks = 0

    init(next: UInt64, maxInflight: Int, isLearner: Bool) {
        precondition(next >= 1)
        self.next = next
        self.inflights = Inflights(capacity: maxInflight)
        self.isLearner = isLearner
    }

    var isPaused: Bool {
        switch state {
        case .probe: return probeSent
        case .replicate: return inflights.isFull
        }
    }

    mutating func becomeProbe() {
        state = .probe
        probeSent = false
        next = match + 1
        inflights.reset()
        stalledTicks = 0
        assert(next > match)
    }

    mutating func becomeReplicate() {
        state = .replicate
        probeSent = false
        next = match + 1
        inflights.reset()
        stalledTicks = 0
        assert(next > match)
    }

    /// An acknowledgement up to `index`; false when it is stale.
    mutating func maybeUpdate(_ index: UInt64) -> Bool {
        var updated = false
        if index > match {
            match = index
            updated = true
            probeSent = false
            stalledTicks = 0
        }
        next = max(next, index + 1)
        assert(next > match)
        return updated
    }

    /// A rejection of the append at `rejected`; `hint` is where the follower may match.
    /// False when the rejection is stale (it answers an append we no longer care about).
    mutating func maybeDecrTo(rejected: UInt64, hint: UInt64) -> Bool {
        if state == .replicate {
            guard rejected > match else { return false }
            becomeProbe()
            next = max(min(rejected, hint + 1), match + 1)
            return true
        }
        guard next == rejected + 1 else { return false }
        next = max(min(rejected, hint + 1), match + 1)
        probeSent = false
        assert(next > match && next >= 1)
        return true
    }

    /// Record an append of entries ending at `lastIndex` (nil: an empty append).
    mutating func sent(lastIndex: UInt64?) {
        switch state {
        case .replicate:
            if let lastIndex {
                next = lastIndex + 1
                inflights.add(lastIndex)
            }
        case .probe:
            probeSent = true
        }
        assert(next > match)
    }
}
