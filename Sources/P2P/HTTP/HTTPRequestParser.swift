import Glibc

/// Limits the request parser enforces, each mapped to the status the client gets.
public struct HTTPParserLimits: Sendable, Equatable {
    /// Longest request line (method, target, version); over it → 414. Default 8192.
    public var maxRequestLineBytes = 8192
    /// Longest header section after the request line; over it → 431. Default 16384.
    public var maxHeaderBytes = 16384
    /// Most header fields; over it → 431. Default 100.
    public var maxHeaderCount = 100
    public init() {}
}

/// An incremental HTTP/1.x request-head parser, after picohttpparser.
///
/// Feed it the bytes received so far for the current request (always from the request's first
/// byte); it answers `.needMore`, the head plus how many bytes it used (the rest is body or the
/// next pipelined request), or a typed error. It remembers how far it scanned, so each call costs
/// only the new bytes; the head is parsed once, when its terminating empty line has arrived.
/// Pure: no I/O, no clock. Call `reset()` before the next request.
public struct HTTPRequestParser: Sendable {
    public enum Result: Sendable, Equatable {
        case needMore
        case head(HTTPRequestHead, consumed: Int)
        case failure(HTTPParseError)
    }

    /// Empty lines tolerated before a request line (RFC 9112 §2.2 says to skip at least one).
    static let maxLeadingEmptyLines = 4

    public let limits: HTTPParserLimits
    private var scanned = 0
    private var lineStart = 0
    private var requestLineStart = 0
    private var requestLineEnd: Int?
    private var headerLineCount = 0
    private var leadingEmptyLines = 0

    public init(limits: HTTPParserLimits = HTTPParserLimits()) { self.limits = limits }

    /// Forgets the current request; the next `parse` starts a new one.
    public mutating func reset() { self = HTTPRequestParser(limits: limits) }

    public mutating func parse(_ bytes: [UInt8]) -> Result {
        bytes.withUnsafeBytes { parse($0) }
    }

    public mutating func parse(_ buffer: UnsafeRawBufferPointer) -> Result {
        precondition(buffer.count >= scanned, "parse is fed the whole request so far, never less")
        guard let base = buffer.baseAddress, buffer.count > scanned else { return .needMore }
        while scanned < buffer.count {
            guard let hit = memchr(base + scanned, 0x0A, buffer.count - scanned) else {
                scanned = buffer.count
                break
            }
            let newline = base.distance(to: UnsafeRawPointer(hit))
            scanned = newline + 1
            if let outcome = endLine(at: newline, in: buffer) { return outcome }
        }
        return checkPartialLimits(count: buffer.count)
    }

    /// Handles one complete line ending at `newline`; returns an outcome when the head is done or bad.
    private mutating func endLine(at newline: Int, in buffer: UnsafeRawBufferPointer) -> Result? {
        let length = newline - lineStart
        let isEmpty = length == 0 || (length == 1 && buffer[lineStart] == 0x0D)
        defer { lineStart = newline + 1 }
        guard let requestLineEnd else {
            if isEmpty {
                leadingEmptyLines += 1
                if leadingEmptyLines > Self.maxLeadingEmptyLines { return .failure(.badRequest("too many empty lines")) }
                requestLineStart = newline + 1
                return nil
            }
            if length > limits.maxRequestLineBytes { return .failure(.uriTooLong) }
            self.requestLineEnd = newline
            return nil
        }
        let headerBytes = newline + 1 - (requestLineEnd + 1)
        if headerBytes > limits.maxHeaderBytes { return .failure(.headersTooLarge) }
        if isEmpty {
            return HTTPHeadDecoder.decode(buffer, requestLine: requestLineStart..<requestLineEnd,
                                          headers: (requestLineEnd + 1)..<lineStart, consumed: newline + 1)
        }
        headerLineCount += 1
        if headerLineCount > limits.maxHeaderCount { return .failure(.headersTooLarge) }
        return nil
    }

    private func checkPartialLimits(count: Int) -> Result {
        if let requestLineEnd {
            if count - (requestLineEnd + 1) > limits.maxHeaderBytes { return .failure(.headersTooLarge) }
        } else if count - requestLineStart > limits.maxRequestLineBytes + 1 {  // +1: room for a CR
            return .failure(.uriTooLong)
        }
        return .needMore
    }
}
