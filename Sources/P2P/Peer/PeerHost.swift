import Chain
import Glibc

/// The loop side of `PeerNetwork`: listener, connections, dial targets, keepalive. Every method
/// runs on `loop` (checked); `PeerNetwork` reaches it only through a `LoopBound`.
final class PeerHost {
    /// Connections taken from the listener per readiness event before yielding.
    static let maxAcceptsPerEvent = 64

    let loop: EventLoop
    let settings: PeerSettings
    let identity: PeerIdentity
    let delegate: any PeerDelegate
    let logger: Logger
    let shared: PeerShared
    /// The p2pAddr we advertise: the identity's, or the bound address when that is empty.
    let advertisedAddr: String
    var connections: [UInt64: PeerConnection] = [:]
    /// The one kept connection per authenticated node.
    var established: [String: PeerConnection] = [:]
    var targets: [SocketAddress: DialTarget] = [:]
    /// The nodes (with their keys) admitted on links this node dialled to given (static)
    /// addresses: one per such target, so bounded by `maxKnownAddresses`.
    var givenPeers: [String: PublicKey] = [:]
    /// Host names being resolved off the loop (`whenDialable`), at most `maxKnownAddresses`.
    var resolving: Set<String> = []
    var stopped = false
    /// Fencing decisions on peer links (`IncarnationFence`): the highest incarnation per member.
    var fence: IncarnationFence
    /// Set once a link proved a newer copy of this node runs: every link is refused from then on.
    var isSuperseded = false
    private var listenFD: Int32 = -1
    private var listenRegistration: EventLoop.Registration?
    private var keepaliveTimer: ScheduledTimer?
    private var nextConnectionId: UInt64 = 1

    init(loop: EventLoop, settings: PeerSettings, identity: PeerIdentity, delegate: any PeerDelegate,
         logger: Logger, shared: PeerShared, boundAddress: SocketAddress) {
        loop.preconditionInEventLoop()
        self.loop = loop
        self.settings = settings
        self.identity = identity
        self.delegate = delegate
        self.logger = logger
        self.shared = shared
        self.fence = IncarnationFence(nodeId: identity.nodeId, nodeKey: identity.key.publicKey, incarnation: identity.incarnation)
        self.advertisedAddr = identity.advertisedP2PAddr.isEmpty ? boundAddress.description : identity.advertisedP2PAddr
    }

    /// Runs `body` on the loop after `delay` with this host, unless the host has stopped.
    func later(_ delay: Duration, _ body: @escaping (PeerHost) -> Void) -> ScheduledTimer {
        let bound = LoopBound((host: self, body: body), eventLoop: loop)
        return loop.schedule(after: delay) {
            let (host, body) = bound.value
            if !host.stopped { body(host) }
        }
    }

    // MARK: - Lifecycle

    func start(listenFD: Int32, initialTargets: [SocketAddress]) throws(SocketError) {
        loop.preconditionInEventLoop()
        precondition(self.listenFD < 0 && listenFD >= 0, "start once with an open listener")
        self.listenFD = listenFD
        listenRegistration = try loop.register(fd: listenFD, interest: [.readable]) { [self] _ in acceptPending() }
        keepaliveTimer = later(settings.pingInterval) { $0.keepaliveTick() }
        for address in initialTargets { addTarget(address, nodeId: nil, isStatic: true) }
    }

    /// Closes everything without delegate callbacks.
    func stop() {
        loop.preconditionInEventLoop()
        guard !stopped else { return }
        stopped = true
        keepaliveTimer?.cancel()
        if let listenRegistration { loop.deregister(listenRegistration) }
        listenRegistration = nil
        if listenFD >= 0 { _ = Glibc.close(listenFD) }
        listenFD = -1
        for target in targets.values { target.timer?.cancel() }
        targets.removeAll()
        for connection in Array(connections.values) {
            if connection.channel.stage == .open {
                connection.send(PeerMessage.bye(reason: "shutting down").encodedLine())
                connection.sendClose()
            }
            connection.tcp.close()
        }
        connections.removeAll()
        established.removeAll()
        shared.removeAll()
    }

    // MARK: - Connections

