/// Lowercase hexadecimal, the text form of every binary value on the wire (DESIGN §3).
///
/// `encode` never adds a prefix; `decode` accepts an optional `0x`/`0X`, either case of digits,
/// and rejects odd lengths and any other character.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Nibble value of each byte, 0xFF for a byte that is not a hex digit.
    private static let nibbles: [UInt8] = (0...255).map { c in
        switch UInt8(c) {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt8(c) - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt8(c) - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt8(c) - UInt8(ascii: "A") + 10
        default: 0xFF
        }
    }

    /// Lowercase hex of `bytes`, two characters per byte, no prefix.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        if let fast = bytes.withContiguousStorageIfAvailable({ encode(buffer: $0) }) { return fast }
        return encode(buffer: Array(bytes))
    }

    /// Block payloads are megabytes of hex on the wire: one pass over raw buffers, no per-byte
    /// generic dispatch.
    private static func encode(buffer bytes: UnsafeBufferPointer<UInt8>) -> String {
        digits.withUnsafeBufferPointer { d in
            String(unsafeUninitializedCapacity: bytes.count * 2) { out in
                var j = 0
                for b in bytes {
                    out[j] = d[Int(b >> 4)]
                    out[j + 1] = d[Int(b & 0x0f)]
                    j += 2
                }
                return j
            }
        }
    }

    private static func encode(buffer bytes: [UInt8]) -> String { bytes.withUnsafeBufferPointer { encode(buffer: $0) } }

    /// Appends the lowercase hex of `bytes` to `out` (as `encode`, without making a String).
    public static func append(_ bytes: [UInt8], to out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: bytes.count * 2))
        digits.withUnsafeBufferPointer { d in
            bytes.withUnsafeBufferPointer { source in
                out.withUnsafeMutableBufferPointer { target in
                    var j = start
                    for b in source {
                        target[j] = d[Int(b >> 4)]
                        target[j + 1] = d[Int(b & 0x0f)]
                        j += 2
                    }
                }
            }
        }
    }

    /// The bytes spelled by `s`, or nil when `s` is not even-length hex (after an optional "0x").
    public static func decode(_ s: some StringProtocol) -> [UInt8]? {
        let utf8 = Substring(s).utf8
        if let fast = utf8.withContiguousStorageIfAvailable({ decode(buffer: $0) }) { return fast }
        return Array(utf8).withUnsafeBufferPointer { decode(buffer: $0) }
    }

    private static func decode(buffer text: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        var start = 0
        if text.count >= 2, text[0] == UInt8(ascii: "0"), text[1] == UInt8(ascii: "x") || text[1] == UInt8(ascii: "X") {
            start = 2
        }
        let digitCount = text.count - start
        guard digitCount % 2 == 0 else { return nil }
        var invalid: UInt8 = 0
        let out = nibbles.withUnsafeBufferPointer { table in
            [UInt8](unsafeUninitializedCapacity: digitCount / 2) { out, count in
                var i = start
                var j = 0
                while i < text.count {
                    let high = table[Int(text[i])]
                    let low = table[Int(text[i + 1])]
                    invalid |= (high | low) & 0xF0  // 0xFF marks a non-digit
                    out[j] = high << 4 | (low & 0x0F)
                    i += 2
                    j += 1
                }
                count = j
            }
        }
        assert(out.count == digitCount / 2)
        return invalid == 0 ? out : nil
    }
}
