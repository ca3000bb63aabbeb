/// A fixed-length byte string held inline (no heap allocation), so it is a cheap dictionary key.
///
/// Promises: `bytes.count == byteCount`; equality, hashing and `<` (bytewise lexicographic order)
/// depend only on the bytes; `hex` is lowercase with `hexPrefix`; `init?(hex:)` accepts the value
/// with or without "0x".
public protocol FixedBytes: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Number of bytes in every value of this type.
    static var byteCount: Int { get }
    /// "0x" for addresses and hashes, "" for keys and signatures (DESIGN §3).
    static var hexPrefix: String { get }
    /// Builds a value from exactly `byteCount` bytes; traps on any other length.
    init(copying raw: UnsafeRawBufferPointer)
    /// Appends the `byteCount` bytes, in order, to `out`.
    func append(to out: inout [UInt8])
}

extension FixedBytes {
    /// The value whose bytes are all zero (each concrete type caches it as `static let zero`).
    static func makeZero() -> Self {
        let zeros = [UInt8](repeating: 0, count: byteCount)
        return zeros.withUnsafeBytes { Self(copying: $0) }
    }

    /// nil unless `bytes` has exactly `byteCount` elements.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        let array = Array(bytes)
        self = array.withUnsafeBytes { Self(copying: $0) }
    }

    /// nil unless `hex` is `byteCount` bytes of hex, with or without "0x".
    public init?(hex: some StringProtocol) {
        guard let decoded = Hex.decode(hex) else { return nil }
        self.init(bytes: decoded)
    }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.byteCount)
        append(to: &out)
        assert(out.count == Self.byteCount)
        return out
    }

    public var hex: String { Self.hexPrefix + Hex.encode(bytes) }
    public var description: String { hex }
}

/// Big-endian word helpers: storing bytes as big-endian words makes word-wise comparison equal to
/// bytewise comparison.
@inline(__always)
func loadWord(_ raw: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
    UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
}

@inline(__always)
func appendWord(_ word: UInt64, to out: inout [UInt8]) {
    withUnsafeBytes(of: word.bigEndian) { out.append(contentsOf: $0) }
}

/// 32 bytes as four big-endian words: the storage of `Hash32` and `PublicKey` (comparing the
/// words compares the bytes).
struct Words256: Hashable, Sendable, Comparable {
    private var w0, w1, w2, w3: UInt64

    init(copying raw: UnsafeRawBufferPointer) {
        precondition(raw.count == 32, "Words256 needs 32 bytes")
        (w0, w1, w2, w3) = (loadWord(raw, 0), loadWord(raw, 8), loadWord(raw, 16), loadWord(raw, 24))
    }

    func append(to out: inout [UInt8]) {
        appendWord(w0, to: &out)
        appendWord(w1, to: &out)
        appendWord(w2, to: &out)
        appendWord(w3, to: &out)
    }

    static func < (a: Self, b: Self) -> Bool { (a.w0, a.w1, a.w2, a.w3) < (b.w0, b.w1, b.w2, b.w3) }
}

/// A SHA-256 digest: block hashes, transaction hashes, Merkle and state roots. Text form "0x"+64 hex.
public struct Hash32: FixedBytes {
    public static let zero = Hash32.makeZero()
    public static let byteCount = 32
    public static let hexPrefix = "0x"
    private var words: Words256

    public init(copying raw: UnsafeRawBufferPointer) {
        precondition(raw.count == Self.byteCount, "Hash32 needs 32 bytes")
        words = Words256(copying: raw)
    }

    public func append(to out: inout [UInt8]) { words.append(to: &out) }

    public static func < (a: Self, b: Self) -> Bool { a.words < b.words }
}

/// An account address: the first 20 bytes of SHA-256(Ed25519 public key). Text form "0x"+40 hex.
public struct Address: FixedBytes {
    public static let zero = Address.makeZero()
    public static let byteCount = 20
    public static let hexPrefix = "0x"
    private var w0, w1: UInt64
    private var w2: UInt32

    public init(copying raw: UnsafeRawBufferPointer) {
        precondition(raw.count == Self.byteCount, "Address needs 20 bytes")
        (w0, w1) = (loadWord(raw, 0), loadWord(raw, 8))
        w2 = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
    }

    /// The address that owns `publicKey` (DESIGN §3).
    public init(publicKey: PublicKey) {
        let digest = Crypto.sha256(publicKey.bytes).bytes
        self = digest.withUnsafeBytes { Address(copying: UnsafeRawBufferPointer(rebasing: $0[0..<20])) }
    }

    public func append(to out: inout [UInt8]) {
        appendWord(w0, to: &out)
        appendWord(w1, to: &out)
        withUnsafeBytes(of: w2.bigEndian) { out.append(contentsOf: $0) }
    }

    public static func < (a: Self, b: Self) -> Bool { (a.w0, a.w1, a.w2) < (b.w0, b.w1, b.w2) }
}

/// An Ed25519 public key (32 bytes). Text form: plain hex, no prefix.
public struct PublicKey: FixedBytes {
    public static let zero = PublicKey.makeZero()
    public static let byteCount = 32
    public static let hexPrefix = ""
    private var words: Words256

    public init(copying raw: UnsafeRawBufferPointer) {
        precondition(raw.count == Self.byteCount, "PublicKey needs 32 bytes")
        words = Words256(copying: raw)
    }

    public func append(to out: inout [UInt8]) { words.append(to: &out) }

    public static func < (a: Self, b: Self) -> Bool { a.words < b.words }
}

/// An Ed25519 detached signature (64 bytes). Text form: plain hex, no prefix.
public struct Signature: FixedBytes {
    public static let zero = Signature.makeZero()
    public static let byteCount = 64
    public static let hexPrefix = ""
    private var low: Hash32  // bytes 0..<32, reusing Hash32's inline words
    private var high: Hash32  // bytes 32..<64

    public init(copying raw: UnsafeRawBufferPointer) {
        precondition(raw.count == Self.byteCount, "Signature needs 64 bytes")
        low = Hash32(copying: UnsafeRawBufferPointer(rebasing: raw[0..<32]))
        high = Hash32(copying: UnsafeRawBufferPointer(rebasing: raw[32..<64]))
    }

    public func append(to out: inout [UInt8]) {
        low.append(to: &out)
        high.append(to: &out)
    }

    public static func < (a: Self, b: Self) -> Bool { a.low != b.low ? a.low < b.low : a.high < b.high }
}