    private func acceptPending() {
        var accepted = 0
        while accepted < Self.maxAcceptsPerEvent, !stopped {
            guard let next = try? Socket.accept(listenFD) else { return }  // drained, or a transient error
            accepted += 1
            guard connections.count < settings.maxPeers else {
                logger.warn("peer refused: at maxPeers", ["node": identity.nodeId, "remote": next.remote?.description ?? "?"])
                _ = Glibc.close(next.fd)
                continue
            }
            if let host = next.remote?.hostKey, handshakingInbound(from: host) >= settings.maxHandshakesPerAddress {
                shared.countRefusedHandshake()
                logger.warn("peer refused: too many handshakes from its address", ["node": identity.nodeId, "remote": host])
                _ = Glibc.close(next.fd)
                continue
            }
            let tcp = TCPConnection(adopting: next.fd, remoteAddress: next.remote, on: loop, settings: tcpSettings)
            adopt(tcp, direction: .inbound, dialAddress: nil)
        }
    }

    /// Inbound connections from `host` still in the handshake (at most `maxPeers` to look at).
    private func handshakingInbound(from host: String) -> Int {
        var count = 0
        for connection in connections.values where connection.direction == .inbound && connection.stage != .established
            && connection.tcp.remoteAddress?.hostKey == host {
            count += 1
        }
        return count
    }

    var tcpSettings: TCPConnection.Settings {
        var s = TCPConnection.Settings()
        s.maxWriteQueueBytes = settings.maxWriteQueueBytes
        return s
    }

    /// Takes over a connected socket: wires callbacks, sends our preamble, arms the handshake timeout.
    func adopt(_ tcp: TCPConnection, direction: PeerDirection, dialAddress: SocketAddress?) {
        loop.preconditionInEventLoop()
        let context = ChannelContext(
            version: PeerLimits.channelVersion, chainId: identity.chainId, genesisHash: identity.genesisHash,
            credential: identity.clusterToken, maxMessageBytes: settings.maxLineBytes,
            maxHandshakeBytes: settings.maxPreAuthBytes, nodeKey: identity.key,
            nodeId: identity.nodeId, p2pAddr: advertisedAddr, apiAddr: identity.apiAddr, height: delegate.localHeight(),
            incarnation: identity.incarnation)
        let connection = PeerConnection(id: nextConnectionId, tcp: tcp, direction: direction,
                                        dialAddress: dialAddress, channel: context)
        nextConnectionId += 1
        connections[connection.id] = connection
        // Strong captures: TCPConnection drops its callbacks when it closes, which breaks the cycle.
        tcp.onRead = { [self] bytes in received(bytes, on: connection) }
        tcp.onClose = { [self] reason in
            var why = "connection closed: \(reason)"
            if reason == .peerClosed, connection.channel.stage == .open, let error = connection.channel.endOfStream() {
                why += " (\(error))"
            }
            ended(connection, reason: why, closedByPeer: reason == .peerClosed)
        }
        if direction == .inbound { tcp.start() }
        connection.handshakeTimer = later(settings.handshakeTimeout) { host in
            guard connection.stage != .established, connection.stage != .ended else { return }
            host.drop(connection, reason: "handshake timeout after \(host.settings.handshakeTimeout)")
        }
        _ = tcp.write(connection.channel.preamble)
    }

    private func received(_ bytes: UnsafeRawBufferPointer, on connection: PeerConnection) {
        guard connection.stage != .ended else { return }
        connection.lastHeardNanos = LinuxSyscalls.monotonicNanos()
        do {
            try connection.channel.feed(bytes) { event in
                handle(event, on: connection)
                return connection.stage != .ended
            }
        } catch {
            if connection.isPreAuth {
                if case .handshakeTooLarge = error { shared.countRefusedHandshake() }
                if error.isMismatch { connection.refusedUs = true }  // another chain or credential: redial slowly
                return refuse(connection, reason: error.description)
            }
            drop(connection, reason: error.description)
        }
    }

