import CSQLite

/// A prepared SQL statement: bind parameters (1-based), step through rows, read columns (0-based).
///
/// Belongs to the `Database` that prepared it and to the same thread or executor; not Sendable.
/// A statement from `Database.prepare` may be the cached one for its SQL text: it is reset and
/// its bindings cleared each time it is handed out, so do not interleave two uses of one SQL
/// text. Using a cached statement after its database closed is a programming error (trap).
public final class Statement {
    private var handle: OpaquePointer?
    public let sql: String

    init(handle: OpaquePointer, sql: String) {
        self.handle = handle
        self.sql = sql
    }

    deinit {
        if let handle { sqlite3_finalize(handle) }
    }

    /// Releases the SQLite statement now; later use traps.
    func finalize() {
        if let handle { sqlite3_finalize(handle) }
        handle = nil
    }

    private var live: OpaquePointer {
        guard let handle else { preconditionFailure("statement used after its database was closed: \(sql)") }
        return handle
    }

    /// Rewinds to before the first row and unbinds every parameter.
    public func reset() {
        sqlite3_reset(live)
        sqlite3_clear_bindings(live)
    }

    // MARK: Binding

    public func bind(_ index: Int32, _ value: Int64) throws(SQLiteError) {
        try check(sqlite3_bind_int64(live, index, value))
    }

    public func bind(_ index: Int32, _ value: Int) throws(SQLiteError) {
        try bind(index, Int64(value))
    }

    public func bind(_ index: Int32, _ value: Double) throws(SQLiteError) {
        try check(sqlite3_bind_double(live, index, value))
    }

    public func bind(_ index: Int32, _ value: String) throws(SQLiteError) {
        // An explicit byte count keeps interior NULs; withCString never hands out a nil pointer.
        let byteCount = value.utf8.count
        let rc = value.withCString { sqlite3_bind_text64(live, index, $0, sqlite3_uint64(byteCount), Statement.transient, UInt8(SQLITE_UTF8)) }
        try check(rc)
    }

    public func bind(_ index: Int32, _ value: [UInt8]) throws(SQLiteError) {
        let rc = value.withUnsafeBytes { bytes in bindBlob(index, bytes) }
        try check(rc)
    }

    public func bind(_ index: Int32, _ value: UnsafeRawBufferPointer) throws(SQLiteError) {
        try check(bindBlob(index, value))
    }

    public func bind(_ index: Int32, _ value: SQLValue) throws(SQLiteError) {
        switch value {
        case .null: try bindNull(index)
        case .integer(let v): try bind(index, v)
        case .real(let v): try bind(index, v)
        case .text(let v): try bind(index, v)
        case .blob(let v): try bind(index, v)
        }
    }

    /// Binds SQL NULL (as does `bind(i, .null)`; a bare `nil` would be ambiguous with the variadic form).
    public func bindNull(_ index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_null(live, index))
    }

    /// Binds `values` to parameters 1, 2, 3, ... in order.
    public func bind(_ values: [SQLValue]) throws(SQLiteError) {
        precondition(values.count <= Int(sqlite3_bind_parameter_count(live)),
                     "\(values.count) values for \(sqlite3_bind_parameter_count(live)) parameters: \(sql)")
        for (i, value) in values.enumerated() { try bind(Int32(i + 1), value) }
    }

    public func bind(_ values: SQLValue...) throws(SQLiteError) { try bind(values) }

    /// An empty blob is bound as a zero-length blob, not NULL (SQLite reads a nil pointer as NULL).
    private func bindBlob(_ index: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return sqlite3_bind_zeroblob(live, index, 0) }
        return sqlite3_bind_blob64(live, index, base, sqlite3_uint64(bytes.count), Statement.transient)
    }

    /// SQLITE_TRANSIENT: SQLite copies the bytes before the bind call returns.
    private static var transient: sqlite3_destructor_type {
        unsafeBitCast(Int(-1), to: sqlite3_destructor_type.self)
    }

    // MARK: Stepping

    /// Advances to the next row: `true` when a row is available, `false` when done.
    @discardableResult
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(live)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let error = SQLiteError(connection: sqlite3_db_handle(live), code: rc, sql: sql)
        sqlite3_reset(live)
        throw error
    }

    /// Runs a write to completion with `bindings`, then rewinds. Rows it yields are ignored.
    public func run(_ bindings: SQLValue...) throws(SQLiteError) { try run(bindings) }

    public func run(_ bindings: [SQLValue]) throws(SQLiteError) {
        reset()
        try bind(bindings)
        while try step() {}
        sqlite3_reset(live)
    }

    /// Runs with `bindings` and reads the first row with `read`, or returns nil when there is none.
    public func firstRow<T>(_ bindings: [SQLValue], _ read: (Statement) throws(SQLiteError) -> T) throws(SQLiteError) -> T? {
        reset()
        try bind(bindings)
        defer { sqlite3_reset(live) }
        guard try step() else { return nil }
        return try read(self)
    }

    // MARK: Columns

    public var columnCount: Int32 { sqlite3_column_count(live) }

    public func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(checked(column), column) == SQLITE_NULL
    }

    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(checked(column), column) }

    public func int(_ column: Int32) -> Int { Int(int64(column)) }

    public func double(_ column: Int32) -> Double { sqlite3_column_double(checked(column), column) }

    public func text(_ column: Int32) -> String {
        let stmt = checked(column)
        guard let bytes = sqlite3_column_text(stmt, column) else { return "" }
        let count = Int(sqlite3_column_bytes(stmt, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    public func blob(_ column: Int32) -> [UInt8] {
        let stmt = checked(column)
        guard let bytes = sqlite3_column_blob(stmt, column) else { return [] }
        let count = Int(sqlite3_column_bytes(stmt, column))
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }

    private func checked(_ column: Int32) -> OpaquePointer {
        let stmt = live
        precondition(column >= 0 && column < sqlite3_column_count(stmt), "column \(column) out of range: \(sql)")
        return stmt
    }

    private func check(_ rc: Int32) throws(SQLiteError) {
        guard rc != SQLITE_OK else { return }
        precondition(rc != SQLITE_RANGE, "bind index out of range: \(sql)")
        throw SQLiteError(connection: sqlite3_db_handle(live), code: rc, sql: sql)
    }
}
