/// Serializes an `HTTPResponse` into the bytes of one HTTP/1.1 response, owning the framing
/// headers (Content-Length, Connection) so a handler cannot get them wrong.
enum HTTPResponseEncoder {
    static let interimContinue: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    static func encode(_ response: HTTPResponse, requestVersion: HTTPVersion, keepAlive: Bool, isHEAD: Bool) -> [UInt8] {
        let noBody = HTTPResponse.forbidsBody(response.status)
        var out: [UInt8] = []
        out.reserveCapacity(128 + response.headers.count * 32 + (isHEAD || noBody ? 0 : response.body.count))
        append("HTTP/1.1 \(response.status) \(response.reasonPhrase)\r\n", to: &out)
        for field in response.headers {
            if HTTPHeaders.equalsIgnoringCase(field.name, "Content-Length")
                || HTTPHeaders.equalsIgnoringCase(field.name, "Connection")
                || HTTPHeaders.equalsIgnoringCase(field.name, "Transfer-Encoding") { continue }
            guard !field.name.isEmpty, field.name.utf8.allSatisfy(HTTPHeadDecoder.isTokenByte) else { continue }
            append(field.name, to: &out)
            out.append(contentsOf: [UInt8(ascii: ":"), 0x20])
            // A CR or LF in a value would split the response (header injection): replace it.
            out.append(contentsOf: field.value.utf8.map { $0 == 0x0D || $0 == 0x0A ? 0x20 : $0 })
            out.append(contentsOf: [0x0D, 0x0A])
        }
        if !noBody { append("Content-Length: \(response.body.count)\r\n", to: &out) }
        if !keepAlive {
            append("Connection: close\r\n", to: &out)
        } else if requestVersion == .http1_0 {
            append("Connection: keep-alive\r\n", to: &out)
        }
        out.append(contentsOf: [0x0D, 0x0A])
        if !isHEAD && !noBody { out.append(contentsOf: response.body) }
        return out
    }

    /// True when the handler asked for the connection to close after this response.
    static func asksToClose(_ response: HTTPResponse) -> Bool {
        response.headers.hasToken("close", in: "Connection")
    }

    private static func append(_ text: String, to out: inout [UInt8]) {
        out.append(contentsOf: text.utf8)
    }
}
