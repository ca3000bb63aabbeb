import Synchronization

/// Read access to committed blocks and transactions for threads other than the runtime's
/// (the HTTP API), through its own SQLite connection: WAL lets it read while the runtime writes,
/// and it only ever sees whole committed blocks.
public final class ChainReader: Sendable {
    private let connection: Mutex<ReaderConnection>

    public init(path: String) throws(StoreError) {
        do {
            connection = Mutex(ReaderConnection(db: try Database(path: path, options: DatabaseOptions(synchronous: .normal))))
        } catch {
            throw .unusable(path: path, reason: "\(error)")
        }
    }

    public func block(at height: UInt64) throws -> Block? {
        try connection.withLock { c in
            let stmt = try c.db.prepare("SELECT data FROM blocks WHERE height = ?")
            defer { stmt.reset() }
            try stmt.bind(1, SQLValue.integer(Int64(clamping: height)))
            return try stmt.step() ? try Block.decode(stmt.blob(0)) : nil
        }
    }

    public func block(hash: Hash32) throws -> Block? {
        try connection.withLock { c in
            let stmt = try c.db.prepare("SELECT data FROM blocks WHERE hash = ?")
            defer { stmt.reset() }
            try stmt.bind(1, SQLValue.blob(hash.bytes))
            return try stmt.step() ? try Block.decode(stmt.blob(0)) : nil
        }
    }

    /// Committed blocks from `from` on, at most `count` of them and about `maxBytes` (at least one).
    public func blocks(from: UInt64, count: Int, maxBytes: Int) throws -> [Block] {
        try encodedBlocks(from: from, count: count, maxBytes: maxBytes).map { try Block.decode($0) }
    }

    /// As `blocks`, in their binary codec as stored (`Block.encode`), not decoded: block sync
    /// serves them so, and the asker decodes and checks every one.
    public func encodedBlocks(from: UInt64, count: Int, maxBytes: Int) throws -> [[UInt8]] {
        try connection.withLock { c in
            let stmt = try c.db.prepare("SELECT data FROM blocks WHERE height >= ? ORDER BY height LIMIT ?")
            defer { stmt.reset() }
            try stmt.bind(1, SQLValue.integer(Int64(clamping: from)))
            try stmt.bind(2, SQLValue.integer(Int64(count)))
            var out: [[UInt8]] = []
            var bytes = 0
            while try stmt.step() {
                let data = stmt.blob(0)
                if !out.isEmpty && bytes + data.count > maxBytes { break }
                bytes += data.count
                out.append(data)
            }
            return out
        }
    }

    /// A committed transaction with the height and position of its block. The index is
    /// bucketed (`ChainStore.txIndexBucketRows`): one statement, so one snapshot, seeks the hash
    /// in each bucket from the newest down and stops at the first hit; a hash that is not there
    /// costs two seeks per bucket. Each step seeks the next bucket that exists, not the next
    /// number, so a damaged file with a huge bucket number costs no more than its rows.
    public func transaction(hash: Hash32) throws -> (tx: Transaction, height: UInt64, index: Int)? {
        try connection.withLock { c in
            let find = try c.db.prepare("""
                WITH RECURSIVE b(n) AS (SELECT max(bucket) FROM txs
                    UNION ALL SELECT (SELECT max(bucket) FROM txs WHERE bucket < b.n) FROM b WHERE b.n IS NOT NULL)
                SELECT t.height, t.idx FROM b CROSS JOIN txs t ON t.bucket = b.n AND t.hash = ?1 LIMIT 1
                """)
            defer { find.reset() }
            try find.bind(1, SQLValue.blob(hash.bytes))
            guard try find.step() else { return nil }
            let height = find.int64(0)
            let index = Int(find.int64(1))
            let load = try c.db.prepare("SELECT data FROM blocks WHERE height = ?")
            defer { load.reset() }
            try load.bind(1, SQLValue.integer(height))
            guard try load.step() else { return nil }
            let block = try Block.decode(load.blob(0))
            guard height >= 0, index >= 0, index < block.txs.count, block.txs[index].hash == hash else {
                throw StoreError.corrupt(path: "", reason: "tx index points at the wrong transaction")
            }
            return (block.txs[index], UInt64(height), index)
        }
    }
}

/// Wraps the non-Sendable connection so it can live inside the reader's Mutex.
struct ReaderConnection: @unchecked Sendable {
    // Safe: only ever touched inside `ChainReader.connection.withLock`.
    let db: Database
}
