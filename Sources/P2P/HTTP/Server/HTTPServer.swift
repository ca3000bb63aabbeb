import Glibc
import Synchronization

/// An HTTP/1.1 server on our own epoll loops, built to face real clients (curl, wrk, browsers,
/// fuzzers) directly.
///
/// Promises:
/// - The handler runs on a loop thread, one request at a time per connection; it answers through
///   the `HTTPResponder` now or later from any thread. Pipelined requests are answered strictly in
///   order: request N+1 is not dispatched before response N is queued.
/// - Every limit and timeout in `HTTPServerSettings` is enforced; protocol errors are answered by
///   the server with `{"error":{"code","message"}}` and the fitting status, then the connection closes.
/// - Responses always carry a correct Content-Length; HEAD gets headers only; SIGPIPE is ignored.
/// - `stop()` closes the listener and every connection and joins the loop threads.
///
/// `start`/`stop` are meant for one controlling thread; the type is `Sendable` so it can be stored
/// anywhere, and its mutable state is behind a `Mutex`.
public final class HTTPServer: Sendable {
    /// Connections accepted per readiness event before other work gets a turn.
    static let maxAcceptsPerEvent = 256
    /// How long accepting pauses when the process is out of descriptors (EMFILE).
    static let acceptBackoff: Duration = .milliseconds(100)
    /// How long `stop()` lets in-flight requests finish before closing them.
    public static let stopGracePeriod: Duration = .seconds(1)
    /// `start` polls this often for the first loop to have registered the acceptor (50 µs: the
    /// loop runs that task within microseconds, and a start should not add a visible delay)...
    static let startPollIntervalUs: UInt32 = 50
    /// ...at most this many times (100,000 polls, at least 5 s): a loop that has not run the task
    /// by then never started, a bug, not a slow host.
    static let maxStartPolls = 100_000
    /// `stop` polls this often for its connections to have drained within `stopGracePeriod` (2 ms:
    /// a few hundred looks per grace period, without spinning).
    static let stopPollIntervalUs: UInt32 = 2_000

    public let settings: HTTPServerSettings
    private let handler: @Sendable (HTTPRequest, HTTPResponder) -> Void
    private let loopWillStop: (@Sendable (EventLoop) -> Void)?
    private let budget: HTTPServerBudget
    private let state = Mutex<(loops: [HTTPServerLoop], acceptor: Acceptor?)>(([], nil))

    /// `loopWillStop` runs on each loop during `stop()`, after its client connections are closed
    /// and before the loop ends: the place to close other connections a handler opened on it.
    public init(settings: HTTPServerSettings = HTTPServerSettings(),
                loopWillStop: (@Sendable (EventLoop) -> Void)? = nil,
                handler: @escaping @Sendable (HTTPRequest, HTTPResponder) -> Void) {
        settings.validate()
        self.settings = settings
        self.loopWillStop = loopWillStop
        self.handler = handler
        self.budget = HTTPServerBudget(settings: settings)
    }

    /// Connections open right now, across all loops.
    public var connectionCount: Int { budget.connections.load(ordering: .relaxed) }

    /// Open connections, body bytes in flight and what the shared limits refused, for metrics.
    public var stats: HTTPServerStats { budget.stats }

    /// Binds, listens and starts the loop threads. Returns the bound address (port 0 → real port).
    public func start(bindTo address: SocketAddress) throws(SocketError) -> SocketAddress {
        Socket.ignoreSIGPIPE()
        let (fd, bound) = try Socket.listen(on: address)
        var loops: [HTTPServerLoop] = []
        for index in 0..<settings.loopThreads {
            let eventLoop: EventLoop
            do { eventLoop = try EventLoop(name: "http-\(index)") } catch {
                for loop in loops { loop.eventLoop.shutdown() }
                _ = close(fd)
                throw error
            }
            eventLoop.start()
            let loop = HTTPServerLoop(eventLoop: eventLoop, settings: settings, handler: handler, budget: budget)
            eventLoop.execute { loop.startSweeping() }
            loops.append(loop)
        }
        let acceptor = Acceptor(listenFD: fd, loops: loops, settings: settings, budget: budget)
        let registered = Mutex<SocketError?>(nil)
        let done = Atomic<Bool>(false)
        loops[0].eventLoop.execute {
            do throws(SocketError) { try acceptor.register() } catch { registered.withLock { $0 = error } }
            done.store(true, ordering: .releasing)
        }
        var polls = 0
        while !done.load(ordering: .acquiring) {  // bound: maxStartPolls
            polls += 1
            precondition(polls < Self.maxStartPolls, "event loop did not start")
            usleep(Self.startPollIntervalUs)
        }
        if let error = registered.withLock({ $0 }) {
            for loop in loops { loop.eventLoop.shutdown() }
            _ = close(fd)
            throw error
        }
        state.withLock { $0 = (loops, acceptor) }
        return bound
    }

    /// Stops accepting, lets in-flight requests finish for up to `stopGracePeriod`, closes every
    /// connection and joins the loop threads. Idempotent. Must not be called from a handler.
    public func stop() {
        let (loops, acceptor) = state.withLock { current -> ([HTTPServerLoop], Acceptor?) in
            defer { current = ([], nil) }
            return (current.loops, current.acceptor)
        }
        guard !loops.isEmpty else { return }
        precondition(!loops.contains { $0.eventLoop.inEventLoop }, "HTTPServer.stop() called from its own loop")
        if let acceptor { loops[0].eventLoop.execute { acceptor.close() } }
        for loop in loops { loop.eventLoop.execute { loop.stop() } }
        let deadline = HTTPServerConnection.deadline(after: Self.stopGracePeriod)
        while budget.connections.load(ordering: .relaxed) > 0, LinuxSyscalls.monotonicNanos() < deadline {
            usleep(Self.stopPollIntervalUs)  // bound: the grace period
        }
        for loop in loops {
            loop.eventLoop.execute { [loopWillStop] in
                loop.forceClose()
                loopWillStop?(loop.eventLoop)
            }
            loop.eventLoop.shutdown()
        }
    }
}
