import Glibc

/// A non-blocking stream connection (TCP or Unix) confined to one `EventLoop`.
///
/// Promises:
/// - Every method and callback runs on the owning loop (checked at runtime).
/// - `onRead` gets the bytes of each read; the buffer is valid only during the call.
/// - Writes go out in order. Unsent bytes wait in a queue of at most `maxWriteQueueBytes`;
///   a write that would exceed it closes the connection with `.writeQueueOverflow` (a peer that
///   cannot keep up is dropped, not buffered without end). EPOLLOUT is watched only while bytes wait.
/// - `onClose` is called exactly once, after which the fd is closed and callbacks are released.
/// - Writes use MSG_NOSIGNAL: a vanished peer never raises SIGPIPE.
public final class TCPConnection {
    /// Why a connection ended.
    public enum CloseReason: Sendable, Equatable {
        case closedLocally
        case peerClosed
        case writeQueueOverflow
        case failed(SocketError)
    }

    /// Limits for one connection.
    public struct Settings: Sendable {
        /// Unsent bytes a connection may hold before it is dropped. Default 4 MiB.
        public var maxWriteQueueBytes = 4 * 1024 * 1024
        /// `read(2)` calls per readiness event before yielding to other connections. Default 4.
        public var maxReadsPerEvent = 4
        /// Bytes discarded while waiting for the peer to close after our last write. Default 256 KiB.
        public var maxLingerBytes = 256 * 1024
        /// How long a lingering close waits for the peer. Default 2 s.
        public var lingerTimeout: Duration = .seconds(2)
        public init() {}
    }

    private enum State { case connecting, open, lingering, closed }

    public let eventLoop: EventLoop
    public let remoteAddress: SocketAddress?
    public let settings: Settings
    private let fd: Int32
    private var state: State
    private var registration: EventLoop.Registration?
    private var interest: EventLoop.IOEvents = []
    private var readingPaused = false
    private var writeQueue: [[UInt8]] = []
    private var writeQueueHead = 0
    private var firstChunkOffset = 0
    private var lingerBytes = 0
    private var closeWhenFlushed = false

    /// The bytes of one read; valid only during the call.
    public var onRead: ((UnsafeRawBufferPointer) -> Void)?
    /// The peer finished sending (read returned 0). If nil the connection closes; otherwise reading
    /// stops and the owner decides (e.g. answer what was already received, then close).
    public var onReadEOF: (() -> Void)?
    /// The write queue became empty.
    public var onWriteDrained: (() -> Void)?
    /// Called once when the connection ends.
    public var onClose: ((CloseReason) -> Void)?

    /// Bytes written but not yet accepted by the kernel.
    public private(set) var pendingWriteBytes = 0
    /// True until the connection is closed (lingering counts as closed for writing).
    public var isOpen: Bool { eventLoop.preconditionInEventLoop(); return state == .open }

    /// Adopts an accepted, non-blocking `fd`. Call `start()` to begin reading.
    public init(adopting fd: Int32, remoteAddress: SocketAddress?, on eventLoop: EventLoop, settings: Settings = Settings()) {
        eventLoop.preconditionInEventLoop()
        precondition(fd >= 0)
        self.fd = fd
        self.eventLoop = eventLoop
        self.remoteAddress = remoteAddress
        self.settings = settings
        self.state = .open
    }

    private init(connectingFD fd: Int32, to address: SocketAddress, on eventLoop: EventLoop, settings: Settings) {
        self.fd = fd
        self.eventLoop = eventLoop
        self.remoteAddress = address
        self.settings = settings
        self.state = .connecting
    }

    deinit {
        precondition(state == .closed || registration == nil, "TCPConnection released while open: call close()")
    }

    /// Registers with the loop and starts reading. Closes the fd if registration fails.
    /// From here until it closes, the loop keeps the connection alive (its handler holds it).
    public func start() {
        eventLoop.preconditionInEventLoop()
        precondition(state == .open && registration == nil, "start() once, on an open connection")
        Socket.setNoDelay(fd)
        do {
            registration = try eventLoop.register(fd: fd, interest: [.readable]) { [self] in self.handle($0) }
            interest = [.readable]
        } catch {
            finish(.failed(error))
        }
    }

