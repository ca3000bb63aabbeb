import Chain

/// A request the server refuses: each case maps to one HTTP status and one stable `code`.
public enum HTTPParseError: Error, Sendable, Equatable {
    case badRequest(String)
    case uriTooLong
    case headersTooLarge
    case bodyTooLarge(limitBytes: Int)
    case versionNotSupported(String)
    case notImplemented(String)
    case requestTimeout
    /// The server-wide budget for request bodies in flight is spent; the client may retry.
    case overloaded(String)

    /// The code's row in `ErrorCodes` (the one table from code to status).
    public var status: Int { ErrorCodes.status(ofOwn: code) }

    public var code: String {
        switch self {
        case .badRequest: return "bad_request"
        case .uriTooLong: return "uri_too_long"
        case .headersTooLarge: return "headers_too_large"
        case .bodyTooLarge: return "body_too_large"
        case .versionNotSupported: return "http_version_not_supported"
        case .notImplemented: return "not_implemented"
        case .requestTimeout: return "request_timeout"
        case .overloaded: return "overloaded"
        }
    }

    public var message: String {
        switch self {
        case .badRequest(let why): return "malformed request: \(why)"
        case .uriTooLong: return "request line too long"
        case .headersTooLarge: return "request headers too large"
        case .bodyTooLarge(let limit): return "request body larger than \(limit) bytes"
        case .versionNotSupported(let version): return "HTTP version \(version) is not supported"
        case .notImplemented(let what): return "\(what) is not implemented"
        case .requestTimeout: return "request not received in time"
        case .overloaded(let why): return "server overloaded: \(why); retry shortly"
        }
    }
}
