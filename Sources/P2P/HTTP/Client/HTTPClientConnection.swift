import Glibc

/// A non-blocking HTTP/1.1 client connection on one `EventLoop`: the event-loop counterpart of
/// `HTTPClient`, for a server that forwards requests without blocking a thread per request.
///
/// Promises:
/// - Everything (creation, `send`, `close`, callbacks) happens on the owning loop (checked).
/// - `send` writes one request at once; `pipeline` queues requests behind each other (HTTP/1.1
///   pipelining) and writes all those queued in one loop turn with one `write` at the end of the
///   turn; the answers are split and handed out in request order. Between requests the
///   connection is kept alive unless a response said `Connection: close`, was read to EOF, or
///   extra bytes followed the last one expected.
/// - Each request completes exactly once: with the whole response (Content-Length, chunked or
///   read-to-EOF body) or an error — `.notSent` when no byte of it was written (the connection
///   was already gone), `.connectionClosed`/`.timeout` when it may have been,
///   `.responseTooLarge` beyond `maxResponseBytes`, `.malformedResponse`. When the connection
///   ends with requests still queued behind the one being answered, each of those fails with
///   `.connectionClosed` (written) or `.notSent` (not yet written).
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
        /// Whether the request's bytes were handed to the socket (a close then may have hit it).
        var written = false
    }

    public let eventLoop: EventLoop
    public let address: SocketAddress
    public let maxResponseBytes: Int
    /// Requests sent on this connection so far.
    public private(set) var requestsSent = 0

    private var tcp: TCPConnection?
    private var state = State.connecting
    private var inbound: [UInt8] = []
    /// The request whose answer is being read.
    private var exchange: Exchange?
    /// Pipelined requests after `exchange`, in the order they were sent.
    private var behind: [Exchange] = []
    /// Pipelined requests of this turn, written at its end (`flushPipeline`).
    private var unsent: [UInt8] = []

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

    /// True when a request can be pipelined now (the connection is open, idle or answering).
    public var canPipeline: Bool {
        eventLoop.preconditionInEventLoop()
        return (state == .idle || state == .busy) && tcp?.isOpen == true
    }

    /// True while pipelined requests of this turn wait for its end to be written.
    public var hasUnsentRequests: Bool { eventLoop.preconditionInEventLoop(); return !unsent.isEmpty }

    /// Requests sent or queued whose answers have not been handed out yet.
    public var requestsInFlight: Int {
        eventLoop.preconditionInEventLoop()
        return (exchange == nil ? 0 : 1) + behind.count
    }

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
        let queued = tcp.write(request)  // a close during it finds `written` false: none went out
        guard state == .busy else { return }
        exchange?.written = true
        if !queued { fail(.connectionClosed("while sending the request")) }
    }

    /// Queues `request` (bytes from `HTTPClient.encode`) behind those sent before; it is written
    /// with the other requests of this loop turn at the turn's end, and its answer is the one
    /// after theirs. Call when `canPipeline`. Only for requests that may be answered late and
    /// repeated (reads): one queued behind a slow answer waits for it, and one the node may have
    /// received when the connection ends fails `.connectionClosed`.
    public func pipeline(_ request: [UInt8], isHEAD: Bool, deadlineNanos: UInt64,
                         completion: @escaping (Result<HTTPClientResponse, HTTPClientError>) -> Void) {
        eventLoop.preconditionInEventLoop()
        precondition(state == .idle || state == .busy, "HTTPClientConnection.pipeline on a connection not open")
        guard let tcp, tcp.isOpen else {
            completion(.failure(.notSent("the kept-alive connection to \(address) had closed")))
            close()
            return
        }
        requestsSent += 1
        let queued = Exchange(isHEAD: isHEAD, deadlineNanos: deadlineNanos, completion: completion)
        if state == .idle {
            state = .busy
            exchange = queued
            inbound.removeAll(keepingCapacity: true)
        } else {
            behind.append(queued)
        }
        if unsent.isEmpty { eventLoop.atEndOfTurn { self.flushPipeline() } }
        unsent.append(contentsOf: request)
    }

    /// Writes the requests pipelined in this turn with one `write`.
    private func flushPipeline() {
        guard !unsent.isEmpty, state == .busy, let tcp else { unsent = []; return }
        let bytes = unsent
        unsent = []
        let queued = tcp.write(bytes)  // a close during it finds them unwritten: none went out
        guard state == .busy else { return }
        exchange?.written = true
        for index in behind.indices { behind[index].written = true }
        if !queued { fail(.connectionClosed("while sending the request")) }
    }

    /// Fails the requests in progress when one's deadline has passed (the connection is closed).
    public func checkDeadline(nowNanos: UInt64) {
        eventLoop.preconditionInEventLoop()
        guard state == .busy, let exchange else { return }
        if nowNanos >= exchange.deadlineNanos {
            fail(.timeout(exchange.head == nil ? "waiting for the response" : "reading the body"))
        } else if behind.contains(where: { nowNanos >= $0.deadlineNanos }) {
            fail(.timeout("waiting for the response"), behind: .timeout("waiting for the answers to the requests before it"))
        }
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
        if let current = exchange, !current.written {
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
            guard readBody() else { return }  // answered: the next pipelined answer may follow
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

    /// Reads the current answer's body from `inbound`; true when the answer was handed out.
    private func readBody() -> Bool {
        guard var current = exchange, let head = current.head, let body = current.body else { return false }
        switch body {
        case .length(let length):
            guard inbound.count >= length else { return false }
            let bytes = Array(inbound[..<length])
            inbound.removeFirst(length)
            finish(.success(HTTPClientResponse(status: head.status, headers: head.headers, body: bytes)), keepAlive: keepsAlive(head))
            return true
        case .chunked(var decoder):
            let result = inbound.withUnsafeBytes { decoder.decode($0, into: &current.decoded) }
            switch result {
            case .done(let consumed):
                inbound.removeFirst(consumed)
                exchange = current
                finish(.success(HTTPClientResponse(status: head.status, headers: head.headers, body: current.decoded)), keepAlive: keepsAlive(head))
                return true
            case .failure(.bodyTooLarge): fail(.responseTooLarge(limitBytes: maxResponseBytes))
            case .failure(let error): fail(.malformedResponse(error.message))
            case .needMore:
                inbound.removeAll(keepingCapacity: true)
                current.body = .chunked(decoder)
                exchange = current
            }
            return false
        case .toEOF:
            guard current.decoded.count + inbound.count <= maxResponseBytes else { fail(.responseTooLarge(limitBytes: maxResponseBytes)); return false }
            current.decoded.append(contentsOf: inbound)
            inbound.removeAll(keepingCapacity: true)
            exchange = current
            return false
        }
    }

    /// Whether the connection may carry more after this answer; bytes after it belong to the
    /// next pipelined answer, or, with none expected, make the connection unusable.
    private func keepsAlive(_ head: (status: Int, version: String, headers: HTTPHeaders)) -> Bool {
        !head.headers.hasToken("close", in: "Connection")
            && (head.version != "HTTP/1.0" || head.headers.hasToken("keep-alive", in: "Connection"))
            && (inbound.isEmpty || !behind.isEmpty)
    }

    /// Hands out the current answer; the next pipelined request becomes current, or, when the
    /// connection ends here, every request behind fails (`.notSent` if it was never written).
    private func finish(_ result: Result<HTTPClientResponse, HTTPClientError>, keepAlive: Bool,
                        behind behindError: HTTPClientError = .connectionClosed("before the answer to a pipelined request (the connection ended at an earlier one)")) {
        guard let current = exchange else { return }
        exchange = nil
        var abandoned: [Exchange] = []
        if keepAlive, tcp != nil {
            if behind.isEmpty {
                state = .idle
            } else {
                exchange = behind.removeFirst()
            }
        } else {
            abandoned = behind
            behind = []
            unsent = []
            state = .closed
            let tcp = self.tcp
            self.tcp = nil
            tcp?.close()
        }
        current.completion(result)
        for queued in abandoned {
            queued.completion(.failure(queued.written ? behindError : .notSent("the connection to \(address) ended before this pipelined request was written")))
        }
    }

    private func fail(_ error: HTTPClientError, behind behindError: HTTPClientError? = nil) {
        if let behindError { finish(.failure(error), keepAlive: false, behind: behindError) } else { finish(.failure(error), keepAlive: false) }
    }
}
