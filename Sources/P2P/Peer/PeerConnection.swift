import Glibc
import Chain
import Synchronization

/// One TCP connection to a peer and where it is in the handshake. Loop-confined: created, read
/// and changed only by `PeerHost` on its loop (the `TCPConnection` inside checks that).
final class PeerConnection {
    enum Stage: Equatable {
        /// Our preamble is sent; waiting for theirs and their sealed auth frame.
        case handshaking
        /// Their auth accepted and our `peers` sent; their `peers` proves they accepted ours.
        case awaitingAccept
        /// Both sides authenticated; application messages flow.
        case established
        /// Dropped; the socket may still be flushing a bye.
        case ended
    }

    let id: UInt64
    let tcp: TCPConnection
    let direction: PeerDirection
    /// The address we dialled (outbound only).
    let dialAddress: SocketAddress?
    /// The connection's secure channel: every byte in and out goes through it.
    let channel: SecureChannel
    var stage: Stage = .handshaking
    /// What the peer's verified auth frame said (nil until then).
    var hello: PeerHello?
    var isMember = false
    var lastHeardNanos: UInt64
    /// When the handshake finished (monotonic); a join-only peer is closed `joinOnlyTimeout` after it.
    var establishedNanos: UInt64 = 0
    /// When the peer's last `join` was taken (monotonic); joins closer together are ignored.
    var lastJoinNanos: UInt64?
    var handshakeTimer: ScheduledTimer?
    /// Set when established; heights update it.
    var info: PeerInfo?
    /// The peer refused us (bye before we were established): redial at the maximum backoff.
    var refusedUs = false
    /// Before its auth is verified a peer is a stranger: its bytes count against the pre-auth budget.
    var isPreAuth: Bool { stage == .handshaking }

    init(id: UInt64, tcp: TCPConnection, direction: PeerDirection, dialAddress: SocketAddress?, channel: ChannelContext) {
        precondition((direction == .outbound) == (dialAddress != nil), "only outbound connections have a dial address")
        self.id = id
        self.tcp = tcp
        self.direction = direction
        self.dialAddress = dialAddress
        self.channel = SecureChannel(role: direction == .outbound ? .initiator : .responder, context: channel)
        self.lastHeardNanos = LinuxSyscalls.monotonicNanos()
    }

    /// Seals one message line and queues it; false when the channel cannot seal yet (or any
    /// more) or the connection is closed.
    @discardableResult
    func send(_ line: [UInt8]) -> Bool {
        guard channel.canSeal, channel.stage != .awaitingPreamble else { return false }
        return tcp.write(channel.seal(line: line))
    }

    /// Sends the sealed close frame (a clean end: the peer can tell it from a cut-off stream).
    func sendClose() {
        guard channel.canSeal else { return }
        _ = tcp.write(channel.sealClose())
    }

    /// The node that opened this connection, for the one-connection-per-pair rule.
    func dialler(localNodeId: String) -> String {
        precondition(hello != nil, "dialler is known only after hello")
        return direction == .outbound ? localNodeId : hello!.nodeId
    }

    var peerLabel: String { hello?.nodeId ?? tcp.remoteAddress?.description ?? "?" }
}

/// State shared between the loop and API callers on other threads: the peer snapshot and the
/// bytes in flight from `send`. Sendable through `Mutex` and `Atomic`.
final class PeerShared: Sendable {
    private let peers = Mutex<[String: PeerInfo]>([:])
    private let pendingSendBytes = Atomic<Int>(0)
    private let refusedHandshakes = Atomic<UInt64>(0)

    /// A stranger refused by a pre-auth bound (handshakes per address, pre-auth bytes).
    func countRefusedHandshake() { refusedHandshakes.wrappingAdd(1, ordering: .relaxed) }
    private let evictedAddresses = Atomic<UInt64>(0)
    func countEvictedAddress() { evictedAddresses.wrappingAdd(1, ordering: .relaxed) }
    var evictedAddressCount: UInt64 { evictedAddresses.load(ordering: .relaxed) }
    var refusedHandshakeCount: UInt64 { refusedHandshakes.load(ordering: .relaxed) }
    let maxPendingSendBytes: Int

    init(maxPendingSendBytes: Int) {
        precondition(maxPendingSendBytes > 0)
        self.maxPendingSendBytes = maxPendingSendBytes
    }

    func snapshot() -> [PeerInfo] { peers.withLock { Array($0.values) }.sorted { $0.nodeId < $1.nodeId } }
    func info(_ nodeId: String) -> PeerInfo? { peers.withLock { $0[nodeId] } }
    func memberIds() -> [String] { peers.withLock { $0.values.filter(\.isMember).map(\.nodeId) } }
    func set(_ info: PeerInfo) { peers.withLock { $0[info.nodeId] = info } }
    func remove(_ nodeId: String) { peers.withLock { _ = $0.removeValue(forKey: nodeId) } }
    func removeAll() { peers.withLock { $0.removeAll() } }

    /// Reserves `bytes` of the cross-thread send budget; false when it is spent.
    func reserve(_ bytes: Int) -> Bool {
        let before = pendingSendBytes.wrappingAdd(bytes, ordering: .relaxed).oldValue
        if before + bytes > maxPendingSendBytes {
            pendingSendBytes.wrappingSubtract(bytes, ordering: .relaxed)
            return false
        }
        return true
    }

    func release(_ bytes: Int) {
        let after = pendingSendBytes.wrappingSubtract(bytes, ordering: .relaxed).newValue
        assert(after >= 0, "released more send bytes than reserved")
    }
}

/// Wall-clock milliseconds since the Unix epoch, for `PeerInfo.connectedSinceUnixMillis`.
func unixMillisNow() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}
