import Chain
import P2P

/// An error a client caused, with its HTTP status and the stable code clients match on.
struct APIError: Error, Sendable {
    let status: Int
    let code: String
    let message: String

    static func notFound(_ what: String) -> APIError { APIError(code: "not_found", message: what) }
    static func badRequest(_ code: String, _ message: String) -> APIError {
        assert(ErrorCodes.status(of: code) == 400, "\(code) is not a 400")
        return APIError(code: code, message: message)
    }

    init(status: Int, code: String, message: String) {
        precondition((400..<600).contains(status), "an API error needs a 4xx or 5xx status")
        precondition(!code.isEmpty, "an API error needs a code")
        self.status = status
        self.code = code
        self.message = message
    }

    /// An error of ours: its status is `code`'s row in `ErrorCodes` (the one table).
    init(code: String, message: String) {
        self.init(status: ErrorCodes.status(ofOwn: code), code: code, message: message)
    }

    init(_ rejection: TxRejection) {
        self.init(status: rejection.httpStatus, code: rejection.code, message: rejection.message)
    }

    var json: JSON { ["error": ["code": .string(code), "message": .string(message)]] }

    var response: HTTPResponse { HTTPResponse.json(status: status, body: json.serialized()) }
}

extension HTTPResponse {
    static func json(_ value: JSON, status: Int = 200) -> HTTPResponse {
        HTTPResponse.json(status: status, body: value.serialized())
    }
}
