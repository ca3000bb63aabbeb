/// Why stored or received binary data could not be decoded. Storage corruption or a faulty peer,
/// never a programmer error, so it is a typed error rather than a trap.
public enum DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Needed `needed` more bytes at `offset`, but the input ended.
    case truncated(offset: Int, needed: Int)
    /// A value is out of its allowed range (`what` names it).
    case invalidValue(offset: Int, what: String)
    /// Input continued after the value ended.
    case trailingBytes(count: Int)
    /// The codec version byte is not one we read.
    case unsupportedVersion(UInt8)

    public var description: String {
        switch self {
        case .truncated(let o, let n): "truncated input: need \(n) more bytes at offset \(o)"
        case .invalidValue(let o, let w): "invalid \(w) at offset \(o)"
        case .trailingBytes(let c): "\(c) unexpected trailing bytes"
        case .unsupportedVersion(let v): "unsupported codec version \(v)"
        }
    }
}

/// Bounds-checked big-endian reads over a byte array. Promises never to read past the end:
/// every read either returns a whole value or throws `.truncated` without consuming input.
public struct ByteReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func readBytes(_ count: Int) throws(DecodeError) -> ArraySlice<UInt8> {
        precondition(count >= 0)
        guard count <= remaining else { throw .truncated(offset: offset, needed: count) }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    public mutating func readUInt8() throws(DecodeError) -> UInt8 {
        try readBytes(1).first!
    }

    public mutating func readUInt32() throws(DecodeError) -> UInt32 {
        try readBytes(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    public mutating func readUInt64() throws(DecodeError) -> UInt64 {
        try readBytes(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    public mutating func read<T: FixedBytes>(_ type: T.Type) throws(DecodeError) -> T {
        T(bytes: try readBytes(T.byteCount))!
    }

    /// Throws `.trailingBytes` unless every byte was consumed.
    public func expectEnd() throws(DecodeError) {
        guard remaining == 0 else { throw .trailingBytes(count: remaining) }
    }
}

/// Big-endian appends, the writing half of `ByteReader`.
extension Array where Element == UInt8 {
    mutating func appendBE(_ v: UInt64) {
        Swift.withUnsafeBytes(of: v.bigEndian) { append(contentsOf: $0) }
    }

    mutating func appendBE(_ v: UInt32) {
        Swift.withUnsafeBytes(of: v.bigEndian) { append(contentsOf: $0) }
    }
}
