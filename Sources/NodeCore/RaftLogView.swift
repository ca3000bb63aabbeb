import Chain
import Consensus

/// The Raft core's read-only view of the persisted log: committed blocks come from the chain
/// store (log index = block height), the uncommitted tail from an in-memory mirror of the
/// `raft_log` table that the runtime updates right after each persist. Generic over the store so
/// that the simulators run this very view over an in-memory store.
public final class RaftLogView<Store: BlockStore>: RaftStorage {
    public let store: Store
    public private(set) var tail: [LogRecord]
    public private(set) var hardState: HardState
    public private(set) var membership: RaftMembership
    let signer: BlockSigner
    /// The wall clock as of the event the core is handling (set by the core before it steps
    /// Raft), for the timestamp of a term-start block.
    var wallClockMs: UInt64 = 0
    /// Terms of recently read committed blocks; the core asks for the same few again and again.
    private var termCache: [UInt64: UInt64] = [:]
    private static var termCacheMax: Int { 4_096 }

    public init(store: Store, membership: RaftMembership, signer: BlockSigner) throws {
        self.store = store
        self.signer = signer
        tail = try store.loadLogTail()
        let hs = try store.loadHardState()
        hardState = HardState(term: hs.term, vote: hs.vote, commit: max(hs.commit, store.headHeight))
        self.membership = membership
        precondition(tail.allSatisfy { $0.index > store.headHeight }, "log tail overlaps committed blocks")
    }

    public func initialState() -> (HardState, RaftMembership) { (hardState, membership) }

    /// Re-reads hard state and tail after block sync wrote committed blocks underneath the core.
    public func reload(membership: RaftMembership) throws {
        tail = try store.loadLogTail().filter { $0.index > store.headHeight }
        let hs = try store.loadHardState()
        hardState = HardState(term: hs.term, vote: hs.vote, commit: max(hs.commit, store.headHeight))
        self.membership = membership
        termCache.removeAll()
    }

    /// A new leader's first block when earlier terms left uncommitted blocks: no transactions,
    /// the previous state, signed by this node (DESIGN §4, Raft §5.4.2).
    public func termStartData(index: UInt64, term: UInt64, after lastEntry: Entry?) -> [UInt8] {
        let previous: Block?
        if let lastEntry { previous = try? Block.decode(lastEntry.data) } else { previous = try? store.block(at: index - 1) }
        guard let previous, previous.header.height + 1 == index else {
            preconditionFailure("term-start block \(index) needs the block before it")
        }
        return signer.block(height: index, prevHash: previous.hash, stateRoot: previous.header.stateRoot,
                            timestamp: max(wallClockMs, previous.header.timestamp), term: term, txs: []).encode()
    }

    public var lastIndex: UInt64 { tail.last?.index ?? store.headHeight }

    public func term(at index: UInt64) -> UInt64? {
        if index > store.headHeight {
            guard let first = tail.first, index >= first.index, index <= lastIndex else { return nil }
            return tail[Int(index - first.index)].term
        }
        if let t = termCache[index] { return t }
        guard let t = try? store.blockTerm(at: index) else { return nil }
        if termCache.count >= Self.termCacheMax { termCache.removeAll(keepingCapacity: true) }
        termCache[index] = t
        return t
    }

    public func entries(from lo: UInt64, to hi: UInt64, maxBytes: Int) -> [Entry] {
        precondition(lo <= hi, "empty or inverted range")
        var out: [Entry] = []
        var bytes = 0
        var i = lo
        while i < hi {
            let entry: Entry
            if i <= store.headHeight {
                guard let block = try? store.block(at: i) else { break }
                entry = Entry(index: i, term: block.header.term, data: block.encode(), confChange: block.membership?.confChange)
            } else {
                guard let first = tail.first, i >= first.index, Int(i - first.index) < tail.count else { break }
                let r = tail[Int(i - first.index)]
                entry = Entry(index: r.index, term: r.term, data: r.data, confChange: r.conf.flatMap(ConfChange.init(record:)))
            }
            bytes += entry.data.count
            if !out.isEmpty && bytes > maxBytes { break }
            out.append(entry)
            i += 1
        }
        return out
    }

    /// Mirrors what the runtime just persisted: new entries (truncating a conflicting tail) and
    /// the committed head, below which the tail is dropped.
    public func didPersist(_ records: [LogRecord]) {
        if let first = records.first {
            tail.removeAll { $0.index >= first.index }
            tail.append(contentsOf: records)
        }
        tail.removeAll { $0.index <= store.headHeight }
        precondition(zip(tail, tail.dropFirst()).allSatisfy { $0.index + 1 == $1.index }, "log tail has a gap")
    }
}

extension ConfChange {
    /// The compact form kept in the `raft_log.conf` column: `add-learner:ID`, `promote:ID`, `remove:ID`.
    public var record: String {
        switch self {
        case .addLearner(let id): "add-learner:\(id)"
        case .promote(let id): "promote:\(id)"
        case .remove(let id): "remove:\(id)"
        }
    }

    public init?(record: String) {
        guard let colon = record.firstIndex(of: ":") else { return nil }
        let id = String(record[record.index(after: colon)...])
        switch record[..<colon] {
        case "add-learner": self = .addLearner(id)
        case "promote": self = .promote(id)
        case "remove": self = .remove(id)
        default: return nil
        }
    }
}

extension MembershipChange {
    /// The change as the consensus core sees it (bootstrap is not a core change: see `applyToCore`).
    public var confChange: ConfChange? {
        switch kind {
        case .addLearner: .addLearner(nodeId)
        case .promote: .promote(nodeId)
        case .remove: .remove(nodeId)
        case .bootstrap: nil
        }
    }
}