    /// Opens an outbound connection without blocking the loop; `completion` runs on the loop with
    /// a started connection or the error (`connectionRefused`, `timedOut`, ...). Returns the
    /// connection while it connects (nil when the connect failed at once), so its owner can
    /// `close()` it before it is established; `completion` then gets the failure.
    @discardableResult
    public static func connect(to address: SocketAddress, on eventLoop: EventLoop, settings: Settings = Settings(),
                               timeout: Duration, completion: @escaping (Result<TCPConnection, SocketError>) -> Void) -> TCPConnection? {
        eventLoop.preconditionInEventLoop()
        let started: (fd: Int32, connected: Bool)
        do { started = try Socket.startConnect(to: address) } catch { completion(.failure(error)); return nil }
        let connection = TCPConnection(connectingFD: started.fd, to: address, on: eventLoop, settings: settings)
        connection.awaitConnect(address: address, alreadyConnected: started.connected, timeout: timeout, completion: completion)
        return connection
    }

    private func awaitConnect(address: SocketAddress, alreadyConnected: Bool, timeout: Duration,
                              completion: @escaping (Result<TCPConnection, SocketError>) -> Void) {
        connectCompletion = completion
        let initial: EventLoop.IOEvents = alreadyConnected ? [.readable] : [.writable]
        do {
            registration = try eventLoop.register(fd: fd, interest: initial) { [self] in self.handle($0) }
            interest = initial
        } catch {
            finish(.failed(error))
            return
        }
        if alreadyConnected {
            connected()
            return
        }
        let bound = LoopBound(self, eventLoop: eventLoop)
        eventLoop.schedule(after: timeout) {
            let connection = bound.value
            guard connection.state == .connecting else { return }
            connection.finish(.failed(.timedOut("connect to \(address)")))
        }
    }

    private var connectCompletion: ((Result<TCPConnection, SocketError>) -> Void)?

    private func connected() {
        state = .open
        Socket.setNoDelay(fd)
        setInterest(readingPaused ? [] : [.readable])
        let completion = connectCompletion
        connectCompletion = nil
        completion?(.success(self))
    }

