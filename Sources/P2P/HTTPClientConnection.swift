import Glibc

/// A non-blocking HTTP/1.1 client connection on one `EventLoop`: the event-loop counterpart of
/// `HTTPClient`, for a server that forwards requests without blocking a thread per request.
///
/// Promises:
/// - Everything (creation, `send`, `close`, callbacks) happens on the owning loop (checked).
/// - One request at a time; between requests the connection is kept alive unless the response
///   said `Connection: close`, was read to EOF, or extra bytes followed it.
/// - Each `send` completes exactly once: with the whole response (Content-Length, chunked or
///   read-to-EOF body) or an error — `.notSent` when no byte of the request was written (the
///   connection was already gone), `.connectionClosed`/`.timeout` when it may have been,
///   `.responseTooLarge` beyond `maxResponseBytes`, `.malformedResponse`.
/// - Bounded: the response head (`HTTPClient.maxResponseHeadBytes`), the body, interim responses,
///   and time: `checkDeadline` (called by the owner's sweep) fails a request past its deadline.
public final class HTTPClientConnection {
    private enum State { case connecting, idle, busy, closed }

    private enum Body {
        case length(Int)
        case chunked(HTTPChunkedDecoder)
        case toEOF
    }

    private struct Exchange {
        let isHEAD: Bool
        let deadlineNanos: UInt64
        let completion: (Result<HTTPClientResponse, HTTPClientError>) -> Void
        var head: (status: Int, version: String, headers: HTTPHeaders)?
        var body: Body?
        var decoded: [UInt8] = []
        var interim = 0
        var scannedBytes = 0
    }

    public let eventLoop: EventLoop
    public let address: SocketAddress
    public let maxResponseBytes: Int
    /// Requests sent on this connection so far.
    public private(set) var requestsSent = 0

    private var tcp: TCPConnection?
    private var state = State.connecting
    private var inbound: [UInt8] = []
    private var exchange: Exchange?
    /// True during the `write` of a request: a close then means none of it went out.
    private var writing = false

    private init(address: SocketAddress, eventLoop: EventLoop, maxResponseBytes: Int) {
        self.address = address
        self.eventLoop = eventLoop
        self.maxResponseBytes = maxResponseBytes
    }

    /// Connects to `address`; `completion` runs on the loop with the open connection or why not
    /// (`.connectionRefused`, `.timeout("connecting to ...")`, `.io(.system(call: "connect" ...))`).
    /// Returns the connection while it connects (nil when the connect failed at once), so the
    /// owner can close it.
    @discardableResult
    public static func connect(to address: SocketAddress, on eventLoop: EventLoop, maxResponseBytes: Int,
                               maxRequestBytes: Int, timeout: Duration,
                               completion: @escaping (Result<HTTPClientConnection, HTTPClientError>) -> Void) -> HTTPClientConnection? {
        eventLoop.preconditionInEventLoop()
        precondition(maxResponseBytes > 0 && maxRequestBytes > 0)
        let connection = HTTPClientConnection(address: address, eventLoop: eventLoop, maxResponseBytes: maxResponseBytes)
        var settings = TCPConnection.Settings()
        settings.maxWriteQueueBytes = maxRequestBytes
        let tcp = TCPConnection.connect(to: address, on: eventLoop, settings: settings, timeout: timeout) { result in
            switch result {
            case .success(let tcp):
                connection.opened(tcp)
                completion(.success(connection))
            case .failure(let error):
                connection.state = .closed
                connection.tcp = nil
                completion(.failure(Self.connectFailure(error, address: address)))
            }
        }
        guard connection.state != .closed else { return nil }
        if connection.tcp == nil { connection.tcp = tcp }
        return connection
    }

    static func connectFailure(_ error: SocketError, address: SocketAddress) -> HTTPClientError {
        switch error {
        case .connectionRefused(let a): return .connectionRefused(a)
        case .timedOut: return .timeout("connecting to \(address)")
        default: return .io(error)
        }
    }

    /// True when a request can be sent now.
    public var isIdle: Bool { eventLoop.preconditionInEventLoop(); return state == .idle }

