import Glibc

/// A small blocking HTTP/1.1 client for the CLI, tests, benchmarks and node-to-registry calls.
///
/// Promises: one keep-alive connection, reused across requests; if the server closed it while
/// idle, the client reconnects once, transparently, but only when nothing of the request was
/// written yet (so a request is never sent twice). Content-Length, chunked and read-to-EOF
/// bodies; responses over `maxResponseBytes` fail with `.responseTooLarge`. Every request is
/// bounded by its `timeout` (connect, write and read together).
///
/// Not `Sendable` and not locked: use one client per thread (the compiler enforces it).
public final class HTTPClient {
    /// Largest response head the client reads.
    public static let maxResponseHeadBytes = 64 * 1024
    /// Interim (1xx) responses skipped per request.
    static let maxInterimResponses = 8
    /// A request's timeout when its caller gives none (10 s: callers with a deadline of their own
    /// pass it; this only keeps a forgotten one from hanging).
    public static let defaultTimeout: Duration = .seconds(10)
    /// One `poll` waits at most a minute, then the deadline is checked again (the wait must fit
    /// poll's Int32 milliseconds whatever the timeout).
    static let maxPollSliceMs: UInt64 = 60_000

    public let address: SocketAddress
    public let maxResponseBytes: Int
    /// What the `Host` header says: the URL's authority (`localhost` for a Unix socket).
    public let hostHeader: String
    private var fd: Int32 = -1

    /// `baseURL` is `http://host:port` (a path part is ignored) or `unix:/path/to.sock`.
    public init(baseURL: String, maxResponseBytes: Int = 64 * 1024 * 1024) throws(HTTPClientError) {
        precondition(maxResponseBytes > 0)
        self.maxResponseBytes = maxResponseBytes
        if baseURL.hasPrefix("unix:") {
            do { address = try SocketAddress(parsing: baseURL) } catch { throw .invalidURL(baseURL) }
            hostHeader = "localhost"
            return
        }
        guard baseURL.hasPrefix("http://") else { throw .invalidURL(baseURL) }
        var authority = Substring(baseURL.dropFirst("http://".count))
        if let slash = authority.firstIndex(of: "/") { authority = authority[..<slash] }
        let withPort = authority.hasSuffix("]") || !authority.contains(":") ? "\(authority):80" : String(authority)
        do { address = try SocketAddress(parsing: withPort) } catch { throw .invalidURL(baseURL) }
        hostHeader = String(authority)
    }

    /// Talks HTTP over a Unix domain socket (e.g. `/var/run/docker.sock`).
    public convenience init(unixSocketPath: String, maxResponseBytes: Int = 64 * 1024 * 1024) throws(HTTPClientError) {
        try self.init(baseURL: "unix:" + unixSocketPath, maxResponseBytes: maxResponseBytes)
    }

    deinit { close() }

