import CSQLite

/// A failed SQLite call, with everything needed to say what went wrong: the primary and
/// extended result codes, SQLite's own message, and the SQL (or the file, for opening) involved.
public struct SQLiteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Primary result code (`SQLITE_BUSY`, `SQLITE_NOTADB`, ...).
    public let code: Int32
    /// Extended result code (`SQLITE_CONSTRAINT_UNIQUE`, ...); equals `code` when there is none.
    public let extendedCode: Int32
    public let message: String
    /// The statement that failed, when there was one.
    public let sql: String?

    public init(code: Int32, extendedCode: Int32, message: String, sql: String?) {
        self.code = code
        self.extendedCode = extendedCode
        self.message = message
        self.sql = sql
    }

    /// Reads code and message from the connection right after a failed call.
    init(connection: OpaquePointer?, code: Int32, sql: String?) {
        let message = connection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
            ?? String(cString: sqlite3_errstr(code))
        let extended = connection.map { sqlite3_extended_errcode($0) } ?? code
        self.init(code: code & 0xFF, extendedCode: extended, message: message, sql: sql)
    }

    public var description: String {
        let codes = code == extendedCode ? "\(code)" : "\(code)/\(extendedCode)"
        guard let sql else { return "SQLite error \(codes): \(message)" }
        return "SQLite error \(codes): \(message) (in: \(sql))"
    }

    /// A constraint (unique, foreign key, check, not null) refused the write.
    public var isConstraintViolation: Bool { code == SQLITE_CONSTRAINT }
    /// Another connection held a lock past the busy timeout.
    public var isBusy: Bool { code == SQLITE_BUSY || code == SQLITE_LOCKED }

    /// The disk refused the write (full, or a write-side I/O error) but what is on disk is
    /// intact: SQLite rolled the transaction back and the same write may be tried again later.
    /// A failed fsync is not one of these: after it the kernel may have dropped the dirty pages,
    /// so the only safe retry is a restart that reads the file again.
    public var isRetryableStorageFault: Bool {
        if code == SQLITE_FULL { return true }
        guard code == SQLITE_IOERR else { return false }
        let fsyncFailures: Set<Int32> = [SQLITE_IOERR | (4 << 8), SQLITE_IOERR | (5 << 8)]  // IOERR_FSYNC, IOERR_DIR_FSYNC
        return !fsyncFailures.contains(extendedCode)
    }

    /// The disk (or the file system's quota) has no room for the write.
    public var isDiskFull: Bool { code == SQLITE_FULL }

    /// SQLite's symbolic name for the primary code, for metric labels (a short, fixed set).
    public var codeName: String {
        switch code {
        case SQLITE_FULL: "SQLITE_FULL"
        case SQLITE_IOERR: "SQLITE_IOERR"
        case SQLITE_CORRUPT: "SQLITE_CORRUPT"
        case SQLITE_READONLY: "SQLITE_READONLY"
        case SQLITE_CANTOPEN: "SQLITE_CANTOPEN"
        case SQLITE_BUSY: "SQLITE_BUSY"
        case SQLITE_NOTADB: "SQLITE_NOTADB"
        default: "SQLITE_OTHER"
        }
    }
}
