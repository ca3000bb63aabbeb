import CSQLite
import Glibc

/// One SQLite connection to one database file, in WAL mode, with foreign keys enforced.
///
/// Promises: opening creates the file when missing and fails with a clear `SQLiteError` when the
/// file is not a database or cannot be opened; WAL is verified to be on; statements are prepared
/// once per SQL text and reused; `transaction` commits when its body returns and rolls back when
/// it throws. Not Sendable: a `Database` is confined to the one thread, actor or serial executor
/// that opened it, and its raw handle never leaves this type.
public final class Database {
    private var handle: OpaquePointer?
    public let path: String
    public let options: DatabaseOptions
    private var cache: [String: Statement] = [:]
    private var inTransaction = false

    /// How a transaction takes its locks (SQLite's BEGIN DEFERRED / IMMEDIATE / EXCLUSIVE).
    public enum TransactionKind: String, Sendable {
        /// Locks on first read or write: may fail with SQLITE_BUSY halfway through.
        case deferred = "DEFERRED"
        /// Takes the write lock at BEGIN: the right choice for every read-modify-write.
        case immediate = "IMMEDIATE"
        case exclusive = "EXCLUSIVE"
    }

    public init(path: String, options: DatabaseOptions = .default) throws(SQLiteError) {
        precondition(!path.isEmpty, "database path must not be empty")
        self.path = path
        self.options = options
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let base = SQLiteError(connection: db, code: rc, sql: nil)
            sqlite3_close_v2(db)
            throw SQLiteError(code: base.code, extendedCode: base.extendedCode,
                              message: "cannot open database '\(path)': \(base.message)"
                                  + " (does the directory exist and is it writable?)", sql: nil)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        do { try configure() } catch {
            close()
            throw SQLiteError(code: error.code, extendedCode: error.extendedCode,
                              message: "cannot open database '\(path)': \(error.message)", sql: error.sql)
        }
    }

    deinit { close() }

    private func configure() throws(SQLiteError) {
        try check(sqlite3_busy_timeout(live, options.busyTimeoutMs), sql: "busy_timeout")
        let mode = try queryText("PRAGMA journal_mode=WAL")
        guard mode?.lowercased() == "wal" else {
            throw SQLiteError(code: SQLITE_ERROR, extendedCode: SQLITE_ERROR,
                              message: "WAL journal mode could not be enabled (mode is \(mode ?? "unknown"))",
                              sql: "PRAGMA journal_mode=WAL")
        }
        try execute("PRAGMA synchronous=\(options.synchronous.rawValue)")
        try execute("PRAGMA foreign_keys=ON")
        try execute("PRAGMA cache_size=-\(options.cacheSizeKiB)")
        guard try queryInt64("PRAGMA foreign_keys") == 1 else {
            throw SQLiteError(code: SQLITE_ERROR, extendedCode: SQLITE_ERROR,
                              message: "foreign key enforcement could not be enabled", sql: "PRAGMA foreign_keys=ON")
        }
    }

    /// Finalizes every cached statement and closes the connection. Idempotent.
    public func close() {
        precondition(!inTransaction, "database closed inside a transaction")
        guard let db = handle else { return }
        for statement in cache.values { statement.finalize() }
        cache.removeAll()
        // close_v2 defers the close while uncached statements still live; they finalize on deinit.
        sqlite3_close_v2(db)
        handle = nil
    }

    public var isOpen: Bool { handle != nil }

    private var live: OpaquePointer {
        guard let handle else { preconditionFailure("database '\(path)' used after close") }
        return handle
    }

    // MARK: Statements

    /// Runs one or more statements separated by semicolons (DDL, pragmas); no bindings, no rows.
    public func execute(_ sql: String) throws(SQLiteError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(live, sql, nil, nil, &message)
        guard rc != SQLITE_OK else { return }
        let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
        sqlite3_free(message)
        throw SQLiteError(code: rc & 0xFF, extendedCode: sqlite3_extended_errcode(live), message: text, sql: sql)
    }

