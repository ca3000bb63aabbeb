// The log as the core sees it: stable entries in storage plus an unstable tail in memory.
//
// Entries below `unstableOffset` are read from storage; entries from `unstableOffset` on are
// held here until the runtime has persisted them (`stableTo`). Storage may still hold stale
// entries at or beyond `unstableOffset` after a truncation; they are never read.

struct RaftLog<Storage: RaftStorage> {
    var storage: Storage
    private(set) var unstable: [Entry] = []
    private(set) var unstableOffset: UInt64
    private(set) var committed: UInt64
    /// Highest index handed to the runtime for applying (it may not have finished yet).
    var applied: UInt64

    init(storage: Storage, committed: UInt64, applied: UInt64) {
        let last = storage.lastIndex
        precondition(storage.term(at: 0) == 0, "storage must hold genesis at index 0, term 0")
        precondition(committed <= last, "hard state commit \(committed) beyond last index \(last)")
        precondition(applied <= committed, "applied \(applied) beyond commit \(committed)")
        self.storage = storage
        self.unstableOffset = last + 1
        self.committed = committed
        self.applied = applied
    }

    var lastIndex: UInt64 {
        let last = unstableOffset + UInt64(unstable.count) - 1
        assert(unstable.isEmpty || unstable[unstable.count - 1].index == last)
        return last
    }

    var lastTerm: UInt64 {
        guard let term = term(at: lastIndex) else { preconditionFailure("last entry must exist") }
        return term
    }

    func term(at index: UInt64) -> UInt64? {
        if index >= unstableOffset {
            let offset = index - unstableOffset
            guard offset < UInt64(unstable.count) else { return nil }
            assert(unstable[Int(offset)].index == index)
            return unstable[Int(offset)].term
        }
        return storage.term(at: index)
    }

    func matchTerm(_ index: UInt64, _ term: UInt64) -> Bool {
        self.term(at: index) == term
    }

    /// Raft §5.4.1: a candidate's log is at least as up to date as ours.
    func isUpToDate(lastIndex candidateIndex: UInt64, lastTerm candidateTerm: UInt64) -> Bool {
        let ourTerm = lastTerm
        return candidateTerm > ourTerm || (candidateTerm == ourTerm && candidateIndex >= lastIndex)
    }

    /// Entries in [lo, hi), bounded by count and bytes, at least one when lo < hi.
    func entries(from lo: UInt64, to hi: UInt64, maxBytes: Int, maxCount: Int) -> [Entry] {
        precondition(lo >= 1 && hi <= lastIndex + 1, "entries [\(lo), \(hi)) out of log bounds")
        precondition(maxCount >= 1 && maxBytes >= 1)
        guard lo < hi else { return [] }
        let end = min(hi, lo + UInt64(maxCount))
        var result: [Entry] = []
        var bytes = 0
        if lo < unstableOffset {
            result = storage.entries(from: lo, to: min(end, unstableOffset), maxBytes: maxBytes)
            precondition(!result.isEmpty && result[0].index == lo, "storage lost entry \(lo)")
            if result.count > maxCount { result.removeLast(result.count - maxCount) }
            bytes = result.reduce(0) { $0 + $1.sizeBytes }
            if result[result.count - 1].index + 1 < min(end, unstableOffset) { return result }
        }
        var index = max(lo, unstableOffset)
        while index < end {  // bounded by maxCount
            let entry = unstable[Int(index - unstableOffset)]
            if !result.isEmpty && bytes + entry.sizeBytes > maxBytes { break }
            bytes += entry.sizeBytes
            result.append(entry)
            index += 1
        }
        assert(result.count <= maxCount && result.first?.index == lo)
        return result
    }

    /// The index of the first entry whose term differs from ours, or 0 if all match.
    func findConflict(_ entries: [Entry]) -> UInt64 {
        for entry in entries where !matchTerm(entry.index, entry.term) {  // bounded by entries
            return entry.index
        }
        return 0
    }

    /// The largest index <= `index` whose term is <= `term`, and that term (fast backtracking).
    func findConflictByTerm(index: UInt64, term: UInt64) -> (index: UInt64, term: UInt64) {
        precondition(index <= lastIndex)
        var candidate = index
        while candidate > 0 {  // bounded by index
            guard let found = self.term(at: candidate) else { preconditionFailure("hole in log") }
            if found <= term { return (candidate, found) }
            candidate -= 1
        }
        assert(candidate == 0)
        return (0, 0)
    }

    /// Appends contiguous `entries`, truncating any uncommitted suffix they replace.
    mutating func append(_ entries: [Entry]) {
        guard let first = entries.first else { return }
        precondition(first.index > committed, "truncating committed entry \(first.index) (commit \(committed))")
        precondition(first.index <= lastIndex + 1, "gap in log before \(first.index)")
        if first.index == unstableOffset + UInt64(unstable.count) {
            unstable.append(contentsOf: entries)
        } else if first.index > unstableOffset {
            unstable.removeLast(Int(unstableOffset + UInt64(unstable.count) - first.index))
            unstable.append(contentsOf: entries)
        } else {
            unstableOffset = first.index
            unstable = entries
        }
        assert(unstable.first?.index == unstableOffset)
        assert(unstable.last?.index == lastIndex)
    }

    /// Follower side of AppendEntries: returns the last new index on a match, nil on mismatch.
    mutating func maybeAppend(prevIndex: UInt64, prevTerm: UInt64, commit: UInt64, entries: [Entry]) -> UInt64? {
        guard matchTerm(prevIndex, prevTerm) else { return nil }
        let lastNew = prevIndex + UInt64(entries.count)
        let conflict = findConflict(entries)
        if conflict != 0 {
            precondition(conflict > committed, "entry \(conflict) conflicts with committed log")
            append(Array(entries[Int(conflict - prevIndex - 1)...]))
        }
        commitTo(min(commit, lastNew))
        assert(lastIndex >= lastNew)
        return lastNew
    }

    mutating func commitTo(_ index: UInt64) {
        guard index > committed else { return }
        precondition(index <= lastIndex, "commit \(index) beyond last index \(lastIndex)")
        committed = index
        assert(term(at: committed) != nil)
    }

    /// Committed entries not yet handed out, at most `maxCount`.
    func nextCommittedEntries(maxCount: Int, maxBytes: Int) -> [Entry] {
        assert(applied <= committed)
        guard applied < committed else { return [] }
        return entries(from: applied + 1, to: committed + 1, maxBytes: maxBytes, maxCount: maxCount)
    }

    /// The runtime persisted `entries`; forget the prefix of the unstable tail they still match.
    mutating func stableTo(_ persisted: [Entry]) {
        for entry in persisted.reversed() where matchTerm(entry.index, entry.term) && entry.index >= unstableOffset {
            let count = Int(entry.index - unstableOffset + 1)
            unstable.removeFirst(count)
            unstableOffset = entry.index + 1
            precondition(storage.term(at: entry.index) == entry.term, "runtime did not persist entry \(entry.index)")
            return
        }
    }

    var unstableEntries: [Entry] { unstable }
}
extension RaftLog: Sendable where Storage: Sendable {}