    /// Closes the kept-alive connection, if any.
    public func close() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }

    /// Sends one request and reads the whole response.
    public func request(method: String = "GET", path: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [],
                        timeout: Duration = HTTPClient.defaultTimeout) throws(HTTPClientError) -> HTTPClientResponse {
        if let problem = Self.problem(method: method, path: path, headers: headers) { throw .invalidRequest(problem) }
        let deadline = HTTPServerConnection.deadline(after: timeout)
        let bytes = Self.encodeRequest(method: method, path: path, host: hostHeader, headers: headers, body: body)
        do throws(HTTPClientError) {
            let sendFailure = try send(bytes, deadline: deadline)
            guard let sendFailure else { return try readResponse(isHEAD: method == "HEAD", deadline: deadline) }
            // The server answered before taking the whole request (413 to a large body, then it
            // closes): that answer is the response; without one, the write's error is.
            let early: HTTPClientResponse
            do throws(HTTPClientError) { early = try readResponse(isHEAD: method == "HEAD", deadline: deadline) } catch { throw sendFailure }
            close()  // the rest of the request was never sent: the connection cannot be reused
            return early
        } catch {
            close()  // the connection's state is unknown after any failure
            throw error
        }
    }

    /// Why a request cannot be written as given, or nil. Paths and header values may come from
    /// outside (a forwarded client request), so this is a thrown error, never a trap.
    static func problem(method: String, path: String, headers: HTTPHeaders) -> String? {
        guard !method.isEmpty, method.utf8.count <= HTTPHeadDecoder.maxMethodBytes, method.utf8.allSatisfy(HTTPHeadDecoder.isTokenByte) else {
            return "method '\(method.prefix(40))' is not an HTTP token"
        }
        guard path.hasPrefix("/"), path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return "path '\(path.prefix(100))' must start with / and hold only visible ASCII"
        }
        for field in headers {
            guard !field.name.isEmpty, field.name.utf8.allSatisfy(HTTPHeadDecoder.isTokenByte),
                  field.value.utf8.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                return "header '\(field.name.prefix(40))' has a character that cannot be sent"
            }
        }
        return nil
    }

    /// The bytes of one request as this client writes it; also used by `HTTPClientConnection`.
    /// `Host: host` unless `headers` has one; Content-Length for a body or a POST/PUT/PATCH.
    /// Throws `.invalidRequest` when the method, path or a header cannot be sent (`problem`).
    public static func encode(method: String, path: String, host: String, headers: HTTPHeaders,
                              body: [UInt8]) throws(HTTPClientError) -> [UInt8] {
        if let problem = problem(method: method, path: path, headers: headers) { throw .invalidRequest(problem) }
        return encodeRequest(method: method, path: path, host: host, headers: headers, body: body)
    }

    static func encodeRequest(method: String, path: String, host: String, headers: HTTPHeaders, body: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64 + method.utf8.count + path.utf8.count + headers.count * 48 + body.count)
        func line(_ parts: String...) {
            for part in parts { bytes.append(contentsOf: part.utf8) }
            bytes.append(contentsOf: [0x0D, 0x0A])
        }
        line(method, " ", path, " HTTP/1.1")
        if !headers.contains("Host") { line("Host: ", host) }
        for field in headers where !HTTPHeaders.equalsIgnoringCase(field.name, "Content-Length") {
            line(field.name, ": ", field.value)
        }
        if !body.isEmpty || ["POST", "PUT", "PATCH"].contains(method) { line("Content-Length: ", String(body.count)) }
        bytes.append(contentsOf: [0x0D, 0x0A])
        bytes.append(contentsOf: body)
        return bytes
    }

    // MARK: - Connection

    /// Writes the request. Returns nil when all of it was sent; an error when the server stopped
    /// taking it part-way (it answered early, or closed), in which case the caller looks for an
    /// early response first.
    private func send(_ bytes: [UInt8], deadline: UInt64) throws(HTTPClientError) -> HTTPClientError? {
        let reused = fd >= 0 && !idleConnectionWasClosed()
        if !reused { close(); try connect(deadline: deadline) }
        var written = 0
        while written < bytes.count {  // bound: the deadline
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + written, $0.count - written, Int32(MSG_NOSIGNAL)) }
            if n > 0 { written += n; continue }
            let code = errno
            if code == EAGAIN || code == EINTR {
                // The server may answer before it has read everything (413): stop writing then.
                let ready = try waitAny(Int16(POLLOUT) | Int16(POLLIN), deadline: deadline, what: "writing the request")
                if ready & Int16(POLLIN) != 0 && ready & Int16(POLLOUT) == 0 {
                    return .io(.system(call: "send", errno: EPIPE, address: address.description))
                }
                continue
            }
            if reused && written == 0 && (code == EPIPE || code == ECONNRESET) {
                close()
                try connect(deadline: deadline)
                return try send(bytes, deadline: deadline)  // once: the new connection is not `reused`
            }
            let failure = HTTPClientError.io(.system(call: "send", errno: code, address: address.description))
            if written > 0 && (code == EPIPE || code == ECONNRESET) { return failure }
            throw failure
        }
        return nil
    }

    /// True when a kept-alive connection was closed (or got unsolicited bytes) while idle.
    private func idleConnectionWasClosed() -> Bool {
        var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&probe, 1, 0) == 1 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT)) != -1 || errno != EAGAIN
    }

    private func connect(deadline: UInt64) throws(HTTPClientError) {
        let started: (fd: Int32, connected: Bool)
        do { started = try Socket.startConnect(to: address) } catch {
            if case .connectionRefused(let a) = error { throw .connectionRefused(a) }
            throw .io(error)
        }
        fd = started.fd
        Socket.setNoDelay(fd)
        if started.connected { return }
        try wait(for: Int16(POLLOUT), deadline: deadline, what: "connecting to \(address)")
        if let error = Socket.connectResult(fd, address: address) {
            close()
            if case .connectionRefused(let a) = error { throw .connectionRefused(a) }
            throw .io(error)
        }
    }

    /// Waits until one of `events` (or an error or hang-up) is reported; returns the reported events.
    private func waitAny(_ events: Int16, deadline: UInt64, what: String) throws(HTTPClientError) -> Int16 {
        while true {  // bound: the deadline; EINTR retries only
            let now = LinuxSyscalls.monotonicNanos()
            guard now < deadline else { throw .timeout(what) }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let millis = Int32(min((deadline - now + 999_999) / 1_000_000, HTTPClient.maxPollSliceMs))
            let rc = poll(&entry, 1, millis)
            if rc > 0 { return entry.revents }
            if rc < 0 && errno != EINTR { throw .io(.system(call: "poll", errno: errno, address: address.description)) }
        }
    }

    private func wait(for events: Int16, deadline: UInt64, what: String) throws(HTTPClientError) {
        _ = try waitAny(events, deadline: deadline, what: what)
    }

    // MARK: - Response

    private var inbound: [UInt8] = []

    /// Reads more bytes into `inbound`; returns false at EOF.
    private func fill(deadline: UInt64, what: String) throws(HTTPClientError) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {  // bound: the deadline
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { inbound.append(contentsOf: chunk[0..<n]); return true }
            if n == 0 { return false }
            let code = errno
            if code == EAGAIN || code == EINTR { try wait(for: Int16(POLLIN), deadline: deadline, what: what); continue }
            if code == ECONNRESET { return false }
            throw .io(.system(call: "recv", errno: code, address: address.description))
        }
    }

    private func readResponse(isHEAD: Bool, deadline: UInt64) throws(HTTPClientError) -> HTTPClientResponse {
        inbound.removeAll(keepingCapacity: true)
        for _ in 0...Self.maxInterimResponses {
            let (status, version, headers) = try readHead(deadline: deadline)
            if (100..<200).contains(status) && status != 101 { continue }
            let body = try readBody(status: status, headers: headers, isHEAD: isHEAD, deadline: deadline)
            let closeAfter = headers.hasToken("close", in: "Connection")
                || (version == "HTTP/1.0" && !headers.hasToken("keep-alive", in: "Connection"))
                || body.toEOF
            if closeAfter || !inbound.isEmpty { close() }
            return HTTPClientResponse(status: status, headers: headers, body: body.bytes)
        }
        throw .malformedResponse("more than \(Self.maxInterimResponses) interim responses")
    }

    private func readHead(deadline: UInt64) throws(HTTPClientError) -> (Int, String, HTTPHeaders) {
        let terminator: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]
        while true {  // bound: maxResponseHeadBytes and the deadline
            if let end = inbound.firstRange(of: terminator) {
                let head = try HTTPResponseHeadDecoder.decode(inbound[..<end.lowerBound])
                inbound.removeFirst(end.upperBound)
                return head
            }
            guard inbound.count <= Self.maxResponseHeadBytes else { throw .malformedResponse("response head too large") }
            guard try fill(deadline: deadline, what: "waiting for the response") else {
                throw .connectionClosed(inbound.isEmpty ? "before the response" : "inside the response head")
            }
        }
    }

    private func readBody(status: Int, headers: HTTPHeaders, isHEAD: Bool, deadline: UInt64) throws(HTTPClientError) -> (bytes: [UInt8], toEOF: Bool) {
        if isHEAD || HTTPResponse.forbidsBody(status) { return ([], false) }
        if headers.hasToken("chunked", in: "Transfer-Encoding") { return (try readChunked(deadline: deadline), false) }
        if let text = headers["Content-Length"] {
            guard let length = Int(text), length >= 0 else { throw .malformedResponse("bad Content-Length '\(text)'") }
            guard length <= maxResponseBytes else { throw .responseTooLarge(limitBytes: maxResponseBytes) }
            while inbound.count < length {
                guard try fill(deadline: deadline, what: "reading the body") else { throw .connectionClosed("inside the body") }
            }
            let body = Array(inbound[..<length])
            inbound.removeFirst(length)
            return (body, false)
        }
        while try fill(deadline: deadline, what: "reading the body") {
            guard inbound.count <= maxResponseBytes else { throw .responseTooLarge(limitBytes: maxResponseBytes) }
        }
        defer { inbound.removeAll() }
        return (inbound, true)
    }

    private func readChunked(deadline: UInt64) throws(HTTPClientError) -> [UInt8] {
        var decoder = HTTPChunkedDecoder(maxBodyBytes: maxResponseBytes, maxTrailerBytes: Self.maxResponseHeadBytes)
        var body: [UInt8] = []
        while true {  // bound: maxResponseBytes and the deadline
            let result = inbound.withUnsafeBytes { decoder.decode($0, into: &body) }
            switch result {
            case .done(let consumed): inbound.removeFirst(consumed); return body
            case .failure(.bodyTooLarge): throw .responseTooLarge(limitBytes: maxResponseBytes)
            case .failure(let error): throw .malformedResponse(error.message)
            case .needMore:
                inbound.removeAll(keepingCapacity: true)
                guard try fill(deadline: deadline, what: "reading the body") else { throw .connectionClosed("inside a chunked body") }
            }
        }
    }
}
