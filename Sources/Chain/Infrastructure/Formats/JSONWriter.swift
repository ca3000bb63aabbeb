/// Serialization to RFC 8259 text.
///
/// Promises: output that `JSON.parse` reads back as an equal value; keys in stored order;
/// `"`, `\` and control characters escaped, everything else (non-ASCII included) written as
/// UTF-8; doubles written in the shortest form that reads back to the same bit pattern, and
/// always with a fraction or exponent so they stay doubles. NaN and infinity have no JSON form:
/// writing one is a programming error.
extension JSON {
    /// Compact form, no whitespace: the wire and storage form.
    public func serialized() -> [UInt8] {
        var writer = JSONWriter(pretty: false)
        writer.write(self, indent: 0)
        return writer.out
    }

    public func serializedString() -> String {
        String(decoding: serialized(), as: UTF8.self)
    }

    /// Two-space indented form for people (CLI output), ending without a newline.
    public func serializedPretty() -> String {
        var writer = JSONWriter(pretty: true)
        writer.write(self, indent: 0)
        return String(decoding: writer.out, as: UTF8.self)
    }
}

struct JSONWriter {
    var out: [UInt8] = []
    let pretty: Bool

    /// Initial output capacity: one transaction fits without regrowing.
    private static let initialCapacityBytes = 512
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    init(pretty: Bool) {
        self.pretty = pretty
        out.reserveCapacity(Self.initialCapacityBytes)
    }

    mutating func write(_ value: JSON, indent: Int) {
        switch value {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])  // null
        case .bool(let b): b ? append("true") : append("false")
        case .int(let i): writeInt(i)
        case .double(let d): writeDouble(d)
        case .string(let s): writeString(s)
        case .array(let elements): writeArray(elements, indent: indent)
        case .object(let object): writeObject(object, indent: indent)
        }
    }

    private mutating func writeArray(_ elements: [JSON], indent: Int) {
        out.append(UInt8(ascii: "["))
        for (i, element) in elements.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            newline(indent + 1)
            write(element, indent: indent + 1)
        }
        if !elements.isEmpty { newline(indent) }
        out.append(UInt8(ascii: "]"))
    }

    private mutating func writeObject(_ object: JSONObject, indent: Int) {
        out.append(UInt8(ascii: "{"))
        for (i, pair) in object.pairs.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            newline(indent + 1)
            writeString(pair.key)
            out.append(UInt8(ascii: ":"))
            if pretty { out.append(UInt8(ascii: " ")) }
            write(pair.value, indent: indent + 1)
        }
        if object.count > 0 { newline(indent) }
        out.append(UInt8(ascii: "}"))
    }

    private mutating func newline(_ indent: Int) {
        guard pretty else { return }
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent * 2))
    }

    private mutating func append(_ s: StaticString) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// Digits written by hand: `String(i)` would allocate per number.
    private mutating func writeInt(_ i: Int64) {
        if i < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = i.magnitude
        // Int64.min has 19 digits; 20 leaves room and keeps the bound obvious.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            var n = 0
            repeat {
                buffer[19 - n] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                n += 1
            } while magnitude > 0
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[(20 - n)...]))
        }
    }

    private mutating func writeDouble(_ d: Double) {
        precondition(d.isFinite, "JSON cannot represent \(d)")
        // Swift's description is the shortest round-trip form: "1.0", "1e-05", "1.5e+300".
        let text = d.description
        out.append(contentsOf: text.utf8)
        assert(Double(text) == d, "double description must round-trip")
    }

    /// Copies each run of bytes that need no escape in one append: the strings that dominate
    /// the output (blocks and signatures in hex, in peer messages) are one run each, and copied
    /// byte by byte they cost the leader of three nodes about 4 % of its CPU at its peak.
    private mutating func writeString(_ s: String) {
        out.append(UInt8(ascii: "\""))
        var text = s
        text.withUTF8 { bytes in
            var runStart = 0
            for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b < 0x20 {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
                runStart = i + 1
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(b)
                case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
                default:
                    append("\\u00")
                    out.append(Self.hexDigits[Int(b >> 4)])
                    out.append(Self.hexDigits[Int(b & 0xF)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        }
        out.append(UInt8(ascii: "\""))
    }
}
