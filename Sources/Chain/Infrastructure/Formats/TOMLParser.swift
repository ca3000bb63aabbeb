/// Reads the TOML subset over UTF-8 bytes, one line-oriented statement at a time.
struct TOMLParser {
    private let bytes: [UInt8]
    private let file: String
    private var pos = 0
    private var line = 1
    private let root: TOMLTableNode
    private var current: TOMLTableNode

    /// Longest accepted config file; configs are a few KiB.
    static let inputBytesMax = 1 << 20
    /// Deepest nesting of arrays and inline tables; bounds the parser's recursion.
    static let nestingDepthMax = 32

    init(text: String, file: String) {
        bytes = Array(text.utf8)
        self.file = file
        root = TOMLTableNode(path: [], line: 1, origin: .root)
        current = root
    }

    mutating func parseDocument() throws(TOMLError) -> TOMLTable {
        guard bytes.count <= Self.inputBytesMax else { throw fail(nil, "file larger than \(Self.inputBytesMax) bytes") }
        while true {
            skipBlanks()
            guard pos < bytes.count else { break }
            if bytes[pos] == UInt8(ascii: "[") {
                try parseHeader()
            } else if !atLineEnd() {
                try parseKeyValue(into: current, depth: 0)
            }
            try endLine()
        }
        return root.freeze(file: file)
    }

    // MARK: Statements

