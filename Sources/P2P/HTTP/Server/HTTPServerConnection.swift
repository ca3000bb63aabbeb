/// One client connection of an `HTTPServer`: reads requests, hands them to the handler one at a
/// time, writes responses in order, and enforces the limits and deadlines of `HTTPServerSettings`.
/// Confined to its loop (every entry point runs there; `TCPConnection` checks it).
final class HTTPServerConnection {
    typealias Handler = @Sendable (HTTPRequest, HTTPResponder) -> Void

    private enum Phase {
        case head(started: Bool)
        case contentLength(HTTPRequestHead, remaining: Int, body: [UInt8])
        case chunked(HTTPRequestHead, HTTPChunkedDecoder, body: [UInt8])
        case awaitingResponse(sequence: UInt64, keepAlive: Bool, isHEAD: Bool, version: HTTPVersion)
        case closing
    }

    let tcp: TCPConnection
    private let settings: HTTPServerSettings
    private let handler: Handler
    private let budget: HTTPServerBudget
    /// Bytes of the server's body budget this connection holds for its current request.
    private var reservedBodyBytes = 0
    private var phase: Phase = .head(started: false)
    private var parser: HTTPRequestParser
    private var inbound: [UInt8] = []
    private var inboundStart = 0
    private var sequence: UInt64 = 0
    private var processing = false
    /// Answers given inline while `processInbound` runs, written with one `write` when it
    /// returns: pipelined requests answered in one pass leave in one send, not one each.
    private var outbox: [UInt8] = []
    private var bound: LoopBound<HTTPServerConnection>?
    /// Monotonic nanoseconds after which the current read phase has timed out.
    private(set) var readDeadlineNanos: UInt64?
    /// Monotonic nanoseconds after which unsent response bytes mean the client is too slow.
    private(set) var writeDeadlineNanos: UInt64?

    init(tcp: TCPConnection, settings: HTTPServerSettings, handler: @escaping Handler, budget: HTTPServerBudget) {
        self.tcp = tcp
        self.budget = budget
        self.settings = settings
        self.handler = handler
        self.parser = HTTPRequestParser(limits: settings.parserLimits)
        readDeadlineNanos = Self.deadline(after: settings.readHeaderTimeout)
    }

    /// Wires the TCP callbacks; `onClosed` runs once when the connection ends.
    func start(onClosed: @escaping () -> Void) {
        bound = LoopBound(self, eventLoop: tcp.eventLoop)
        tcp.onRead = { [unowned self] bytes in received(bytes) }
        tcp.onReadEOF = { [unowned self] in peerFinishedSending() }
        tcp.onWriteDrained = { [unowned self] in writeDeadlineNanos = nil }
        tcp.onClose = { [unowned self] _ in
            phase = .closing
            releaseBody()
            bound = nil  // responders still out hold their own reference; they find the phase closed
            onClosed()
        }
        tcp.start()
    }

    // MARK: - Input

    private func received(_ bytes: UnsafeRawBufferPointer) {
        inbound.append(contentsOf: bytes)
        if case .awaitingResponse = phase {
            if inbound.count - inboundStart > settings.maxPipelinedBytes { tcp.pauseReading() }
            return
        }
        processInbound()
    }

    private func peerFinishedSending() {
        // A half-close after pipelined requests still gets its answers; otherwise we are done.
        if case .awaitingResponse = phase { return }
        processInbound()
        if case .awaitingResponse = phase { return }
        if tcp.pendingWriteBytes > 0 { phase = .closing; tcp.closeAfterFlush() } else { tcp.close() }
    }

