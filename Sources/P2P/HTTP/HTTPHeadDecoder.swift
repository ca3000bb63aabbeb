/// Turns a complete, bounded request head (found by `HTTPRequestParser`) into an
/// `HTTPRequestHead`, validating syntax and deciding body framing and keep-alive (RFC 9112).
enum HTTPHeadDecoder {
    /// Longest method we accept; real methods are short.
    static let maxMethodBytes = 32
    /// Longest Content-Length value in digits (keeps the integer far from overflow).
    static let maxContentLengthDigits = 18

    static func decode(_ buffer: UnsafeRawBufferPointer, requestLine: Range<Int>, headers: Range<Int>,
                       consumed: Int) -> HTTPRequestParser.Result {
        let line = trimCR(buffer, requestLine)
        let parts = buffer[line].split(separator: 0x20, maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(.badRequest("request line must be 'METHOD target HTTP/x.y'")) }
        guard !parts[0].isEmpty, parts[0].count <= maxMethodBytes, parts[0].allSatisfy(isTokenByte) else {
            return .failure(.badRequest("invalid method"))
        }
        guard !parts[1].isEmpty, parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(.badRequest("invalid request target"))
        }
        let versionText = String(decoding: parts[2], as: UTF8.self)
        let version: HTTPVersion
        switch decodeVersion(versionText) {
        case .success(let v): version = v
        case .failure(let error): return .failure(error)
        }
        var fields = HTTPHeaders()
        var cursor = headers.lowerBound
        while cursor < headers.upperBound {  // bound: the header range was size-checked by the parser
            guard let newline = buffer[cursor..<headers.upperBound].firstIndex(of: 0x0A) else { break }
            let range = trimCR(buffer, cursor..<newline)
            cursor = newline + 1
            if let error = decodeField(buffer, range, into: &fields) { return .failure(error) }
        }
        let method = String(decoding: parts[0], as: UTF8.self)
        let target = String(decoding: parts[1], as: UTF8.self)
        return semantics(method: method, target: target, version: version, headers: fields, consumed: consumed)
    }

    private static func decodeVersion(_ text: String) -> Result<HTTPVersion, HTTPParseError> {
        if let version = HTTPVersion(rawValue: text) { return .success(version) }
        let bytes = Array(text.utf8)
        if bytes.count == 8, text.hasPrefix("HTTP/"), isDigit(bytes[5]), bytes[6] == UInt8(ascii: "."), isDigit(bytes[7]) {
            return .failure(.versionNotSupported(text))
        }
        return .failure(.badRequest("invalid HTTP version"))
    }

    private static func decodeField(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>,
                                    into fields: inout HTTPHeaders) -> HTTPParseError? {
        guard let first = range.first.map({ buffer[$0] }) else { return .badRequest("empty header line") }
        if first == 0x20 || first == 0x09 { return .badRequest("obsolete header line folding") }
        guard let colon = buffer[range].firstIndex(of: UInt8(ascii: ":")) else {
            return .badRequest("header line without ':'")
        }
        let name = buffer[range.lowerBound..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else { return .badRequest("invalid header name") }
        var value = buffer[(colon + 1)..<range.upperBound]
        while let b = value.first, b == 0x20 || b == 0x09 { value = value.dropFirst() }
        while let b = value.last, b == 0x20 || b == 0x09 { value = value.dropLast() }
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            return .badRequest("control character in header value")
        }
        fields.add(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        return nil
    }

    private static func semantics(method: String, target: String, version: HTTPVersion, headers: HTTPHeaders,
                                  consumed: Int) -> HTTPRequestParser.Result {
        if version == .http1_1 {
            let hosts = headers.values("Host")
            if hosts.count != 1 { return .failure(.badRequest("HTTP/1.1 needs exactly one Host header")) }
        }
        let framing: HTTPBodyFraming
        switch decideFraming(version: version, headers: headers) {
        case .success(let f): framing = f
        case .failure(let error): return .failure(error)
        }
        let keepAlive = version == .http1_1
            ? !headers.hasToken("close", in: "Connection")
            : headers.hasToken("keep-alive", in: "Connection")
        let expects = version == .http1_1 && headers["Expect"].map { HTTPHeaders.equalsIgnoringCase($0, "100-continue") } == true
        let head = HTTPRequestHead(method: method, target: target, version: version, headers: headers,
                                   keepAlive: keepAlive, framing: framing, expectsContinue: expects)
        return .head(head, consumed: consumed)
    }

    private static func decideFraming(version: HTTPVersion, headers: HTTPHeaders) -> Result<HTTPBodyFraming, HTTPParseError> {
        let codings = headers.values("Transfer-Encoding")
        let lengths = headers.values("Content-Length")
        if !codings.isEmpty {
            if !lengths.isEmpty { return .failure(.badRequest("both Content-Length and Transfer-Encoding")) }
            if version == .http1_0 { return .failure(.badRequest("Transfer-Encoding in an HTTP/1.0 request")) }
            let tokens = codings.flatMap { $0.split(separator: ",").map { String($0.trimmingASCIISpaces()) } }
            let chunked = tokens.filter { HTTPHeaders.equalsIgnoringCase($0, "chunked") }.count
            if tokens.count == 1 && chunked == 1 { return .success(.chunked) }
            if chunked > 0 && !HTTPHeaders.equalsIgnoringCase(tokens.last ?? "", "chunked") {
                return .failure(.badRequest("chunked must be the final transfer coding"))
            }
            if chunked > 1 { return .failure(.badRequest("chunked applied twice")) }
            return .failure(.notImplemented("Transfer-Encoding '\(codings.joined(separator: ", "))'"))
        }
        guard !lengths.isEmpty else { return .success(.none) }
        var decided: Int?
        for text in lengths.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false) }) {
            let digits = text.trimmingASCIISpaces()
            guard !digits.isEmpty, digits.count <= maxContentLengthDigits, digits.utf8.allSatisfy(isDigit),
                  let value = Int(digits) else {
                return .failure(.badRequest("invalid Content-Length"))
            }
            if let decided, decided != value { return .failure(.badRequest("conflicting Content-Length values")) }
            decided = value
        }
        return .success(decided == 0 ? .none : .contentLength(decided!))
    }

    private static func trimCR(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) -> Range<Int> {
        if let last = range.last, buffer[last] == 0x0D { return range.lowerBound..<last }
        return range
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// RFC 9110 `tchar`.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }
}
