import Synchronization

/// The one-shot reply channel for one request. `send` may be called from any thread, at any
/// time, exactly once; a second call is a programming error and traps.
///
/// A responder released without `send` (a handler bug) answers 500 `internal_error` by itself so
/// the client is not left hanging; debug builds also print a warning naming the request.
/// If the client has gone meanwhile, the response is dropped silently.
public final class HTTPResponder: Sendable {
    private let connection: LoopBound<HTTPServerConnection>
    private let sequence: UInt64
    private let requestLine: String
    private let sent = Atomic<Bool>(false)

    init(connection: LoopBound<HTTPServerConnection>, sequence: UInt64, requestLine: String) {
        self.connection = connection
        self.sequence = sequence
        self.requestLine = requestLine
    }

    /// Sends the response. Traps if called twice.
    public func send(_ response: HTTPResponse) {
        let (first, _) = sent.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
        precondition(first, "HTTPResponder.send called twice for \(requestLine)")
        Self.deliver(response, to: connection, sequence: sequence)
    }

    /// The loop the request arrived on: work done there (say, a non-blocking call the answer
    /// waits for) needs no hand-over between threads, and `send` from it is immediate.
    public var eventLoop: EventLoop { connection.eventLoop }

    /// True once `send` has been called.
    public var hasSent: Bool { sent.load(ordering: .acquiring) }

    deinit {
        guard !sent.load(ordering: .acquiring) else { return }
        #if DEBUG
        print("warning: HTTPResponder for \(requestLine) released without send; answering 500")
        #endif
        let response = HTTPResponse.error(code: "internal_error", message: "the handler did not answer")
        Self.deliver(response, to: connection, sequence: sequence)
    }

    private static func deliver(_ response: HTTPResponse, to connection: LoopBound<HTTPServerConnection>, sequence: UInt64) {
        if connection.eventLoop.inEventLoop {
            connection.value.respond(response, sequence: sequence)
        } else {
            connection.eventLoop.execute { connection.value.respond(response, sequence: sequence) }
        }
    }
}
