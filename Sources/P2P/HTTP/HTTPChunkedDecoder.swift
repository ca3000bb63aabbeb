/// An incremental decoder for `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1), shared by the
/// server (request bodies) and the client (response bodies).
///
/// Fed any split of the input, it appends the decoded data to a body and reports when the last
/// chunk and trailer section are through. Bounds: the decoded body (`maxBodyBytes`, → 413), one
/// chunk-size line (`maxChunkLineBytes`), and the trailer section (`maxTrailerBytes`, → 431).
/// Trailer fields are read and dropped.
public struct HTTPChunkedDecoder: Sendable {
    public enum Result: Sendable, Equatable {
        /// Every byte given was used; more are needed.
        case needMore
        /// The body is complete; `consumed` bytes belonged to it, the rest to what follows.
        case done(consumed: Int)
        case failure(HTTPParseError)
    }

    /// Longest chunk-size line including extensions.
    public static let maxChunkLineBytes = 1024
    /// Most hex digits in a chunk size (60 bits: far above any body limit, far from overflow).
    static let maxSizeDigits = 15

    private enum State: Sendable {
        case size(value: Int, digits: Int, inExtension: Bool, lineBytes: Int)
        case data(remaining: Int)
        case dataEnd(sawCR: Bool)
        case trailer(lineBytes: Int, totalBytes: Int)
    }

    public let maxBodyBytes: Int
    public let maxTrailerBytes: Int
    private var state: State = .size(value: 0, digits: 0, inExtension: false, lineBytes: 0)
    private var decodedBytes = 0

    public init(maxBodyBytes: Int, maxTrailerBytes: Int = 16384) {
        precondition(maxBodyBytes >= 0 && maxTrailerBytes >= 0)
        self.maxBodyBytes = maxBodyBytes
        self.maxTrailerBytes = maxTrailerBytes
    }

    public mutating func decode(_ input: UnsafeRawBufferPointer, into body: inout [UInt8]) -> Result {
        var index = 0
        while index < input.count {  // bound: each turn consumes at least one byte
            switch state {
            case .data(let remaining):
                let take = min(remaining, input.count - index)
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[index..<(index + take)]))
                index += take
                state = remaining == take ? .dataEnd(sawCR: false) : .data(remaining: remaining - take)
            case .size(let value, let digits, let inExtension, let lineBytes):
                if let outcome = sizeByte(input[index], value, digits, inExtension, lineBytes + 1) { return outcome }
                index += 1
            case .dataEnd(let sawCR):
                let byte = input[index]
                index += 1
                if byte == 0x0D && !sawCR { state = .dataEnd(sawCR: true); continue }
                guard byte == 0x0A else { return .failure(.badRequest("chunk data not followed by CRLF")) }
                state = .size(value: 0, digits: 0, inExtension: false, lineBytes: 0)
            case .trailer(let lineBytes, let totalBytes):
                let byte = input[index]
                index += 1
                if totalBytes + 1 > maxTrailerBytes { return .failure(.headersTooLarge) }
                if byte != 0x0A {
                    state = .trailer(lineBytes: lineBytes + (byte == 0x0D ? 0 : 1), totalBytes: totalBytes + 1)
                    continue
                }
                if lineBytes == 0 { return .done(consumed: index) }
                state = .trailer(lineBytes: 0, totalBytes: totalBytes + 1)
            }
        }
        return .needMore
    }

    private mutating func sizeByte(_ byte: UInt8, _ value: Int, _ digits: Int, _ inExtension: Bool,
                                   _ lineBytes: Int) -> Result? {
        if lineBytes > Self.maxChunkLineBytes { return .failure(.badRequest("chunk size line too long")) }
        if byte == 0x0A {
            guard digits > 0 else { return .failure(.badRequest("missing chunk size")) }
            if value == 0 { state = .trailer(lineBytes: 0, totalBytes: 0); return nil }
            decodedBytes += value
            if decodedBytes > maxBodyBytes { return .failure(.bodyTooLarge(limitBytes: maxBodyBytes)) }
            state = .data(remaining: value)
            return nil
        }
        if inExtension || byte == UInt8(ascii: ";") || byte == 0x0D || byte == 0x20 || byte == 0x09 {
            guard digits > 0 else { return .failure(.badRequest("missing chunk size")) }
            state = .size(value: value, digits: digits, inExtension: true, lineBytes: lineBytes)
            return nil
        }
        guard let nibble = Self.hexValue(byte) else { return .failure(.badRequest("invalid chunk size")) }
        guard digits < Self.maxSizeDigits else { return .failure(.bodyTooLarge(limitBytes: maxBodyBytes)) }
        state = .size(value: value << 4 | nibble, digits: digits + 1, inExtension: false, lineBytes: lineBytes)
        return nil
    }

    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: return Int(byte - 0x30)
        case 0x41...0x46: return Int(byte - 0x41 + 10)
        case 0x61...0x66: return Int(byte - 0x61 + 10)
        default: return nil
        }
    }
}
