/// A response as `HTTPClient` received it: status, headers, and the whole decoded body.
public struct HTTPClientResponse: Sendable {
    public let status: Int
    public let headers: HTTPHeaders
    public let body: [UInt8]
    /// The body as UTF-8 text (invalid sequences replaced).
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Why an `HTTPClient` request failed. Every case names what a user needs to act on it.
public enum HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidURL(String)
    /// The caller's method, path or a header cannot be sent as given (nothing was sent).
    case invalidRequest(String)
    case connectionRefused(String)
    /// The whole request (connect, write, read) did not finish within its timeout.
    case timeout(String)
    case malformedResponse(String)
    case responseTooLarge(limitBytes: Int)
    /// The server closed the connection before a complete response.
    case connectionClosed(String)
    /// The connection was gone before any byte of the request was written: the server never saw it.
    case notSent(String)
    case io(SocketError)

    public var description: String {
        switch self {
        case .invalidURL(let url): return "invalid URL '\(url)'"
        case .invalidRequest(let why): return "invalid request: \(why)"
        case .connectionRefused(let address): return "connection refused by \(address)"
        case .timeout(let what): return "timed out \(what)"
        case .malformedResponse(let why): return "malformed response: \(why)"
        case .responseTooLarge(let limit): return "response larger than \(limit) bytes"
        case .connectionClosed(let what): return "connection closed \(what)"
        case .notSent(let why): return "request not sent: \(why)"
        case .io(let error): return error.description
        }
    }
}

/// Parses a response status line and header section (client side; bounded by the caller).
enum HTTPResponseHeadDecoder {
    static func decode(_ head: ArraySlice<UInt8>) throws(HTTPClientError) -> (status: Int, version: String, headers: HTTPHeaders) {
        var lines = head.split(separator: 0x0A, omittingEmptySubsequences: false).map { line -> ArraySlice<UInt8> in
            line.last == 0x0D ? line.dropLast() : line
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let statusLine = lines.first else { throw .malformedResponse("empty head") }
        let parts = statusLine.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].starts(with: Array("HTTP/1.".utf8)), parts[1].count == 3,
              let status = Int(String(decoding: parts[1], as: UTF8.self)), status >= 100 else {
            throw .malformedResponse("bad status line '\(String(decoding: statusLine.prefix(80), as: UTF8.self))'")
        }
        var headers = HTTPHeaders()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw .malformedResponse("header line without ':'") }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self)
            headers.add(name, String(Substring(value).trimmingASCIISpaces()))
        }
        return (status, String(decoding: parts[0], as: UTF8.self), headers)
    }
}