    /// The statement for `sql`, prepared on first use and reused (reset, bindings cleared) after.
    public func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        if let cached = cache[sql] {
            cached.reset()
            return cached
        }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(live, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw SQLiteError(connection: live, code: rc, sql: sql) }
        let statement = Statement(handle: stmt, sql: sql)
        if cache.count < options.statementCacheMax { cache[sql] = statement }
        return statement
    }

    /// Prepares (or reuses) `sql` and runs it once with `bindings`.
    public func run(_ sql: String, _ bindings: SQLValue...) throws(SQLiteError) {
        try prepare(sql).run(bindings)
    }

    /// The first row of `sql` read by `read`, or nil when there are no rows.
    public func queryFirst<T>(_ sql: String, _ bindings: SQLValue...,
                              read: (Statement) throws(SQLiteError) -> T) throws(SQLiteError) -> T? {
        try prepare(sql).firstRow(bindings, read)
    }

    /// Column 0 of the first row as an integer; nil when there is no row or the value is NULL.
    public func queryInt64(_ sql: String, _ bindings: SQLValue...) throws(SQLiteError) -> Int64? {
        try prepare(sql).firstRow(bindings) { $0.isNull(0) ? nil : $0.int64(0) } ?? nil
    }

    /// Column 0 of the first row as text; nil when there is no row or the value is NULL.
    public func queryText(_ sql: String, _ bindings: SQLValue...) throws(SQLiteError) -> String? {
        try prepare(sql).firstRow(bindings) { $0.isNull(0) ? nil : $0.text(0) } ?? nil
    }

    // MARK: Transactions

    /// Runs `body` in one transaction: commits when it returns, rolls back and rethrows when it
    /// throws (or when COMMIT fails). Nesting transactions is a programming error.
    public func transaction<T>(_ kind: TransactionKind = .immediate, _ body: () throws -> T) throws -> T {
        precondition(!inTransaction && sqlite3_get_autocommit(live) != 0, "nested transaction on '\(path)'")
        try execute("BEGIN \(kind.rawValue)")
        inTransaction = true
        defer { inTransaction = false }
        let result: T
        do {
            result = try body()
            try execute("COMMIT")
        } catch {
            rollbackIfOpen()
            throw error
        }
        assert(sqlite3_get_autocommit(live) != 0, "transaction still open after COMMIT")
        return result
    }

    /// SQLite rolls back by itself after some errors (full disk, I/O); roll back only what is open.
    private func rollbackIfOpen() {
        guard sqlite3_get_autocommit(live) == 0 else { return }
        let rc = sqlite3_exec(live, "ROLLBACK", nil, nil, nil)
        precondition(rc == SQLITE_OK || sqlite3_get_autocommit(live) != 0, "ROLLBACK failed on '\(path)': \(rc)")
    }

    // MARK: Maintenance and facts

    /// Problems SQLite finds in the file; empty means the database is sound.
    /// `quick` skips index-content checks (`quick_check`): seconds instead of minutes on big files.
    public func integrityCheck(quick: Bool) throws(SQLiteError) -> [String] {
        let statement = try prepare(quick ? "PRAGMA quick_check" : "PRAGMA integrity_check")
        var lines: [String] = []
        while try statement.step() { lines.append(statement.text(0)) }
        return lines == ["ok"] ? [] : lines
    }

    /// What a time-bounded integrity check found.
    public enum IntegrityOutcome: Sendable, Equatable {
        case sound
        /// SQLite's own lines describing each problem (at most 100).
        case problems([String])
        /// The check ran out of time before finishing: nothing was found in the part it read.
        case unfinished
    }

    /// `integrityCheck`, stopped after `timeLimitMs` so that a node on a large database still
    /// starts in bounded time. SQLITE_CORRUPT / SQLITE_NOTADB while checking count as problems.
    public func integrityCheck(quick: Bool, timeLimitMs: Int) throws(SQLiteError) -> IntegrityOutcome {
        let deadline = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        defer { deadline.deallocate() }
        deadline.pointee = Database.monotonicMs() &+ UInt64(max(0, timeLimitMs))
        sqlite3_progress_handler(live, 10_000, { context in
            guard let context else { return 0 }
            return Database.monotonicMs() >= context.assumingMemoryBound(to: UInt64.self).pointee ? 1 : 0
        }, deadline)
        defer { sqlite3_progress_handler(live, 0, nil, nil) }
        do {
            let lines = try integrityCheck(quick: quick)
            return lines.isEmpty ? .sound : .problems(Array(lines.prefix(100)))
        } catch where error.code == SQLITE_INTERRUPT {
            return .unfinished
        } catch where error.code == SQLITE_CORRUPT || error.code == SQLITE_NOTADB {
            return .problems([error.message])
        }
    }

    private static func monotonicMs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    /// Copies the WAL into the database file and truncates the WAL to zero bytes.
    public func checkpoint() throws(SQLiteError) {
        var logFrames: Int32 = 0
        var checkpointed: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(live, nil, SQLITE_CHECKPOINT_TRUNCATE, &logFrames, &checkpointed)
        try check(rc, sql: "wal_checkpoint(TRUNCATE)")
    }

    /// Row ID of the most recent successful INSERT on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(live) }

    /// Rows changed by the most recent INSERT, UPDATE or DELETE.
    public var changes: Int64 { sqlite3_changes64(live) }

    private func check(_ rc: Int32, sql: String) throws(SQLiteError) {
        guard rc != SQLITE_OK else { return }
        throw SQLiteError(connection: live, code: rc, sql: sql)
    }
}
