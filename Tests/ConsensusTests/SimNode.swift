// One simulated node: the core, its durable storage, and a ledger replica, driven through the
// runtime contract (persist, send, apply, advance) with crashes possible between any two steps.
import Chain
@testable import Consensus
@testable import SimulationSupport

/// Where inside one Ready cycle a node may die. What was done before the point is kept in
/// storage (or already on the wire); everything after it is lost.
enum CrashPoint: Equatable {
    /// `ready()` returned; nothing persisted, nothing sent.
    case beforePersist
    /// Entries and hard state persisted; messages never sent.
    case afterPersist
    /// Persisted and sent; none of the committed entries applied.
    case afterSend
    /// Persisted, sent, and the first `entries` committed entries applied (each durably, with
    /// its ledger state), the rest not; `advance` never called.
    case midApply(entries: Int)
}

/// A block a replica applied, for the cross-replica checks.
struct AppliedBlock {
    var entry: Entry
    var stateRoot: Hash32
    var supply: UInt64
}

/// What one `drain` did.
struct DrainOutcome {
    var messages: [Message] = []
    var applied: [AppliedBlock] = []
    var crashed: CrashPoint?
    var failure: SimApplyError?
    var evidence: [Evidence] = []
}

final class SimNode {
    let id: NodeID
    let storage: MemoryStorage
    var core: RaftCore<MemoryStorage>
    private(set) var ledger: SimLedger
    let cache: SimExecutionCache
    /// The node runtime hands a committed conf change to the core after `advance`; the test
    /// runtime before it. Both keep the contract; seeds pick one.
    let confChangeAfterAdvance: Bool
    /// Bound on Ready cycles per drain: a core that never settles is a bug, not a slow run.
    static let maxReadyRoundsPerDrain = 1000

    /// Starts (or restarts) from storage alone: the ledger is rebuilt from the durable log.
    init(id: NodeID, storage: MemoryStorage, settings: RaftSettings, cache: SimExecutionCache,
         confChangeAfterAdvance: Bool) throws(SimApplyError) {
        self.id = id
        self.confChangeAfterAdvance = confChangeAfterAdvance
        self.storage = storage
        self.cache = cache
        self.ledger = try SimLedger.replay(storage.log, through: storage.applied, cache: cache)
        self.core = RaftCore(settings: settings, storage: storage, appliedIndex: storage.applied)
        assert(ledger.appliedIndex == core.status.applied)
    }

    /// Runs Ready cycles until idle or until `crash` picks a point in one of them.
    func drain(crash: () -> CrashPoint?) -> DrainOutcome {
        var outcome = DrainOutcome()
        var rounds = 0
        while core.hasReady {
            rounds += 1
            precondition(rounds < Self.maxReadyRoundsPerDrain, "ready loop does not settle")
            let point = crash()
            let rd = core.ready()
            if point == .beforePersist { outcome.crashed = point; return outcome }
            outcome.evidence.append(contentsOf: rd.evidence)
            storage.persist(rd)
            if point == .afterPersist { outcome.crashed = point; return outcome }
            outcome.messages.append(contentsOf: rd.messages)
            if point == .afterSend { outcome.crashed = point; return outcome }
            var changes: [ConfChange] = []
            for (i, entry) in rd.committedEntries.enumerated() {
                if case .midApply(let kept) = point, i >= kept { outcome.crashed = point; return outcome }
                do { try apply(entry) } catch {
                    outcome.failure = error
                    return outcome
                }
                if let change = entry.confChange {
                    if confChangeAfterAdvance { changes.append(change) } else { applyToCore(change) }
                }
                outcome.applied.append(AppliedBlock(entry: entry, stateRoot: ledger.stateRoot, supply: ledger.supply))
            }
            if let point { outcome.crashed = point; return outcome }  // midApply past the last entry
            core.advance(rd)
            for change in changes { applyToCore(change) }
        }
        return outcome
    }

    /// Applies one committed entry: ledger, membership and applied index change together, as one
    /// storage transaction would make them durable together.
    private func apply(_ entry: Entry) throws(SimApplyError) {
        precondition(entry.index == storage.applied + 1, "apply out of order")
        try ledger.apply(entry, cache: cache)
        if let change = entry.confChange { storage.membership = storage.membership.applying(change) }
        storage.applied = entry.index
        assert(ledger.appliedIndex == storage.applied)
    }

    private func applyToCore(_ change: ConfChange) {
        let membership = core.applyConfChange(change)
        assert(membership == core.status.membership)
    }

    /// The state a leader builds its next block on: committed state plus every entry it holds
    /// beyond it (its own uncommitted blocks and earlier terms' ones), as a real leader would.
    func speculativeState() throws(SimApplyError) -> AccountOverlay<SimLedger> {
        var overlay = AccountOverlay(base: ledger)
        let last = core.log.lastIndex
        var next = ledger.appliedIndex + 1
        while next <= last {  // bounded by the uncommitted-entries limit
            let batch = core.log.entries(from: next, to: last + 1, maxBytes: Int.max, maxCount: 256)
            for entry in batch { overlay.apply(try SimLedger.execute(entry, on: overlay, cache: cache)) }
            next += UInt64(batch.count)
        }
        assert(next == last + 1)
        return overlay
    }
}