    /// True once the connection has ended (it can never be used again).
    public var isClosed: Bool { eventLoop.preconditionInEventLoop(); return state == .closed }

    /// Sends `request` (bytes from `HTTPClient.encode`) and reads the response. Call when idle.
    public func send(_ request: [UInt8], isHEAD: Bool, deadlineNanos: UInt64,
                     completion: @escaping (Result<HTTPClientResponse, HTTPClientError>) -> Void) {
        eventLoop.preconditionInEventLoop()
        precondition(state == .idle && exchange == nil, "HTTPClientConnection.send while not idle")
        guard let tcp, tcp.isOpen else {
            close()
            completion(.failure(.notSent("the kept-alive connection to \(address) had closed")))
            return
        }
        state = .busy
        requestsSent += 1
        exchange = Exchange(isHEAD: isHEAD, deadlineNanos: deadlineNanos, completion: completion)
        inbound.removeAll(keepingCapacity: true)
        writing = true
        let queued = tcp.write(request)
        writing = false
        if !queued, state == .busy { fail(.connectionClosed("while sending the request")) }
    }

    /// Fails the request in progress when its deadline has passed (the connection is closed).
    public func checkDeadline(nowNanos: UInt64) {
        eventLoop.preconditionInEventLoop()
        guard state == .busy, let exchange, nowNanos >= exchange.deadlineNanos else { return }
        fail(.timeout(exchange.head == nil ? "waiting for the response" : "reading the body"))
    }

    /// Closes the connection; a request in progress fails with `.connectionClosed`.
    public func close() {
        eventLoop.preconditionInEventLoop()
        guard state != .closed else { return }
        if exchange != nil { fail(.connectionClosed("closed by this side")); return }
        state = .closed
        let tcp = self.tcp
        self.tcp = nil
        tcp?.close()
    }

    // MARK: - Events

    private func opened(_ tcp: TCPConnection) {
        self.tcp = tcp
        state = .idle
        // A cycle through the callbacks until the connection ends, when TCPConnection drops them.
        tcp.onRead = { bytes in self.received(bytes) }
        tcp.onClose = { _ in self.peerGone() }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        guard state == .busy else { close(); return }  // bytes nobody asked for: not reusable
        inbound.append(contentsOf: bytes)
        parse()
    }

    private func peerGone() {
        tcp = nil
        guard state != .closed else { return }
        if var current = exchange, current.head != nil, case .toEOF = current.body {
            current.decoded.append(contentsOf: inbound)
            guard current.decoded.count <= maxResponseBytes else { fail(.responseTooLarge(limitBytes: maxResponseBytes)); return }
            finish(.success(HTTPClientResponse(status: current.head!.status, headers: current.head!.headers, body: current.decoded)), keepAlive: false)
            return
        }
        if writing {
            // The first send of the request failed: the peer had closed the kept-alive connection.
            fail(.notSent("\(address) had closed the kept-alive connection"))
            return
        }
        if let current = exchange {
            fail(.connectionClosed(current.head == nil ? (inbound.isEmpty ? "before the response" : "inside the response head") : "inside the body"))
            return
        }
        state = .closed
    }

    /// Advances the exchange over `inbound` as far as the bytes allow.
    private func parse() {
        while state == .busy, var current = exchange {  // bound: each turn consumes bytes or returns
            if current.head == nil {
                guard let end = Self.headEnd(in: inbound, from: max(0, current.scannedBytes - 3)) else {
                    guard inbound.count <= HTTPClient.maxResponseHeadBytes else { fail(.malformedResponse("response head too large")); return }
                    current.scannedBytes = inbound.count
                    exchange = current
                    return
                }
                let head: (status: Int, version: String, headers: HTTPHeaders)
                do throws(HTTPClientError) { head = try HTTPResponseHeadDecoder.decode(inbound[..<end.lowerBound]) } catch { fail(error); return }
                inbound.removeFirst(end.upperBound)
                current.scannedBytes = 0
                if (100..<200).contains(head.status) && head.status != 101 {
                    current.interim += 1
                    guard current.interim <= HTTPClient.maxInterimResponses else { fail(.malformedResponse("too many interim responses")); return }
                    exchange = current
                    continue
                }
                current.head = head
                do throws(HTTPClientError) { current.body = try bodyMode(head.status, head.headers, isHEAD: current.isHEAD) } catch { fail(error); return }
                exchange = current
            }
            readBody()
            return
        }
    }

