import Glibc

/// Accepts connections on one listening socket (on the first loop) and deals them round-robin to
/// the server's loops. Over `maxConnections`, or over `maxConnectionsPerAddress` from its
/// address, a client gets a best-effort 503 and is closed.
/// `@unchecked Sendable`: it is created off-loop but all mutable state is touched only on its
/// loop, which every method checks.
final class Acceptor: @unchecked Sendable {
    private let listenFD: Int32
    private let loops: [HTTPServerLoop]
    private let settings: HTTPServerSettings
    private let budget: HTTPServerBudget
    private var registration: EventLoop.Registration?
    private var nextLoop = 0
    private var closed = false
    private static let overloadResponse = HTTPResponseEncoder.encode(
        .error(code: "too_many_connections", message: "the server is at its connection limit"),
        requestVersion: .http1_1, keepAlive: false, isHEAD: false)
    private static let addressOverloadResponse = HTTPResponseEncoder.encode(
        .error(code: "too_many_connections", message: "too many connections from your address"),
        requestVersion: .http1_1, keepAlive: false, isHEAD: false)

    private var eventLoop: EventLoop { loops[0].eventLoop }

    init(listenFD: Int32, loops: [HTTPServerLoop], settings: HTTPServerSettings, budget: HTTPServerBudget) {
        precondition(!loops.isEmpty)
        self.listenFD = listenFD
        self.loops = loops
        self.settings = settings
        self.budget = budget
    }

    func register() throws(SocketError) {
        eventLoop.preconditionInEventLoop()
        registration = try eventLoop.register(fd: listenFD, interest: [.readable]) { [self] _ in acceptPending() }
    }

    func close() {
        eventLoop.preconditionInEventLoop()
        guard !closed else { return }
        closed = true
        if let registration { eventLoop.deregister(registration) }
        registration = nil
        _ = Glibc.close(listenFD)
    }

    private func acceptPending() {
        var accepted = 0
        while accepted < HTTPServer.maxAcceptsPerEvent, !closed {
            let next: (fd: Int32, remote: SocketAddress?)?
            do { next = try Socket.accept(listenFD) } catch {
                if case .system(_, let code, _) = error, code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM {
                    pauseAccepting()
                }
                return
            }
            guard let (fd, remote) = next else { return }  // EAGAIN: drained
            accepted += 1
            hand(fd: fd, remote: remote)
        }
    }

    private func hand(fd: Int32, remote: SocketAddress?) {
        let previous = budget.connections.add(1, ordering: .relaxed).oldValue
        if previous >= settings.maxConnections {
            budget.connections.subtract(1, ordering: .relaxed)
            refuse(fd, Self.overloadResponse)
            return
        }
        if !budget.admit(address: remote?.hostKey) {
            budget.connections.subtract(1, ordering: .relaxed)
            refuse(fd, Self.addressOverloadResponse)
            return
        }
        let loop = loops[nextLoop]
        nextLoop = (nextLoop + 1) % loops.count
        if loop.eventLoop === eventLoop {
            loop.adopt(fd: fd, remote: remote)
        } else {
            loop.eventLoop.execute { loop.adopt(fd: fd, remote: remote) }
        }
    }

    /// Best effort: the answer goes out if the socket buffer takes it now; the fd closes anyway.
    private func refuse(_ fd: Int32, _ response: [UInt8]) {
        response.withUnsafeBytes { raw in
            _ = send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
        }
        _ = Glibc.close(fd)
    }

    /// Out of descriptors: stop listening briefly instead of spinning on a readable listener.
    private func pauseAccepting() {
        guard let registration else { return }
        try? eventLoop.modify(registration, interest: [])
        eventLoop.schedule(after: HTTPServer.acceptBackoff) { [self] in
            guard !closed, let registration = self.registration else { return }
            try? eventLoop.modify(registration, interest: [.readable])
        }
    }
}
