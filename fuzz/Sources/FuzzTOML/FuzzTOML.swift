import Chain
import FuzzSupport

/// TOML.parse. Properties:
/// - an error names a line of the input (1 ... lines + 1);
/// - a document it accepts, written back out as TOML (every table inline, every string escaped),
///   parses to the same tables: same keys in the same order, same values and types. (Paths, which
///   only name keys in error messages, differ by design: `[[a]]` tables are `a`, inline ones `a[0]`.)
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: inputBytes(data, size), as: UTF8.self)
    let lines = text.utf8.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
    let table: TOMLTable
    do {
        table = try TOML.parse(text, file: "fuzz.toml")
    } catch {
        require(error.line >= 1 && error.line <= lines, "error on line \(error.line) of \(lines): \(error)")
        return 0
    }
    // Headers nest without bound; inline values only to the parser's depth limit.
    guard depth(of: table) < maxInlineDepth else { return 0 }
    var writer = TOMLWriter()
    writer.writeDocument(table)
    let reparsed: TOMLTable
    do { reparsed = try TOML.parse(writer.out, file: "fuzz.toml") } catch {
        require(false, "written form does not parse: \(error)\n\(writer.out)")
        return 0
    }
    if let difference = difference(table, reparsed) {
        require(false, "written form parses differently (\(difference)):\n\(writer.out)")
    }
    return 0
}

/// TOMLParser.nestingDepthMax: the written form nests every table inline.
private let maxInlineDepth = 32

private func depth(of table: TOMLTable) -> Int {
    table.entries.map { depth(of: $0.value) }.max() ?? 0
}

private func depth(of value: TOMLValue) -> Int {
    switch value.kind {
    case .array(let elements): 1 + (elements.map(depth(of:)).max() ?? 0)
    case .table(let t): 1 + depth(of: t)
    default: 0
    }
}

/// The first difference between two tables, ignoring lines and paths.
private func difference(_ a: TOMLTable, _ b: TOMLTable) -> String? {
    if a.keys != b.keys { return "keys \(a.keys) of \(a.path) became \(b.keys)" }
    for (x, y) in zip(a.entries, b.entries) {
        if let d = difference(x.value, y.value) { return "\(a.keyPath(x.key)): \(d)" }
    }
    return nil
}

private func difference(_ a: TOMLValue, _ b: TOMLValue) -> String? {
    switch (a.kind, b.kind) {
    case (.string(let x), .string(let y)) where x == y: return nil
    case (.integer(let x), .integer(let y)) where x == y: return nil
    case (.float(let x), .float(let y)) where x == y: return nil
    case (.boolean(let x), .boolean(let y)) where x == y: return nil
    case (.array(let x), .array(let y)) where x.count == y.count:
        return zip(x, y).lazy.compactMap(difference).first
    case (.table(let x), .table(let y)): return difference(x, y)
    default: return "\(a.kind) became \(b.kind)"
    }
}

/// TOML text for a parsed document: `"key" = value` lines at the root, everything below inline.
private struct TOMLWriter {
    var out = ""

    mutating func writeDocument(_ table: TOMLTable) {
        for (key, value) in table.entries {
            writeString(key)
            out += " = "
            write(value)
            out += "\n"
        }
    }

    mutating func write(_ value: TOMLValue) {
        switch value.kind {
        case .string(let s): writeString(s)
        case .integer(let i): out += String(i)
        case .float(let d): out += d.description
        case .boolean(let b): out += b ? "true" : "false"
        case .array(let elements):
            out += "["
            for (i, e) in elements.enumerated() {
                if i > 0 { out += ", " }
                write(e)
            }
            out += "]"
        case .table(let t):
            out += "{"
            for (i, entry) in t.entries.enumerated() {
                out += i > 0 ? ", " : " "
                writeString(entry.key)
                out += " = "
                write(entry.value)
            }
            out += t.entries.isEmpty ? "}" : " }"
        }
    }

    mutating func writeString(_ s: String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{00}"..."\u{1F}", "\u{7F}":
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