    /// The range of the first CRLFCRLF at or after `from`: a plain byte scan (the generic
    /// `firstRange(of:)` costs more than the rest of a small response's handling).
    static func headEnd(in bytes: [UInt8], from: Int) -> Range<Int>? {
        bytes.withUnsafeBufferPointer { buffer -> Range<Int>? in
            var i = from
            while i + 3 < buffer.count {  // bound: the buffer
                if buffer[i + 3] != 0x0A { i += buffer[i + 3] == 0x0D ? 1 : 4; continue }
                if buffer[i] == 0x0D && buffer[i + 1] == 0x0A && buffer[i + 2] == 0x0D { return i..<(i + 4) }
                i += 1
            }
            return nil
        }
    }

    private func bodyMode(_ status: Int, _ headers: HTTPHeaders, isHEAD: Bool) throws(HTTPClientError) -> Body {
        if isHEAD || HTTPResponse.forbidsBody(status) { return .length(0) }
        if headers.hasToken("chunked", in: "Transfer-Encoding") {
            return .chunked(HTTPChunkedDecoder(maxBodyBytes: maxResponseBytes, maxTrailerBytes: HTTPClient.maxResponseHeadBytes))
        }
        if let text = headers["Content-Length"] {
            guard let length = Int(text), length >= 0 else { throw .malformedResponse("bad Content-Length '\(text.prefix(40))'") }
            guard length <= maxResponseBytes else { throw .responseTooLarge(limitBytes: maxResponseBytes) }
            return .length(length)
        }
        return .toEOF
    }

    private func readBody() {
        guard var current = exchange, let head = current.head, let body = current.body else { return }
        switch body {
        case .length(let length):
            guard inbound.count >= length else { return }
            let bytes = Array(inbound[..<length])
            inbound.removeFirst(length)
            finish(.success(HTTPClientResponse(status: head.status, headers: head.headers, body: bytes)), keepAlive: keepsAlive(head))
        case .chunked(var decoder):
            let result = inbound.withUnsafeBytes { decoder.decode($0, into: &current.decoded) }
            switch result {
            case .done(let consumed):
                inbound.removeFirst(consumed)
                exchange = current
                finish(.success(HTTPClientResponse(status: head.status, headers: head.headers, body: current.decoded)), keepAlive: keepsAlive(head))
            case .failure(.bodyTooLarge): fail(.responseTooLarge(limitBytes: maxResponseBytes))
            case .failure(let error): fail(.malformedResponse(error.message))
            case .needMore:
                inbound.removeAll(keepingCapacity: true)
                current.body = .chunked(decoder)
                exchange = current
            }
        case .toEOF:
            guard current.decoded.count + inbound.count <= maxResponseBytes else { fail(.responseTooLarge(limitBytes: maxResponseBytes)); return }
            current.decoded.append(contentsOf: inbound)
            inbound.removeAll(keepingCapacity: true)
            exchange = current
        }
    }

    private func keepsAlive(_ head: (status: Int, version: String, headers: HTTPHeaders)) -> Bool {
        !head.headers.hasToken("close", in: "Connection")
            && (head.version != "HTTP/1.0" || head.headers.hasToken("keep-alive", in: "Connection"))
            && inbound.isEmpty
    }

    private func finish(_ result: Result<HTTPClientResponse, HTTPClientError>, keepAlive: Bool) {
        guard let current = exchange else { return }
        exchange = nil
        if keepAlive, tcp != nil {
            state = .idle
        } else {
            state = .closed
            let tcp = self.tcp
            self.tcp = nil
            tcp?.close()
        }
        current.completion(result)
    }

    private func fail(_ error: HTTPClientError) {
        finish(.failure(error), keepAlive: false)
    }
}
