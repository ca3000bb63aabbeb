/// Strict RFC 8259 parsing straight over UTF-8 bytes.
///
/// Promises: the whole input is one value (surrounding whitespace allowed); no comments, trailing
/// commas, NaN/Infinity or leading zeros; every escape including surrogate pairs, lone surrogates
/// rejected; raw control characters and malformed UTF-8 rejected; a key may appear once per object.
/// A number without fraction or exponent that fits Int64 becomes `.int`; every other number,
/// including integers beyond Int64, becomes `.double` (nearest value). A number beyond Double's
/// range is rejected rather than read as infinity.
extension JSON {
    public static func parse(_ bytes: [UInt8], limits: JSONLimits = .default) throws(JSONParseError) -> JSON {
        try bytes.withUnsafeBufferPointer { JSONByteParser.parseWhole($0, limits) }.get()
    }

    public static func parse(_ bytes: ArraySlice<UInt8>, limits: JSONLimits = .default) throws(JSONParseError) -> JSON {
        try bytes.withUnsafeBufferPointer { JSONByteParser.parseWhole($0, limits) }.get()
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer, limits: JSONLimits = .default) throws(JSONParseError) -> JSON {
        try bytes.withMemoryRebound(to: UInt8.self) { JSONByteParser.parseWhole($0, limits) }.get()
    }

    public static func parse(_ text: String, limits: JSONLimits = .default) throws(JSONParseError) -> JSON {
        let result = text.utf8.withContiguousStorageIfAvailable { JSONByteParser.parseWhole($0, limits) }
        if let result { return try result.get() }
        return try parse(Array(text.utf8), limits: limits)
    }
}

/// One parse over one buffer. Strings without escapes are decoded straight from the input;
/// strings with escapes are unescaped into a reused scratch buffer, then decoded once.
struct JSONByteParser {
    private let input: UnsafeBufferPointer<UInt8>
    private let limits: JSONLimits
    private var pos = 0
    private var scratch: [UInt8] = []

    /// Objects with more keys than this check duplicates with a hash set instead of a scan.
    private static let duplicateScanKeysMax = 16

    static func parseWhole(_ input: UnsafeBufferPointer<UInt8>, _ limits: JSONLimits) -> Result<JSON, JSONParseError> {
        guard input.count <= limits.maxBytes else {
            return .failure(JSONParseError(.tooLarge, at: 0, "input of \(input.count) bytes exceeds the limit of \(limits.maxBytes)"))
        }
        var parser = JSONByteParser(input: input, limits: limits)
        return Result { () throws(JSONParseError) -> JSON in try parser.parseDocument() }
    }

    private init(input: UnsafeBufferPointer<UInt8>, limits: JSONLimits) {
        self.input = input
        self.limits = limits
    }

    private mutating func parseDocument() throws(JSONParseError) -> JSON {
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard pos == input.count else { throw fail(.trailingData, "unexpected data after the value") }
        return value
    }

    // MARK: Values

