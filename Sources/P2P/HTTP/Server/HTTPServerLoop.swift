import Glibc
import Synchronization

/// The part of an `HTTPServer` that lives on one loop: its connections and their deadline sweep.
/// `@unchecked Sendable` because it is handed to other threads only to reach its loop; every
/// method that touches `connections` checks `preconditionInEventLoop()`.
final class HTTPServerLoop: @unchecked Sendable {
    let eventLoop: EventLoop
    private let settings: HTTPServerSettings
    private let handler: HTTPServerConnection.Handler
    private let budget: HTTPServerBudget
    private var connections: [ObjectIdentifier: HTTPServerConnection] = [:]
    private var stopped = false

    init(eventLoop: EventLoop, settings: HTTPServerSettings, handler: @escaping HTTPServerConnection.Handler, budget: HTTPServerBudget) {
        self.eventLoop = eventLoop
        self.settings = settings
        self.handler = handler
        self.budget = budget
    }

    /// Starts the periodic deadline sweep. Call on the loop.
    func startSweeping() {
        eventLoop.preconditionInEventLoop()
        eventLoop.schedule(after: settings.sweepInterval) { [self] in
            guard !stopped else { return }
            sweep()
            startSweeping()
        }
    }

    /// Takes over an accepted fd (already counted in `budget`, its address admitted).
    func adopt(fd: Int32, remote: SocketAddress?) {
        eventLoop.preconditionInEventLoop()
        guard !stopped else {
            _ = close(fd)
            budget.release(address: remote?.hostKey)
            budget.connections.subtract(1, ordering: .relaxed)
            return
        }
        var tcpSettings = TCPConnection.Settings()
        tcpSettings.maxWriteQueueBytes = settings.maxWriteQueueBytes
        let tcp = TCPConnection(adopting: fd, remoteAddress: remote, on: eventLoop, settings: tcpSettings)
        let connection = HTTPServerConnection(tcp: tcp, settings: settings, handler: handler, budget: budget)
        let key = ObjectIdentifier(connection)
        connections[key] = connection
        connection.start { [self] in
            connections.removeValue(forKey: key)
            budget.release(address: remote?.hostKey)
            let before = budget.connections.subtract(1, ordering: .relaxed).oldValue
            assert(before > 0, "connection count went negative")
        }
    }

    /// Number of connections on this loop (loop thread only).
    var connectionCount: Int {
        eventLoop.preconditionInEventLoop()
        return connections.count
    }

    /// Closes idle connections and lets busy ones finish their current response. Call on the loop.
    func stop() {
        eventLoop.preconditionInEventLoop()
        stopped = true
        for connection in Array(connections.values) { connection.beginStop() }
    }

    /// Closes whatever is still open (after the grace period of `HTTPServer.stop`).
    func forceClose() {
        eventLoop.preconditionInEventLoop()
        for connection in Array(connections.values) { connection.tcp.close() }
        assert(connections.isEmpty)
    }

    private func sweep() {
        let now = LinuxSyscalls.monotonicNanos()
        for connection in Array(connections.values) { connection.checkDeadlines(nowNanos: now) }
    }
}
