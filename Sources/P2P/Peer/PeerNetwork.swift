import Chain
import Dispatch
import Synchronization

/// The authenticated peer network: TCP inside a `SecureChannel` per connection, one JSON object
/// per sealed frame (docs/PROTOCOL.md, "Peer protocol"), one connection per pair of nodes,
/// keepalive, redialling and address gossip.
///
/// Promises:
/// - Every public method may be called from any thread. Sockets, handshakes and delegate
///   callbacks live on one `EventLoop` (its own, or one given at init).
/// - `peerConnected` fires only after both sides are authenticated; application messages are
///   delivered only from such peers, in the order sent; a `.joinOnly` peer can deliver only `join`.
/// - Whatever a peer sends (oversized, malformed, unexpected) closes that connection only.
/// - Memory per peer is bounded: `maxLineBytes` of partial input, `maxWriteQueueBytes` of output
///   (a peer whose queue overflows is dropped).
///
/// `@unchecked Sendable`: the loop-side state is reachable only through `LoopBound` (checked on
/// every access) and the rest sits behind `Mutex`/`Atomic` or is immutable.
public final class PeerNetwork: @unchecked Sendable {
    public let settings: PeerSettings
    public let identity: PeerIdentity
    private let delegate: any PeerDelegate
    private let logger: Logger
    private let givenLoop: EventLoop?
    private let shared: PeerShared
    private let lifecycle = Mutex<Lifecycle>(Lifecycle())
    /// Longest a call that needs the loop waits for it (start/stop). A running loop answers in
    /// microseconds; a loop that never answers is a programming error (not started, or blocked).
    private static let loopAnswerTimeoutSeconds = 30

    private struct Lifecycle {
        var loop: EventLoop?
        var host: LoopBound<PeerHost>?
        var started = false
        var stopped = false
        var pendingTargets: [SocketAddress] = []
        var pendingNames: [(text: String, unresolved: (@Sendable (String) -> Void)?)] = []
    }

    /// `eventLoop`: run on this (already started) loop instead of creating one.
    /// `logSink`: where the `p2p` logger writes (tests capture it).
    public init(settings: PeerSettings, identity: PeerIdentity, delegate: any PeerDelegate,
                eventLoop: EventLoop? = nil, logSink: LogSink = .standardError) {
        settings.validate()
        self.settings = settings
        self.identity = identity
        self.delegate = delegate
        self.givenLoop = eventLoop
        self.logger = Logger(component: "p2p", sink: logSink)
        self.shared = PeerShared(maxPendingSendBytes: settings.maxPendingSendBytes)
    }

    deinit {
        let state = lifecycle.withLock { $0 }
        precondition(!state.started || state.stopped, "PeerNetwork released while running: call stop()")
    }

    /// Binds the listener, starts dialling the static peers, and returns the bound address
    /// (with the real port when the settings ask for port 0). Call once.
    public func start() throws(SocketError) -> SocketAddress {
        let alreadyStarted = lifecycle.withLock { state -> Bool in
            defer { state.started = true }
            return state.started
        }
        precondition(!alreadyStarted, "PeerNetwork.start() called twice")
        let loop: EventLoop
        if let givenLoop { loop = givenLoop } else {
            loop = try EventLoop(name: "p2p-\(identity.nodeId)")
            loop.start()
        }
        lifecycle.withLock { $0.loop = loop }
        let fd: Int32, bound: SocketAddress
        do { (fd, bound) = try Socket.listen(on: settings.listenAddress) } catch {
            stop()  // leaves the network stopped, so it may be released
            throw error
        }
        let targets = settings.staticPeers + lifecycle.withLock { $0.pendingTargets }
        let (settings, identity, delegate, logger, shared) = (settings, identity, delegate, logger, shared)
        let result = Self.onLoop(loop) { () -> Result<LoopBound<PeerHost>, SocketError> in
            let host = PeerHost(loop: loop, settings: settings, identity: identity, delegate: delegate,
                                logger: logger, shared: shared, boundAddress: bound)
            do throws(SocketError) { try host.start(listenFD: fd, initialTargets: targets) } catch {
                host.stop()
                return .failure(error)
            }
            return .success(LoopBound(host, eventLoop: loop))
        }
        let host: LoopBound<PeerHost>
        do { host = try result.get() } catch {
            stop()
            throw error
        }
        let names = lifecycle.withLock { state in
            defer { state.host = host; state.pendingTargets = []; state.pendingNames = [] }
            return state.pendingNames
        }
        for n in names { Self.addNamed(n.text, on: host, unresolved: n.unresolved) }
        logger.info("peer network listening", ["node": identity.nodeId, "address": bound.description])
        return bound
    }

    /// Closes the listener and every connection (no delegate callbacks), stops redialling, and
    /// shuts down the loop if this network created it. Idempotent; not from the loop thread.
    public func stop() {
        let (loop, host) = lifecycle.withLock { state -> (EventLoop?, LoopBound<PeerHost>?) in
            defer { state.stopped = true; state.host = nil }
            return state.stopped ? (nil, nil) : (state.loop, state.host)
        }
        guard let loop else { return }
        precondition(!loop.inEventLoop, "PeerNetwork.stop() must not be called on its own loop")
        if let host { Self.onLoop(loop) { host.value.stop() } }
        if givenLoop == nil { loop.shutdown() }
        shared.removeAll()
    }