    /// Queues `bytes` for sending. Returns false if the connection is closed or just overflowed.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        eventLoop.preconditionInEventLoop()
        guard state == .open, !closeWhenFlushed else { return false }
        if bytes.isEmpty { return true }
        if pendingWriteBytes == 0 {
            let sent = sendNow(bytes, from: 0)
            if sent < 0 { return false }
            if sent == bytes.count { return true }
            enqueue(Array(bytes[sent...]))
        } else {
            enqueue(bytes)
        }
        if pendingWriteBytes > settings.maxWriteQueueBytes {
            finish(.writeQueueOverflow)
            return false
        }
        setInterest(interest.union(.writable))
        return true
    }

    /// Stops watching for input (back-pressure); bytes stay in the kernel buffer.
    public func pauseReading() {
        eventLoop.preconditionInEventLoop()
        readingPaused = true
        if state == .open { setInterest(interest.subtracting(.readable)) }
    }

    /// Resumes watching for input after `pauseReading()`.
    public func resumeReading() {
        eventLoop.preconditionInEventLoop()
        readingPaused = false
        if state == .open { setInterest(interest.union(.readable)) }
    }

    /// Closes now; queued bytes are dropped.
    public func close() {
        eventLoop.preconditionInEventLoop()
        finish(.closedLocally)
    }

    /// Sends what is queued, then half-closes and waits (bounded in bytes and time) for the peer
    /// to close, so a final error response is not destroyed by a reset.
    public func closeAfterFlush() {
        eventLoop.preconditionInEventLoop()
        guard state == .open else { return }
        closeWhenFlushed = true
        if pendingWriteBytes == 0 { beginLinger() }
    }

    // MARK: - Event handling

    private func handle(_ events: EventLoop.IOEvents) {
        switch state {
        case .closed:
            return
        case .connecting:
            guard events.contains(.writable) || events.contains(.error) || events.contains(.hangup) else { return }
            if let error = Socket.connectResult(fd, address: remoteAddress ?? .unix(path: "?")) {
                finish(.failed(error))
            } else {
                connected()
            }
        case .open, .lingering:
            if events.contains(.writable) { flush() }
            if state != .closed, events.contains(.readable) || events.contains(.hangup) || events.contains(.error) {
                readAvailable()
            }
        }
    }

    private func readAvailable() {
        var reads = 0
        while reads < settings.maxReadsPerEvent, state == .open || state == .lingering {
            reads += 1
            let count = eventLoop.withReadScratch { scratch in
                Glibc.read(fd, scratch.baseAddress, scratch.count)
            }
            if count > 0 {
                if state == .lingering {
                    lingerBytes += count
                    if lingerBytes > settings.maxLingerBytes { finish(.closedLocally) }
                    continue
                }
                eventLoop.withReadScratch { scratch in
                    onRead?(UnsafeRawBufferPointer(rebasing: scratch[..<count]))
                }
                if readingPaused { return }
                if count < EventLoop.readScratchBytes { return }  // drained; avoid an extra EAGAIN call
                continue
            }
            if count == 0 {
                readEOF()
                return
            }
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return }
            finish(code == ECONNRESET ? .peerClosed : .failed(.system(call: "read", errno: code, address: remoteAddress?.description)))
            return
        }
    }

    private func readEOF() {
        if state == .lingering { finish(.peerClosed); return }
        guard let handler = onReadEOF else { finish(.peerClosed); return }
        readingPaused = true
        setInterest(interest.subtracting(.readable))
        handler()
    }

    private func sendNow(_ bytes: [UInt8], from offset: Int) -> Int {
        precondition(offset < bytes.count)
        let sent = bytes.withUnsafeBytes { raw in
            Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
        }
        if sent >= 0 { return sent }
        let code = errno
        if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return 0 }
        finish(code == EPIPE || code == ECONNRESET ? .peerClosed : .failed(.system(call: "send", errno: code, address: remoteAddress?.description)))
        return -1
    }

    private func enqueue(_ bytes: [UInt8]) {
        assert(!bytes.isEmpty)
        writeQueue.append(bytes)
        pendingWriteBytes += bytes.count
    }

    private func flush() {
        while state == .open, writeQueueHead < writeQueue.count {
            let chunk = writeQueue[writeQueueHead]
            let sent = sendNow(chunk, from: firstChunkOffset)
            if sent < 0 { return }
            pendingWriteBytes -= sent
            firstChunkOffset += sent
            assert(pendingWriteBytes >= 0)
            if firstChunkOffset < chunk.count { return }  // kernel buffer full; wait for EPOLLOUT
            writeQueue[writeQueueHead] = []
            writeQueueHead += 1
            firstChunkOffset = 0
        }
        guard state == .open else { return }
        writeQueue.removeAll(keepingCapacity: writeQueue.count <= 64)
        writeQueueHead = 0
        assert(pendingWriteBytes == 0)
        setInterest(interest.subtracting(.writable))
        if closeWhenFlushed { beginLinger(); return }
        onWriteDrained?()
    }

    private func beginLinger() {
        precondition(state == .open && pendingWriteBytes == 0)
        state = .lingering
        _ = shutdown(fd, Int32(SHUT_WR))
        setInterest([.readable])
        let bound = LoopBound(self, eventLoop: eventLoop)
        eventLoop.schedule(after: settings.lingerTimeout) {
            let connection = bound.value
            if connection.state == .lingering { connection.finish(.closedLocally) }
        }
    }

    private func setInterest(_ wanted: EventLoop.IOEvents) {
        var wanted = wanted
        if readingPaused && state != .lingering { wanted.remove(.readable) }
        guard wanted != interest, let registration, state != .closed else { return }
        do {
            try eventLoop.modify(registration, interest: wanted)
            interest = wanted
        } catch {
            finish(.failed(error))
        }
    }

    private func finish(_ reason: CloseReason) {
        guard state != .closed else { return }
        let wasConnecting = state == .connecting
        state = .closed
        if let registration { eventLoop.deregister(registration) }
        registration = nil
        _ = Glibc.close(fd)
        writeQueue = []
        pendingWriteBytes = 0
        let close = onClose
        let completion = connectCompletion
        onRead = nil; onReadEOF = nil; onWriteDrained = nil; onClose = nil; connectCompletion = nil
        if wasConnecting, let completion {
            if case .failed(let error) = reason { completion(.failure(error)) } else { completion(.failure(.timedOut("connect"))) }
        }
        close?(reason)
    }
}