    private func handle(_ event: SecureChannel.Event, on connection: PeerConnection) {
        switch event {
        case .send(let bytes):
            _ = connection.tcp.write(bytes)
        case .authenticated(let auth):
            receivedAuth(auth, on: connection)
        case .message(let payload):
            let message: PeerMessage
            do { message = try PeerMessage.decode(line: payload, maxLineBytes: settings.maxLineBytes) } catch {
                return drop(connection, reason: error.description)
            }
            handle(message, on: connection)
        case .closed:
            ended(connection, reason: "peer closed the channel", closedByPeer: true)
            connection.tcp.closeAfterFlush()
        }
    }

    /// Sends a sealed bye with `reason` and the close frame (when the peer is authenticated and the
    /// socket writable), logs, and closes this connection only.
    func drop(_ connection: PeerConnection, reason: String, sayBye: Bool = true) {
        guard connection.stage != .ended else { return }
        logger.warn("closing peer connection", ["node": identity.nodeId, "peer": connection.peerLabel, "reason": reason])
        if connection.channel.stage == .open {
            if sayBye { connection.send(PeerMessage.bye(reason: reason).encodedLine()) }
            connection.sendClose()
        }
        ended(connection, reason: reason)
        connection.tcp.closeAfterFlush()
    }

    /// Forgets a connection (idempotent): disconnect callback, snapshot, redial. `closedByPeer`:
    /// the other end closed it (end of stream, reset, close frame or bye), as opposed to this
    /// node dropping it (silence, a broken rule, shutdown).
    func ended(_ connection: PeerConnection, reason: String, closedByPeer: Bool = false) {
        guard connection.stage != .ended else { return }
        let wasEstablished = connection.stage == .established
        connection.stage = .ended
        connection.handshakeTimer?.cancel()
        connections.removeValue(forKey: connection.id)
        guard !stopped else { return }
        var lostNode: String?
        if wasEstablished, let hello = connection.hello, established[hello.nodeId] === connection {
            established.removeValue(forKey: hello.nodeId)
            shared.remove(hello.nodeId)
            lostNode = hello.nodeId
            logger.info("peer disconnected", ["node": identity.nodeId, "peer": hello.nodeId, "reason": reason])
            delegate.peerDisconnected(nodeId: hello.nodeId, reason: reason, closedByPeer: closedByPeer)
        }
        connectionEnded(connection, wasEstablished: wasEstablished, lostNode: lostNode)
    }

    // MARK: - Keepalive

    private func keepaliveTick() {
        let now = LinuxSyscalls.monotonicNanos()
        let deadNanos = settings.peerDeadAfter.nanoseconds
        let ping = PeerMessage.ping(height: delegate.localHeight()).encodedLine()
        for connection in Array(established.values) {
            if now &- connection.lastHeardNanos > deadNanos {
                drop(connection, reason: "silent for more than \(settings.peerDeadAfter)")
            } else if !connection.isMember, !admitIfMember(connection),
                      now &- connection.establishedNanos > settings.joinOnlyTimeout.nanoseconds {
                // (A newcomer admitted since its handshake becomes a member's link at the next
                // tick, announced to the other members: joined through a follower, it is then
                // dialled by the leader, which never had its address.)
                delegate.peerRuleHit(nodeId: connection.peerLabel, reason: "join_only_expired",
                                     detail: "not a member \(settings.joinOnlyTimeout) after its handshake")
                drop(connection, reason: "join-only connection expired after \(settings.joinOnlyTimeout)")
            } else {
                connection.send(ping)
            }
        }
        keepaliveTimer = later(settings.pingInterval) { $0.keepaliveTick() }
    }

    // MARK: - Sending

    /// Seals and queues a whole line on `nodeId`'s connection; false when not connected or it was dropped.
    func send(line: [UInt8], to nodeId: String) -> Bool {
        loop.preconditionInEventLoop()
        guard !stopped, let connection = established[nodeId] else { return false }
        return connection.send(line)
    }

    /// Seals and queues a line on every member connection; returns how many took it.
    func broadcast(line: [UInt8]) -> Int {
        loop.preconditionInEventLoop()
        guard !stopped else { return 0 }
        var sent = 0
        for connection in Array(established.values) where connection.isMember {
            if connection.send(line) { sent += 1 }
        }
        return sent
    }
}

extension Duration {
    /// Whole nanoseconds (a negative duration counts as zero).
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(max(attoseconds, 0) / 1_000_000_000)
    }
}
