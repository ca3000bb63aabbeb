/// The configuration format: a strict subset of TOML 1.0 (no dates or times, no inf/nan).
///
/// Promises: a key or table is defined once; every value remembers the line it starts on; every
/// error names the file, the line and, when known, the dotted key. See `TOML.parse`.
public enum TOML {
    /// Parses `text`; `file` is only used to name the source in errors.
    public static func parse(_ text: String, file: String) throws(TOMLError) -> TOMLTable {
        var parser = TOMLParser(text: text, file: file)
        return try parser.parseDocument()
    }
}

/// A configuration fault: `config.toml:12: key 'api.port': expected integer, got string`.
public struct TOMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    /// 1-based line number.
    public let line: Int
    /// Dotted path of the key involved, when known.
    public let key: String?
    public let message: String

    public init(file: String, line: Int, key: String?, message: String) {
        precondition(line >= 1, "TOML lines are 1-based")
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        guard let key else { return "\(file):\(line): \(message)" }
        return "\(file):\(line): key '\(key)': \(message)"
    }
}

/// One TOML value and the line it starts on.
public struct TOMLValue: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case string(String)
        case integer(Int64)
        case float(Double)
        case boolean(Bool)
        case array([TOMLValue])
        case table(TOMLTable)
    }

    public let kind: Kind
    public let line: Int

    public init(_ kind: Kind, line: Int) {
        self.kind = kind
        self.line = line
    }

    /// The type's name for error messages ("expected integer, got string").
    public var typeName: String {
        switch kind {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .boolean: "boolean"
        case .array: "array"
        case .table: "table"
        }
    }
}

/// A TOML table: keys in the order written, the file it came from and its dotted path.
///
/// The typed accessors return nil when a key is absent and throw a `TOMLError` naming file,
/// line and key when it holds the wrong type, so config decoding stays one line per setting.
public struct TOMLTable: Sendable, Equatable {
    public let file: String
    /// Dotted path from the root: `[]` for the document, `["api"]` for `[api]`.
    public let path: [String]
    /// The line that defined the table (its header, or the first key that created it).
    public let line: Int
    public let entries: [(key: String, value: TOMLValue)]

    init(file: String, path: [String], line: Int, entries: [(key: String, value: TOMLValue)]) {
        self.file = file
        self.path = path
        self.line = line
        self.entries = entries
    }

    public static func == (lhs: TOMLTable, rhs: TOMLTable) -> Bool {
        lhs.path == rhs.path && lhs.entries.count == rhs.entries.count
            && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public var keys: [String] { entries.map(\.key) }

    public subscript(key: String) -> TOMLValue? { entries.first { $0.key == key }?.value }

    /// The dotted path of `key` in this table, as errors show it.
    public func keyPath(_ key: String) -> String { (path + [key]).joined(separator: ".") }

    /// An error about `key`, at the line of its value (or of this table when absent).
    public func error(_ key: String, _ message: String) -> TOMLError {
        TOMLError(file: file, line: self[key]?.line ?? line, key: keyPath(key), message: message)
    }

    public func string(_ key: String) throws(TOMLError) -> String? {
        guard let value = self[key] else { return nil }
        guard case .string(let s) = value.kind else { throw wrongType(key, value, expected: "string") }
        return s
    }

    /// Integers as `Int` (64 bits on every supported platform).
    public func int(_ key: String) throws(TOMLError) -> Int? {
        guard let value = self[key] else { return nil }
        guard case .integer(let i) = value.kind else { throw wrongType(key, value, expected: "integer") }
        return Int(i)
    }

    /// Floats, and integers read as floats (`timeout = 2` is as good as `timeout = 2.0`).
    public func double(_ key: String) throws(TOMLError) -> Double? {
        guard let value = self[key] else { return nil }
        switch value.kind {
        case .float(let d): return d
        case .integer(let i): return Double(i)
        default: throw wrongType(key, value, expected: "number")
        }
    }

    public func bool(_ key: String) throws(TOMLError) -> Bool? {
        guard let value = self[key] else { return nil }
        guard case .boolean(let b) = value.kind else { throw wrongType(key, value, expected: "boolean") }
        return b
    }

    public func array(_ key: String) throws(TOMLError) -> [TOMLValue]? {
        guard let value = self[key] else { return nil }
        guard case .array(let a) = value.kind else { throw wrongType(key, value, expected: "array") }
        return a
    }

    /// An array whose every element is a string; the error names the offending element.
    public func strings(_ key: String) throws(TOMLError) -> [String]? {
        guard let elements = try array(key) else { return nil }
        var result: [String] = []
        for (i, element) in elements.enumerated() {
            guard case .string(let s) = element.kind else {
                throw TOMLError(file: file, line: element.line, key: "\(keyPath(key))[\(i)]",
                                message: "expected string, got \(element.typeName)")
            }
            result.append(s)
        }
        return result
    }

    public func table(_ key: String) throws(TOMLError) -> TOMLTable? {
        guard let value = self[key] else { return nil }
        guard case .table(let t) = value.kind else { throw wrongType(key, value, expected: "table") }
        return t
    }

    /// The tables of an array of tables (`[[registry.urls]]`), or of an array of inline tables.
    public func tables(_ key: String) throws(TOMLError) -> [TOMLTable]? {
        guard let elements = try array(key) else { return nil }
        var result: [TOMLTable] = []
        for (i, element) in elements.enumerated() {
            guard case .table(let t) = element.kind else {
                throw TOMLError(file: file, line: element.line, key: "\(keyPath(key))[\(i)]",
                                message: "expected table, got \(element.typeName)")
            }
            result.append(t)
        }
        return result
    }

    /// Keys not in `known`, in the order written, each as an error naming its line.
    public func unknownKeys(known: Set<String>) -> [TOMLError] {
        entries.filter { !known.contains($0.key) }.map {
            TOMLError(file: file, line: $0.value.line, key: keyPath($0.key), message: "unknown key")
        }
    }

    /// Throws for the first key not in `known`: config loading rejects typos instead of ignoring them.
    public func rejectUnknownKeys(known: Set<String>) throws(TOMLError) {
        if let first = unknownKeys(known: known).first { throw first }
    }

    private func wrongType(_ key: String, _ value: TOMLValue, expected: String) -> TOMLError {
        TOMLError(file: file, line: value.line, key: keyPath(key), message: "expected \(expected), got \(value.typeName)")
    }
}
