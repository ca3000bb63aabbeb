/// The start-up check of a data directory: a node refuses to run on a store it cannot trust
/// rather than serve or extend a damaged chain.
///
/// Promises: `verifyOnOpen` throws `StoreError.corrupt` naming the file and the first problem
/// found among (1) SQLite's own page-level check (`quick_check`, stopped after a time budget),
/// (2) the hash links of the last blocks (each block's stored hash, recomputed hash, height,
/// tx root and the previous block's hash), and (3) the Raft hard state against the log tail
/// (term not below any entry's term, commit not beyond the last entry, tail contiguous above
/// the head). It reads only; it never repairs.
public struct StoreCheckSettings: Sendable, Equatable {
    /// How many of the newest blocks have their hash links recomputed.
    public var tailBlocks: Int
    /// Time budget of SQLite's `quick_check`; a larger file is checked only partly (logged).
    public var quickCheckBudgetMs: Int

    /// The last 64 blocks; `quick_check` for at most 10 s.
    public init(tailBlocks: Int = 64, quickCheckBudgetMs: Int = 10_000) {
        self.tailBlocks = tailBlocks
        self.quickCheckBudgetMs = quickCheckBudgetMs
    }
}

/// What the start-up check did, for the node's log.
public struct StoreCheckReport: Sendable, Equatable {
    public var pagesChecked: Bool
    public var tailBlocksChecked: Int
    public var logTailEntries: Int
}

extension ChainStore {
    public func verifyOnOpen(_ settings: StoreCheckSettings = StoreCheckSettings()) throws(StoreError) -> StoreCheckReport {
        do {
            let pages = try checkPages(budgetMs: settings.quickCheckBudgetMs)
            let blocks = try checkTailLinks(count: settings.tailBlocks)
            let entries = try checkHardStateAgainstLog()
            return StoreCheckReport(pagesChecked: pages, tailBlocksChecked: blocks, logTailEntries: entries)
        } catch let e as StoreError {
            throw e
        } catch {
            throw .corrupt(path: path, reason: "reading it for the start-up check failed: \(error)")
        }
    }

    /// True when the whole file was checked, false when the budget ran out first.
    private func checkPages(budgetMs: Int) throws -> Bool {
        switch try db.integrityCheck(quick: true, timeLimitMs: budgetMs) {
        case .sound: return true
        case .unfinished: return false
        case .problems(let lines):
            throw StoreError.corrupt(path: path, reason: "SQLite quick_check found damaged pages: "
                                     + lines.prefix(5).joined(separator: "; "))
        }
    }

    /// Recomputes the hash chain of the newest `count` blocks up to the stored head.
    private func checkTailLinks(count: Int) throws -> Int {
        guard count > 0 else { return 0 }
        let first = headHeight >= UInt64(count) ? headHeight - UInt64(count) + 1 : 0
        let stmt = try db.prepare("SELECT height, hash, data FROM blocks WHERE height >= ? ORDER BY height")
        defer { stmt.reset() }
        try stmt.bind(1, SQLValue.integer(Int64(first)))
        var previous: Hash32? = first == 0 ? nil : try storedHash(at: first - 1)
        var expected = first
        var checked = 0
        while try stmt.step() {
            let height = UInt64(stmt.int64(0))
            guard height == expected else { throw corrupt("block \(expected) is missing (next stored block is \(height))") }
            let block: Block
            do { block = try Block.decode(stmt.blob(2)) } catch { throw corrupt("block \(height) does not decode: \(error)") }
            guard block.header.height == height else { throw corrupt("block stored at \(height) says height \(block.header.height)") }
            guard Hash32(bytes: stmt.blob(1)) == block.hash else {
                throw corrupt("block \(height): stored hash does not match the hash of its contents")
            }
            guard Merkle.root(block.txs.map(\.hash)) == block.header.txRoot else {
                throw corrupt("block \(height): its transactions do not match its tx root")
            }
            if let previous, block.header.prevHash != previous {
                throw corrupt("block \(height) does not link to block \(height - 1) (prevHash differs)")
            }
            previous = block.hash
            expected += 1
            checked += 1
        }
        guard expected == headHeight + 1, previous == headHash else {
            throw corrupt("the chain ends at \(expected &- 1), not at the head \(headHeight) read at open")
        }
        return checked
    }

    private func storedHash(at height: UInt64) throws -> Hash32 {
        let hash = try db.queryFirst("SELECT hash FROM blocks WHERE height = ?", .integer(Int64(height))) { Hash32(bytes: $0.blob(0)) }
        guard let found = hash, let found else { throw corrupt("block \(height) is missing below the checked tail") }
        return found
    }

    /// The hard state and the uncommitted tail must describe one Raft log.
    private func checkHardStateAgainstLog() throws -> Int {
        let hs = try loadHardState()
        let tail = try loadLogTail()
        var expected = headHeight + 1
        var lastTerm = try blockTerm(at: headHeight) ?? 0
        for e in tail {
            guard e.index == expected else {
                throw corrupt("the Raft log tail is not contiguous above head \(headHeight): expected entry \(expected), found \(e.index)")
            }
            guard e.term >= lastTerm else {
                throw corrupt("Raft log entry \(e.index) has term \(e.term), below the term \(lastTerm) of the entry before it")
            }
            guard e.term <= hs.term else {
                throw corrupt("the Raft hard state (term \(hs.term)) is behind log entry \(e.index) of term \(e.term)")
            }
            lastTerm = e.term
            expected += 1
        }
        let lastIndex = expected - 1
        guard hs.commit <= lastIndex else {
            throw corrupt("the Raft hard state says entry \(hs.commit) is committed but the log ends at \(lastIndex)")
        }
        return tail.count
    }

    private func corrupt(_ reason: String) -> StoreError { .corrupt(path: path, reason: reason) }
}