    private mutating func parseHeader() throws(TOMLError) {
        let isArray = peek(1) == UInt8(ascii: "[")
        pos += isArray ? 2 : 1
        let headerLine = line
        skipBlanks()
        let keys = try parseDottedKey()
        let name = keys.joined(separator: ".")
        skipBlanks()
        try expect(isArray ? "]]" : "]", key: name, "expected '\(isArray ? "]]" : "]")' to close the table header")
        var table = root
        for (i, key) in keys.dropLast().enumerated() {
            let path = Array(keys[...i])
            switch table.entries[key] {
            case nil:
                let node = TOMLTableNode(path: path, line: headerLine, origin: .implicit)
                table.add(key, .table(node))
                table = node
            case .table(let node) where node.origin != .inline: table = node
            case .tableArray(let array): table = array.elements.last!
            case let entry?: throw redefined(path.joined(separator: "."), entry)
            }
        }
        let last = keys.last!
        switch (table.entries[last], isArray) {
        case (nil, false):
            let node = TOMLTableNode(path: keys, line: headerLine, origin: .header)
            table.add(last, .table(node))
            current = node
        case (nil, true):
            let array = TOMLTableArrayNode(line: headerLine)
            table.add(last, .tableArray(array))
            current = appendElement(to: array, path: keys)
        case (.table(let node)?, false) where node.origin == .implicit:
            node.origin = .header
            node.line = headerLine
            current = node
        case (.tableArray(let array)?, true):
            current = appendElement(to: array, path: keys)
        case (let entry?, _):
            throw redefined(name, entry)
        }
    }

    private mutating func appendElement(to array: TOMLTableArrayNode, path: [String]) -> TOMLTableNode {
        let node = TOMLTableNode(path: path, line: line, origin: .header)
        array.elements.append(node)
        return node
    }

    private mutating func parseKeyValue(into table: TOMLTableNode, depth: Int) throws(TOMLError) {
        let keyLine = line
        let keys = try parseDottedKey()
        let name = (table.path + keys).joined(separator: ".")
        skipBlanks()
        try expect("=", key: name, "expected '=' after the key")
        skipBlanks()
        let value = try parseValue(key: name, depth: depth)
        var target = table
        for (i, key) in keys.dropLast().enumerated() {
            switch target.entries[key] {
            case nil:
                let node = TOMLTableNode(path: table.path + keys[...i], line: keyLine, origin: .dotted)
                target.add(key, .table(node))
                target = node
            case .table(let node) where node.origin == .dotted: target = node
            case let entry?: throw redefined((table.path + keys[...i]).joined(separator: "."), entry, line: keyLine)
            }
        }
        if let entry = target.entries[keys.last!] { throw redefined(name, entry, line: keyLine) }
        target.add(keys.last!, .value(value))
    }

    private func redefined(_ key: String, _ entry: TOMLEntry, line errorLine: Int? = nil) -> TOMLError {
        TOMLError(file: file, line: errorLine ?? line, key: key, message: "already defined on line \(entry.line)")
    }

    // MARK: Keys

    private mutating func parseDottedKey() throws(TOMLError) -> [String] {
        var keys = [try parseSimpleKey()]
        while true {
            let save = pos
            skipBlanks()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ".") else { pos = save; return keys }
            pos += 1
            skipBlanks()
            keys.append(try parseSimpleKey())
        }
    }

    private mutating func parseSimpleKey() throws(TOMLError) -> String {
        guard pos < bytes.count else { throw fail(nil, "expected a key") }
        switch bytes[pos] {
        case UInt8(ascii: "\""): return try parseBasicString(key: nil)
        case UInt8(ascii: "'"): return try parseLiteralString(key: nil)
        default:
            let start = pos
            while pos < bytes.count && isBareKeyByte(bytes[pos]) { pos += 1 }
            guard pos > start else { throw fail(nil, "expected a key, found \(describeByte())") }
            return String(decoding: bytes[start..<pos], as: UTF8.self)
        }
    }

    private func isBareKeyByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
    }

    // MARK: Values

    private mutating func parseValue(key: String, depth: Int) throws(TOMLError) -> TOMLValue {
        guard depth < Self.nestingDepthMax else { throw fail(key, "nesting deeper than \(Self.nestingDepthMax)") }
        let valueLine = line
        guard pos < bytes.count, !atLineEnd() else { throw fail(key, "expected a value") }
        let kind: TOMLValue.Kind
        switch bytes[pos] {
        case UInt8(ascii: "\""):
            kind = .string(hasPrefix("\"\"\"") ? try parseMultilineString(key: key, literal: false)
                                                 : try parseBasicString(key: key))
        case UInt8(ascii: "'"):
            kind = .string(hasPrefix("'''") ? try parseMultilineString(key: key, literal: true)
                                              : try parseLiteralString(key: key))
        case UInt8(ascii: "["): kind = .array(try parseArray(key: key, depth: depth + 1))
        case UInt8(ascii: "{"): kind = .table(try parseInlineTable(key: key, depth: depth + 1))
        case UInt8(ascii: "t") where hasPrefix("true"): pos += 4; kind = .boolean(true)
        case UInt8(ascii: "f") where hasPrefix("false"): pos += 5; kind = .boolean(false)
        default: kind = try parseNumber(key: key)
        }
        return TOMLValue(kind, line: valueLine)
    }

    private mutating func parseArray(key: String, depth: Int) throws(TOMLError) -> [TOMLValue] {
        pos += 1  // '['
        var elements: [TOMLValue] = []
        while true {
            try skipBlanksCommentsAndNewlines()
            guard pos < bytes.count else { throw fail(key, "unterminated array") }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return elements }
            elements.append(try parseValue(key: "\(key)[\(elements.count)]", depth: depth))
            try skipBlanksCommentsAndNewlines()
            guard pos < bytes.count else { throw fail(key, "unterminated array") }
            if bytes[pos] == UInt8(ascii: ",") {
                pos += 1
            } else if bytes[pos] != UInt8(ascii: "]") {
                throw fail(key, "expected ',' or ']' in array, found \(describeByte())")
            }
        }
    }

    private mutating func parseInlineTable(key: String, depth: Int) throws(TOMLError) -> TOMLTable {
        let node = TOMLTableNode(path: key.split(separator: ".").map(String.init), line: line, origin: .dotted)
        pos += 1  // '{'
        skipBlanks()
        if pos < bytes.count && bytes[pos] == UInt8(ascii: "}") {
            pos += 1
        } else {
            while true {
                skipBlanks()
                try parseKeyValue(into: node, depth: depth)
                skipBlanks()
                guard pos < bytes.count, !atLineEnd() else { throw fail(key, "inline table must close on the same line") }
                if bytes[pos] == UInt8(ascii: "}") { pos += 1; break }
                try expect(",", key: key, "expected ',' or '}' in inline table")
            }
        }
        node.seal()
        return node.freeze(file: file)
    }

    private mutating func parseNumber(key: String) throws(TOMLError) -> TOMLValue.Kind {
        let start = pos
        while pos < bytes.count, isBareKeyByte(bytes[pos]) || bytes[pos] == UInt8(ascii: "+")
            || bytes[pos] == UInt8(ascii: ".") || bytes[pos] == UInt8(ascii: ":") { pos += 1 }
        let token = String(decoding: bytes[start..<pos], as: UTF8.self)
        guard !token.isEmpty else { throw fail(key, "expected a value, found \(describeByte())") }
        if let number = TOMLNumber.parse(token) { return number }
        pos = start
        throw fail(key, TOMLNumber.explainInvalid(token))
    }

    // MARK: Strings

    private mutating func parseBasicString(key: String?) throws(TOMLError) -> String {
        pos += 1  // '"'
        var out: [UInt8] = []
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") { pos += 1; return String(decoding: out, as: UTF8.self) }
            if b == UInt8(ascii: "\\") { try appendEscape(to: &out, key: key); continue }
            if b == 0x0A || b == 0x0D { break }
            guard b >= 0x20 || b == 0x09, b != 0x7F else { throw fail(key, "control character in string") }
            out.append(b)
            pos += 1
        }
        throw fail(key, "unterminated string")
    }

    private mutating func parseLiteralString(key: String?) throws(TOMLError) -> String {
        pos += 1  // '\''
        let start = pos
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "'") { pos += 1; return String(decoding: bytes[start..<(pos - 1)], as: UTF8.self) }
            if b == 0x0A || b == 0x0D { break }
            guard b >= 0x20 || b == 0x09, b != 0x7F else { throw fail(key, "control character in string") }
            pos += 1
        }
        throw fail(key, "unterminated string")
    }

    /// `"""..."""` (escapes, line-ending backslash) or `'''...'''` (raw); a newline right after
    /// the opening delimiter is dropped.
    private mutating func parseMultilineString(key: String, literal: Bool) throws(TOMLError) -> String {
        let quote = literal ? UInt8(ascii: "'") : UInt8(ascii: "\"")
        let startLine = line
        pos += 3
        if hasPrefix("\r\n") { pos += 2; line += 1 } else if hasPrefix("\n") { pos += 1; line += 1 }
        var out: [UInt8] = []
        while pos < bytes.count {
            let b = bytes[pos]
            if b == quote && peek(1) == quote && peek(2) == quote {
                var run = 3
                while run < 5 && peek(run) == quote { run += 1 }
                out.append(contentsOf: repeatElement(quote, count: run - 3))
                pos += run
                return String(decoding: out, as: UTF8.self)
            }
            if b == UInt8(ascii: "\\") && !literal {
                if try skipLineEndingBackslash() { continue }
                try appendEscape(to: &out, key: key)
                continue
            }
            if b == 0x0A { line += 1 } else if b < 0x20 && b != 0x09 && b != 0x0D || b == 0x7F {
                throw fail(key, "control character in string")
            }
            out.append(b)
            pos += 1
        }
        throw TOMLError(file: file, line: startLine, key: key, message: "unterminated multi-line string")
    }

    /// A backslash followed only by blanks up to the end of the line trims all following whitespace.
    private mutating func skipLineEndingBackslash() throws(TOMLError) -> Bool {
        var i = pos + 1
        while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
        guard i < bytes.count, bytes[i] == 0x0A || bytes[i] == 0x0D else { return false }
        pos = i
        while pos < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) {
            if bytes[pos] == 0x0A { line += 1 }
            pos += 1
        }
        return true
    }

    private mutating func appendEscape(to out: inout [UInt8], key: String?) throws(TOMLError) {
        pos += 1  // '\'
        guard pos < bytes.count else { throw fail(key, "unterminated string") }
        let c = bytes[pos]
        pos += 1
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(c)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let digits = c == UInt8(ascii: "u") ? 4 : 8
            // Exactly `digits` hex digits: UInt32(_:radix:) alone would also take a sign ("\u+041").
            guard pos + digits <= bytes.count, bytes[pos..<(pos + digits)].allSatisfy({ Character(Unicode.Scalar($0)).isHexDigit }),
                  let code = UInt32(String(decoding: bytes[pos..<(pos + digits)], as: UTF8.self), radix: 16),
                  let scalar = Unicode.Scalar(code)
            else { throw fail(key, "invalid unicode escape") }
            pos += digits
            out.append(contentsOf: String(Character(scalar)).utf8)
        default:
            pos -= 2
            throw fail(key, "invalid escape '\\\(Character(Unicode.Scalar(c)))'")
        }
    }

    // MARK: Whitespace, comments, line ends

    private mutating func skipBlanks() {
        while pos < bytes.count && (bytes[pos] == 0x20 || bytes[pos] == 0x09) { pos += 1 }
    }

    private func atLineEnd() -> Bool {
        pos >= bytes.count || bytes[pos] == 0x0A || bytes[pos] == 0x0D || bytes[pos] == UInt8(ascii: "#")
    }

    private mutating func skipComment() throws(TOMLError) {
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: "#") else { return }
        while pos < bytes.count && bytes[pos] != 0x0A {
            if bytes[pos] < 0x20 && bytes[pos] != 0x09 && !(bytes[pos] == 0x0D && peek(1) == 0x0A) {
                throw fail(nil, "control character in comment")
            }
            pos += 1
        }
    }

    /// After a statement: optional blanks and comment, then a newline or the end of the file.
    private mutating func endLine() throws(TOMLError) {
        skipBlanks()
        try skipComment()
        if pos >= bytes.count { return }
        if hasPrefix("\r\n") { pos += 2; line += 1; return }
        guard bytes[pos] == 0x0A else { throw fail(nil, "unexpected \(describeByte()) after the value; expected end of line") }
        pos += 1
        line += 1
    }

    private mutating func skipBlanksCommentsAndNewlines() throws(TOMLError) {
        while true {
            skipBlanks()
            try skipComment()
            if hasPrefix("\r\n") { pos += 2; line += 1 } else if pos < bytes.count && bytes[pos] == 0x0A { pos += 1; line += 1 } else { return }
        }
    }

    // MARK: Small pieces

    private func peek(_ offset: Int) -> UInt8? { pos + offset < bytes.count ? bytes[pos + offset] : nil }

    private func hasPrefix(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard pos + n <= bytes.count else { return false }
        for i in 0..<n where bytes[pos + i] != s.utf8Start[i] { return false }
        return true
    }

    private mutating func expect(_ s: StaticString, key: String?, _ message: String) throws(TOMLError) {
        guard hasPrefix(s) else { throw fail(key, "\(message), found \(describeByte())") }
        pos += s.utf8CodeUnitCount
    }

    private func describeByte() -> String {
        guard pos < bytes.count else { return "end of file" }
        let b = bytes[pos]
        if b == 0x0A || b == 0x0D { return "end of line" }
        return b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x\(String(b, radix: 16))"
    }

    private func fail(_ key: String?, _ message: String) -> TOMLError {
        TOMLError(file: file, line: line, key: key, message: message)
    }
}