    /// Parses and dispatches buffered requests until one is in flight or more bytes are needed.
    /// Re-entrant calls (a handler answering synchronously) return at once; the outer loop continues.
    private func processInbound() {
        guard !processing else { return }
        processing = true
        defer {
            processing = false
            flushOutbox()
        }
        // Bound: each turn dispatches a request or returns; dispatched requests consume ≥ 1 byte.
        while tcp.isOpen {
            let available = inbound.count - inboundStart
            switch phase {
            case .head(let started):
                guard available > 0 else { return }
                if !started {
                    phase = .head(started: true)
                    readDeadlineNanos = Self.deadline(after: settings.readHeaderTimeout)
                }
                let result = inbound.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[inboundStart...])) }
                switch result {
                case .needMore: return
                case .failure(let error): fail(error); return
                case .head(let head, let consumed):
                    inboundStart += consumed
                    parser.reset()
                    beginBody(head)
                }
            case .contentLength(let head, let remaining, var body):
                guard available > 0 else { return }
                let take = min(remaining, available)
                body.append(contentsOf: inbound[inboundStart..<(inboundStart + take)])
                inboundStart += take
                if take == remaining { dispatch(head, body: body) } else {
                    phase = .contentLength(head, remaining: remaining - take, body: body)
                    return
                }
            case .chunked(let head, var decoder, var body):
                guard available > 0 else { return }
                let result = inbound.withUnsafeBytes { decoder.decode(UnsafeRawBufferPointer(rebasing: $0[inboundStart...]), into: &body) }
                guard reserveBody(upTo: body.count) else { return }
                switch result {
                case .needMore:
                    inboundStart = inbound.count
                    phase = .chunked(head, decoder, body: body)
                    return
                case .failure(let error): fail(error); return
                case .done(let consumed):
                    inboundStart += consumed
                    dispatch(head, body: body)
                }
            case .awaitingResponse, .closing:
                return
            }
        }
    }

    private func beginBody(_ head: HTTPRequestHead) {
        let limit = settings.maxBodyBytes(method: head.method, path: HTTPRequest.split(target: head.target).path)
        switch head.framing {
        case .none:
            dispatch(head, body: [])
        case .contentLength(let length):
            guard length <= limit else { fail(.bodyTooLarge(limitBytes: limit)); return }
            guard reserveBody(upTo: length) else { return }
            if head.expectsContinue && inbound.count == inboundStart { write(HTTPResponseEncoder.interimContinue) }
            readDeadlineNanos = Self.deadline(after: settings.readBodyTimeout)
            var body: [UInt8] = []
            body.reserveCapacity(length)
            phase = .contentLength(head, remaining: length, body: body)
        case .chunked:
            if head.expectsContinue && inbound.count == inboundStart { write(HTTPResponseEncoder.interimContinue) }
            readDeadlineNanos = Self.deadline(after: settings.readBodyTimeout)
            phase = .chunked(head, HTTPChunkedDecoder(maxBodyBytes: limit, maxTrailerBytes: settings.maxHeaderBytes), body: [])
        }
    }

    private func dispatch(_ head: HTTPRequestHead, body: [UInt8]) {
        guard let bound else { return }
        sequence += 1
        readDeadlineNanos = nil  // the handler may take as long as it needs (e.g. wait for a commit)
        phase = .awaitingResponse(sequence: sequence, keepAlive: head.keepAlive, isHEAD: head.method == "HEAD",
                                  version: head.version)
        compactInbound()
        let request = HTTPRequest(head: head, body: body, remoteAddress: tcp.remoteAddress)
        let responder = HTTPResponder(connection: bound, sequence: sequence, requestLine: "\(head.method) \(head.target)")
        handler(request, responder)
    }

    private func compactInbound() {
        if inboundStart == inbound.count {
            inbound.removeAll(keepingCapacity: inbound.capacity <= 64 * 1024)
            inboundStart = 0
        } else if inboundStart >= 16 * 1024 {
            inbound.removeFirst(inboundStart)
            inboundStart = 0
        }
    }

    // MARK: - Body budget

    /// Grows this request's share of the server's body budget to `bytes`; on refusal answers
    /// 503 `overloaded` and closes (the share is released on close).
    private func reserveBody(upTo bytes: Int) -> Bool {
        guard bytes > reservedBodyBytes else { return true }
        guard budget.reserveBody(bytes - reservedBodyBytes) else {
            fail(.overloaded("request bodies in flight exceed \(settings.maxBodyBytesInFlight) bytes"))
            return false
        }
        reservedBodyBytes = bytes
        return true
    }

    private func releaseBody() {
        budget.releaseBody(reservedBodyBytes)
        reservedBodyBytes = 0
    }

    // MARK: - Output

    /// Writes the response for request `sequence`; stale or post-close responses are dropped.
    func respond(_ response: HTTPResponse, sequence answered: UInt64) {
        guard case .awaitingResponse(let current, let keepAlive, let isHEAD, let version) = phase,
              current == answered, tcp.isOpen else { return }
        let staysOpen = keepAlive && !HTTPResponseEncoder.asksToClose(response) && !stopping
        releaseBody()
        let bytes = HTTPResponseEncoder.encode(response, requestVersion: version, keepAlive: staysOpen, isHEAD: isHEAD)
        if processing && staysOpen && outbox.count + bytes.count <= settings.maxPipelinedBytes {
            outbox.append(contentsOf: bytes)  // more pipelined requests may be answered in this pass
        } else {
            guard write(bytes) else { return }
        }
        guard staysOpen else {
            phase = .closing
            tcp.closeAfterFlush()
            return
        }
        phase = .head(started: false)
        readDeadlineNanos = Self.deadline(after: settings.idleTimeout)
        tcp.resumeReading()
        processInbound()
    }

    /// Writes `bytes` after any answers waiting in the outbox; false when the connection ended.
    @discardableResult
    private func write(_ bytes: [UInt8]) -> Bool {
        guard flushOutbox() else { return false }
        guard tcp.write(bytes) else { return false }
        if tcp.pendingWriteBytes > 0 { writeDeadlineNanos = Self.deadline(after: settings.writeTimeout) }
        return true
    }

    /// Writes the answers gathered in the outbox with one `write`; false when the connection ended.
    @discardableResult
    private func flushOutbox() -> Bool {
        guard !outbox.isEmpty else { return true }
        let bytes = outbox
        outbox = []
        guard tcp.isOpen, tcp.write(bytes) else { return false }
        if tcp.pendingWriteBytes > 0 { writeDeadlineNanos = Self.deadline(after: settings.writeTimeout) }
        return true
    }

    /// Answers a protocol error with the JSON error body and closes.
    private func fail(_ error: HTTPParseError) {
        let response = HTTPResponse.error(status: error.status, code: error.code, message: error.message)
        write(HTTPResponseEncoder.encode(response, requestVersion: .http1_1, keepAlive: false, isHEAD: false))
        phase = .closing
        readDeadlineNanos = nil
        writeDeadlineNanos = Self.deadline(after: settings.writeTimeout)
        tcp.closeAfterFlush()
    }

    // MARK: - Deadlines and shutdown

    private var stopping = false

    /// Called by the loop's sweep: enforces read, idle and write deadlines.
    func checkDeadlines(nowNanos: UInt64) {
        if let deadline = writeDeadlineNanos, nowNanos >= deadline, tcp.pendingWriteBytes > 0 {
            tcp.close()
            return
        }
        guard let deadline = readDeadlineNanos, nowNanos >= deadline else { return }
        switch phase {
        case .head(started: false):
            tcp.close()  // idle keep-alive connection, or a client that never sent a byte
        case .head(started: true), .contentLength, .chunked:
            fail(.requestTimeout)
        case .awaitingResponse, .closing:
            readDeadlineNanos = nil
        }
    }

    /// Server shutdown: idle connections close now; one with a request in flight closes after it.
    func beginStop() {
        stopping = true
        if case .awaitingResponse = phase { return }
        tcp.close()
    }

    static func deadline(after duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return LinuxSyscalls.monotonicNanos() &+ UInt64(max(0, seconds)) &* 1_000_000_000 &+ UInt64(max(0, attoseconds) / 1_000_000_000)
    }
}
