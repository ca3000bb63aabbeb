import Chain

/// A response a handler gives to its `HTTPResponder`. `Sendable`, so it may be built anywhere.
///
/// The server owns framing: it always writes the correct `Content-Length` (any given one is
/// replaced), adds `Connection: close` when it will close, and omits the body for HEAD, 1xx,
/// 204 and 304. A `Connection: close` header set here makes the server close after sending.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        precondition((100...999).contains(status), "HTTP status must have three digits")
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The reason phrase for the status line (from `HTTPStatus.reasonPhrase`).
    public var reasonPhrase: String { HTTPStatus.reasonPhrase(status) }

    /// An `application/json` response with `body` already serialized.
    public static func json(status: Int = 200, body: String) -> HTTPResponse {
        json(status: status, body: Array(body.utf8))
    }

    public static func json(status: Int = 200, body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: body)
    }

    /// A `text/plain; charset=utf-8` response.
    public static func text(status: Int = 200, _ text: String, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": contentType], body: Array(text.utf8))
    }

    /// The project's error shape: `{"error":{"code":"...","message":"..."}}`.
    public static func error(status: Int, code: String, message: String) -> HTTPResponse {
        json(status: status, body: "{\"error\":{\"code\":\(jsonString(code)),\"message\":\(jsonString(message))}}")
    }

    /// An error of ours in that shape, with `code`'s status from `ErrorCodes` (the one table).
    public static func error(code: String, message: String) -> HTTPResponse {
        error(status: ErrorCodes.status(ofOwn: code), code: code, message: message)
    }

    /// `text` as a JSON string literal, quotes included (RFC 8259 escaping).
    public static func jsonString(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Status codes whose responses never carry a body.
    static func forbidsBody(_ status: Int) -> Bool { (100..<200).contains(status) || status == 204 || status == 304 }
}

/// Reason phrases for the status codes an API uses (RFC 9110 §15).
public enum HTTPStatus {
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 406: return "Not Acceptable"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 412: return "Precondition Failed"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 425: return "Too Early"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}