    private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSON {
        guard pos < input.count else { throw fail(.unexpectedEnd, "expected a value, found end of input") }
        switch input[pos] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail(.unexpectedByte, "expected a value")
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSON {
        guard depth <= limits.maxDepth else { throw fail(.tooDeep, "nesting deeper than \(limits.maxDepth)") }
        pos += 1  // '{'
        skipWhitespace()
        var pairs: [(String, JSON)] = []
        if pos < input.count && input[pos] == UInt8(ascii: "}") {
            pos += 1
            return .object(JSONObject())
        }
        var seen: Set<String>? = nil
        while true {
            guard pos < input.count else { throw fail(.unexpectedEnd, "expected a string key, found end of input") }
            guard input[pos] == UInt8(ascii: "\"") else { throw fail(.unexpectedByte, "expected a string key") }
            let keyOffset = pos
            let key = try parseString()
            if try isDuplicate(key, in: pairs, seen: &seen) {
                throw JSONParseError(.duplicateKey, at: keyOffset, "duplicate key \"\(key)\"")
            }
            skipWhitespace()
            try expectByte(UInt8(ascii: ":"), "expected ':'")
            skipWhitespace()
            pairs.append((key, try parseValue(depth: depth)))
            skipWhitespace()
            guard pos < input.count else { throw fail(.unexpectedEnd, "expected ',' or '}', found end of input") }
            if input[pos] == UInt8(ascii: ",") {
                pos += 1
                skipWhitespace()
            } else if input[pos] == UInt8(ascii: "}") {
                pos += 1
                return .object(JSONObject(pairs))
            } else {
                throw fail(.unexpectedByte, "expected ',' or '}'")
            }
        }
    }

    private func isDuplicate(_ key: String, in pairs: [(String, JSON)], seen: inout Set<String>?) throws(JSONParseError) -> Bool {
        if pairs.count < Self.duplicateScanKeysMax {
            return pairs.contains { $0.0 == key }
        }
        if seen == nil { seen = Set(pairs.map(\.0)) }
        return !seen!.insert(key).inserted
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSON {
        guard depth <= limits.maxDepth else { throw fail(.tooDeep, "nesting deeper than \(limits.maxDepth)") }
        pos += 1  // '['
        skipWhitespace()
        var elements: [JSON] = []
        if pos < input.count && input[pos] == UInt8(ascii: "]") {
            pos += 1
            return .array(elements)
        }
        while true {
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard pos < input.count else { throw fail(.unexpectedEnd, "expected ',' or ']', found end of input") }
            if input[pos] == UInt8(ascii: ",") {
                pos += 1
                skipWhitespace()
            } else if input[pos] == UInt8(ascii: "]") {
                pos += 1
                return .array(elements)
            } else {
                throw fail(.unexpectedByte, "expected ',' or ']'")
            }
        }
    }

    // MARK: Numbers

    private mutating func parseNumber() throws(JSONParseError) -> JSON {
        let start = pos
        let negative = input[pos] == UInt8(ascii: "-")
        if negative { pos += 1 }
        guard pos < input.count, isDigit(input[pos]) else { throw fail(.invalidNumber, "expected a digit") }
        // Magnitude accumulates in UInt64; `fits` turns false once it cannot be an Int64.
        var magnitude: UInt64 = 0
        var fits = true
        if input[pos] == UInt8(ascii: "0") {
            pos += 1
            if pos < input.count && isDigit(input[pos]) { throw fail(.invalidNumber, "leading zeros are not allowed") }
        } else {
            while pos < input.count && isDigit(input[pos]) {
                let digit = UInt64(input[pos] &- UInt8(ascii: "0"))
                let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(digit)
                if o1 || o2 { fits = false } else { magnitude = m2 }
                pos += 1
            }
        }
        var integral = true
        if pos < input.count && input[pos] == UInt8(ascii: ".") {
            integral = false
            pos += 1
            try skipDigits("expected a digit after '.'")
        }
        if pos < input.count && (input[pos] | 0x20) == UInt8(ascii: "e") {
            integral = false
            pos += 1
            if pos < input.count && (input[pos] == UInt8(ascii: "+") || input[pos] == UInt8(ascii: "-")) { pos += 1 }
            try skipDigits("expected a digit in the exponent")
        }
        if integral && fits {
            if !negative && magnitude <= UInt64(Int64.max) { return .int(Int64(magnitude)) }
            if negative && magnitude <= UInt64(Int64.max) + 1 { return .int(Int64(truncatingIfNeeded: 0 &- magnitude)) }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: input[start..<pos]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw JSONParseError(.invalidNumber, at: start, "number \(text) is out of range")
        }
        return .double(value)
    }

    private mutating func skipDigits(_ message: String) throws(JSONParseError) {
        guard pos < input.count, isDigit(input[pos]) else { throw fail(.invalidNumber, message) }
        while pos < input.count && isDigit(input[pos]) { pos += 1 }
    }

    private func isDigit(_ b: UInt8) -> Bool { b &- UInt8(ascii: "0") < 10 }

    // MARK: Strings

    /// Parses a string whose opening quote is at `pos`.
    private mutating func parseString() throws(JSONParseError) -> String {
        let quoteOffset = pos
        pos += 1
        let start = pos
        while pos < input.count {
            let b = input[pos]
            if b == UInt8(ascii: "\"") {
                try checkStringLength(pos - start, at: quoteOffset)
                let text = String(decoding: UnsafeBufferPointer(rebasing: input[start..<pos]), as: UTF8.self)
                pos += 1
                return text
            }
            if b == UInt8(ascii: "\\") { return try parseEscapedString(from: start, quoteOffset: quoteOffset) }
            try advanceStringByte(b)
        }
        throw JSONParseError(.unexpectedEnd, at: quoteOffset, "unterminated string")
    }

    /// The slow path: copies what was scanned so far into `scratch` and unescapes the rest.
    private mutating func parseEscapedString(from start: Int, quoteOffset: Int) throws(JSONParseError) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: input[start..<pos]))
        while pos < input.count {
            let b = input[pos]
            if b == UInt8(ascii: "\"") {
                try checkStringLength(scratch.count, at: quoteOffset)
                pos += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if b == UInt8(ascii: "\\") {
                try appendEscape()
            } else {
                let from = pos
                try advanceStringByte(b)
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: input[from..<pos]))
            }
        }
        throw JSONParseError(.unexpectedEnd, at: quoteOffset, "unterminated string")
    }

    private func checkStringLength(_ count: Int, at offset: Int) throws(JSONParseError) {
        guard count <= limits.maxStringBytes else {
            throw JSONParseError(.stringTooLong, at: offset, "string longer than \(limits.maxStringBytes) bytes")
        }
    }

    /// Steps over one unescaped character inside a string, validating it.
    private mutating func advanceStringByte(_ b: UInt8) throws(JSONParseError) {
        if b >= 0x80 {
            pos += try utf8SequenceLength()
        } else if b < 0x20 {
            throw fail(.controlCharacter, "control character in string")
        } else {
            pos += 1
        }
    }

    /// Length of the well-formed UTF-8 sequence at `pos` (lead byte >= 0x80), per RFC 3629.
    private func utf8SequenceLength() throws(JSONParseError) -> Int {
        let lead = input[pos]
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xED: length = 3; high = 0x9F
        case 0xE1...0xEF: length = 3
        case 0xF0: length = 4; low = 0x90
        case 0xF4: length = 4; high = 0x8F
        case 0xF1...0xF3: length = 4
        default: throw fail(.invalidUTF8, "invalid UTF-8 lead byte")
        }
        guard pos + length <= input.count else { throw fail(.invalidUTF8, "truncated UTF-8 sequence") }
        guard input[pos + 1] >= low && input[pos + 1] <= high else { throw fail(.invalidUTF8, "invalid UTF-8 sequence") }
        for i in 2..<length where input[pos + i] & 0xC0 != 0x80 {
            throw fail(.invalidUTF8, "invalid UTF-8 sequence")
        }
        return length
    }

    private mutating func appendEscape() throws(JSONParseError) {
        let escapeOffset = pos
        pos += 1
        guard pos < input.count else { throw JSONParseError(.unexpectedEnd, at: escapeOffset, "unterminated escape") }
        let c = input[pos]
        pos += 1
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(c)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"): appendScalar(try parseUnicodeEscape(escapeOffset: escapeOffset))
        default: throw JSONParseError(.invalidEscape, at: escapeOffset, "invalid escape '\\\(Character(Unicode.Scalar(c)))'")
        }
    }

    /// Reads the hex of a `\u` escape (and its low half when it is a high surrogate).
    private mutating func parseUnicodeEscape(escapeOffset: Int) throws(JSONParseError) -> UInt32 {
        let unit = try parseHex4(escapeOffset: escapeOffset)
        if unit >= 0xDC00 && unit <= 0xDFFF {
            throw JSONParseError(.loneSurrogate, at: escapeOffset, "lone low surrogate")
        }
        guard unit >= 0xD800 && unit <= 0xDBFF else { return unit }
        guard pos + 1 < input.count, input[pos] == UInt8(ascii: "\\"), input[pos + 1] == UInt8(ascii: "u") else {
            throw JSONParseError(.loneSurrogate, at: escapeOffset, "lone high surrogate")
        }
        let lowOffset = pos
        pos += 2
        let low = try parseHex4(escapeOffset: lowOffset)
        guard low >= 0xDC00 && low <= 0xDFFF else {
            throw JSONParseError(.loneSurrogate, at: escapeOffset, "high surrogate not followed by a low surrogate")
        }
        return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
    }

    private mutating func parseHex4(escapeOffset: Int) throws(JSONParseError) -> UInt32 {
        guard pos + 4 <= input.count else { throw JSONParseError(.invalidEscape, at: escapeOffset, "\\u needs four hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = input[pos]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw JSONParseError(.invalidEscape, at: escapeOffset, "\\u needs four hex digits")
            }
            value = value << 4 | UInt32(digit)
            pos += 1
        }
        return value
    }

    private mutating func appendScalar(_ v: UInt32) {
        precondition(v <= 0x10FFFF && !(0xD800...0xDFFF).contains(v), "surrogates are resolved before encoding")
        switch v {
        case 0..<0x80: scratch.append(UInt8(v))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | (v >> 6)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | (v >> 12)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        default:
            scratch.append(UInt8(0xF0 | (v >> 18)))
            scratch.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    // MARK: Small pieces

    private mutating func skipWhitespace() {
        while pos < input.count {
            switch input[pos] {
            case 0x20, 0x0A, 0x0D, 0x09: pos += 1
            default: return
            }
        }
    }

    private mutating func expectByte(_ b: UInt8, _ message: String) throws(JSONParseError) {
        guard pos < input.count else { throw fail(.unexpectedEnd, "\(message), found end of input") }
        guard input[pos] == b else { throw fail(.unexpectedByte, message) }
        pos += 1
    }

    private mutating func expectLiteral(_ word: StaticString) throws(JSONParseError) {
        let start = pos
        let count = word.utf8CodeUnitCount
        let matches = pos + count <= input.count
            && (0..<count).allSatisfy { input[start + $0] == word.utf8Start[$0] }
        guard matches else { throw fail(.unexpectedByte, "expected a value") }
        pos += count
    }

    private func fail(_ kind: JSONParseError.Kind, _ message: String) -> JSONParseError {
        JSONParseError(kind, at: pos, message)
    }
}
