/// The bounds a JSON parse enforces, so a hostile peer or client cannot make one parse cost
/// unbounded memory, time or stack.
public struct JSONLimits: Sendable, Equatable {
    /// Deepest nesting of arrays and objects accepted; the top-level container is depth 1.
    /// The parser recurses once per level, so this also bounds its stack use.
    public var maxDepth: Int
    /// Largest input accepted, in bytes (the peer protocol's line limit).
    public var maxBytes: Int
    /// Longest string accepted, in UTF-8 bytes after unescaping (keys included).
    public var maxStringBytes: Int

    /// Depth 64 (our documents nest 4 levels), 16 MiB of input, 4 MiB per string.
    public static let `default` = JSONLimits(maxDepth: 64, maxBytes: 16 << 20, maxStringBytes: 4 << 20)

    public init(maxDepth: Int, maxBytes: Int, maxStringBytes: Int) {
        precondition(maxDepth >= 1, "JSONLimits.maxDepth must be at least 1")
        precondition(maxBytes >= 0 && maxStringBytes >= 0, "JSONLimits sizes must not be negative")
        self.maxDepth = maxDepth
        self.maxBytes = maxBytes
        self.maxStringBytes = maxStringBytes
    }
}

/// Why a document is not acceptable JSON, and where: `offset` is the 0-based byte offset of the
/// first byte that could not be accepted. `description` reads "expected ',' or '}' at byte 17".
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The class of the fault, for callers and tests that need to tell faults apart.
    public enum Kind: Sendable, Equatable {
        /// The input ended inside a value.
        case unexpectedEnd
        /// A byte that the grammar does not allow here.
        case unexpectedByte
        /// A number token that breaks the grammar (leading zero, missing digits) or overflows Double.
        case invalidNumber
        /// A backslash escape that is not one of the nine JSON escapes, or bad `\u` hex digits.
        case invalidEscape
        /// A `\u` escape naming a lone or misordered UTF-16 surrogate.
        case loneSurrogate
        /// A raw control character (below U+0020) inside a string.
        case controlCharacter
        /// Bytes that are not well-formed UTF-8.
        case invalidUTF8
        /// A key that appears twice in one object.
        case duplicateKey
        /// Nesting deeper than `JSONLimits.maxDepth`.
        case tooDeep
        /// Input larger than `JSONLimits.maxBytes`.
        case tooLarge
        /// A string longer than `JSONLimits.maxStringBytes`.
        case stringTooLong
        /// Bytes other than whitespace after the top-level value.
        case trailingData
    }

    public let kind: Kind
    public let offset: Int
    /// What was wrong, without the position ("expected ',' or '}'").
    public let message: String

    public init(_ kind: Kind, at offset: Int, _ message: String) {
        self.kind = kind
        self.offset = offset
        self.message = message
    }

    public var description: String { "\(message) at byte \(offset)" }
}
