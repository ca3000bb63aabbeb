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
}