    /// Dials `address` now and keeps redialling it (with backoff) whenever it is not connected.
    public func addPeerAddress(_ address: SocketAddress) {
        let host = lifecycle.withLock { state -> LoopBound<PeerHost>? in
            if state.host == nil, !state.stopped { state.pendingTargets.append(address) }
            return state.host
        }
        guard let host else { return }
        host.eventLoop.execute { host.value.addTarget(address, nodeId: nil, isStatic: true) }
    }

    /// As `addPeerAddress(_:)` for `host:port` text (a name or an IP literal), without ever
    /// blocking the caller: a name is looked up on the network's resolver thread. `getaddrinfo`
    /// for a name whose DNS does not answer (a Swarm service whose host is down) blocks for about
    /// ten seconds; on a node's start-up or its registry client's thread that delayed the start
    /// and stopped heartbeats. `unresolved` is called (on the loop) with the text when it does
    /// not parse or resolve; the address is then not dialled (peers are also learned from the
    /// registry and from other peers).
    public func addPeerAddress(named text: String, unresolved: (@Sendable (String) -> Void)? = nil) {
        let host = lifecycle.withLock { state -> LoopBound<PeerHost>? in
            if state.host == nil, !state.stopped { state.pendingNames.append((text, unresolved)) }
            return state.host
        }
        guard let host else { return }
        Self.addNamed(text, on: host, unresolved: unresolved)
    }

    private static func addNamed(_ text: String, on host: LoopBound<PeerHost>, unresolved: (@Sendable (String) -> Void)?) {
        host.eventLoop.execute {
            host.value.whenDialable(text, unresolved: { _ in unresolved?(text) }) { h, address in
                h.addTarget(address, nodeId: nil, isStatic: true)
            }
        }
    }

    /// Queues `message` for `nodeId`. False when that node is not connected, the message is over
    /// `maxLineBytes`, or the cross-thread send budget is spent. A true result off the loop means
    /// "queued": the connection may still drop before the bytes leave.
    @discardableResult
    public func send(_ message: PeerMessage, to nodeId: String) -> Bool {
        // Off the loop, a peer not connected costs no encoding.
        guard let host = lifecycle.withLock({ $0.host }), host.eventLoop.inEventLoop || shared.info(nodeId) != nil else { return false }
        return send(encoded: message.encodedLine(), type: message.typeName, to: nodeId)
    }

    /// As `send(_:to:)` for a message already encoded as its wire line (`PeerMessage.blocksLine`).
    @discardableResult
    public func send(encoded line: [UInt8], type: String, to nodeId: String) -> Bool {
        guard let host = lifecycle.withLock({ $0.host }) else { return false }
        if host.eventLoop.inEventLoop {
            guard checked(line, type: type) else { return false }
            return host.value.send(line: line, to: nodeId)
        }
        guard shared.info(nodeId) != nil, checked(line, type: type), shared.reserve(line.count) else { return false }
        let shared = shared
        host.eventLoop.execute {
            shared.release(line.count)
            _ = host.value.send(line: line, to: nodeId)
        }
        return true
    }

    /// Queues `message` for every connected member; returns how many peers it was queued for
    /// (off the loop: how many were connected when called).
    @discardableResult
    public func broadcast(_ message: PeerMessage) -> Int {
        guard let host = lifecycle.withLock({ $0.host }), let line = checkedLine(message) else { return 0 }
        if host.eventLoop.inEventLoop { return host.value.broadcast(line: line) }
        let count = shared.memberIds().count
        guard count > 0, shared.reserve(line.count) else { return 0 }
        let shared = shared
        host.eventLoop.execute {
            shared.release(line.count)
            _ = host.value.broadcast(line: line)
        }
        return count
    }

    /// Connected, authenticated peers, sorted by nodeId: a consistent snapshot.
    public var peers: [PeerInfo] { shared.snapshot() }

    /// Inbound strangers refused by a pre-auth bound (`maxHandshakesPerAddress`, `maxPreAuthBytes`).
    public var refusedHandshakes: UInt64 { shared.refusedHandshakeCount }

    /// Learned addresses forgotten to make room for new ones (`maxKnownAddresses`).
    public var evictedAddresses: UInt64 { shared.evictedAddressCount }

    private func checkedLine(_ message: PeerMessage) -> [UInt8]? {
        let line = message.encodedLine()
        return checked(line, type: message.typeName) ? line : nil
    }

    private func checked(_ line: [UInt8], type: String) -> Bool {
        guard line.count - 1 <= settings.maxLineBytes else {
            logger.error("message over maxLineBytes not sent", ["type": type, "bytes": line.count])
            return false
        }
        return true
    }

    /// Runs `body` on `loop` and waits for its result (directly when already on the loop).
    @discardableResult
    private static func onLoop<R: Sendable>(_ loop: EventLoop, _ body: @escaping @Sendable () -> R) -> R {
        if loop.inEventLoop { return body() }
        let transfer = ResultSlot<R>()
        let done = DispatchSemaphore(value: 0)
        loop.execute {
            transfer.set(body())
            done.signal()
        }
        let answered = done.wait(timeout: .now() + .seconds(loopAnswerTimeoutSeconds)) == .success
        precondition(answered, "\(loop) did not answer within \(loopAnswerTimeoutSeconds) s: is it running?")
        guard let value = transfer.take() else { preconditionFailure("loop answered without a value") }
        return value
    }
}

/// Hands one value from the loop thread to the waiting caller.
private final class ResultSlot<R: Sendable>: Sendable {
    private let slot = Mutex<R?>(nil)
    func set(_ value: R) { slot.withLock { $0 = value } }
    func take() -> R? { slot.withLock { $0.take() } }
}
