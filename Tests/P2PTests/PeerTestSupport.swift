import Chain
import Consensus
import Glibc
import Synchronization
@testable import P2P

/// Records every delegate callback; `access` decides authorization per nodeId (default member).
final class RecordingDelegate: PeerDelegate {
    struct State {
        var connected: [PeerInfo] = []
        var disconnected: [(nodeId: String, reason: String)] = []
        var received: [(message: PeerMessage, from: String)] = []
        var refused: [String] = []
        var access: [String: PeerAccess] = [:]
        var rulesHit: [String] = []
        /// What `memberIds` answers (the incarnation fence records these only). Default none.
        var members: Set<String> = []
        var superseded: [IncarnationProof] = []
        /// `PeerInfo.isGivenPeer` of each sender, as of its last message.
        var givenPeer: [String: Bool] = [:]
    }
    let state = Mutex(State())

    func authorize(nodeId: String, nodeKey: PublicKey) -> PeerAccess { state.withLock { $0.access[nodeId] ?? .member } }
    func peerConnected(_ peer: PeerInfo) { state.withLock { $0.connected.append(peer) } }
    func peerDisconnected(nodeId: String, reason: String, closedByPeer: Bool) { state.withLock { $0.disconnected.append((nodeId, reason)) } }
    func received(_ message: PeerMessage, from peer: PeerInfo) {
        state.withLock {
            $0.received.append((message, peer.nodeId))
            $0.givenPeer[peer.nodeId] = peer.isGivenPeer
        }
    }
    func localHeight() -> UInt64 { 7 }
    func peerRefused(remote: String, nodeId: String?, reason: String) { state.withLock { $0.refused.append(reason) } }
    func peerRuleHit(nodeId: String, reason: String, detail: String) { state.withLock { $0.rulesHit.append(reason) } }
    func memberIds() -> Set<String> { state.withLock { $0.members } }
    func superseded(by proof: IncarnationProof) { state.withLock { $0.superseded.append(proof) } }

    var connectedIds: [String] { state.withLock { $0.connected.map(\.nodeId) } }
    var refusals: [String] { state.withLock { $0.refused } }
    var disconnects: [String] { state.withLock { $0.disconnected.map(\.reason) } }
    var receivedMessages: [PeerMessage] { state.withLock { $0.received.map(\.message) } }
    var rulesHit: [String] { state.withLock { $0.rulesHit } }
    var givenPeers: [String: Bool] { state.withLock { $0.givenPeer } }
}

let testGenesis = Crypto.sha256(Array("peer-test-genesis".utf8))

/// Settings sized for tests: quick keepalive and redial, loopback port 0.
func testPeerSettings() -> PeerSettings {
    var s = PeerSettings(listenAddress: try! SocketAddress(parsing: "127.0.0.1:0"))
    s.pingInterval = .milliseconds(100)
    s.peerDeadAfter = .seconds(2)
    s.handshakeTimeout = .seconds(2)
    s.reconnectBackoffInitial = .milliseconds(50)
    s.reconnectBackoffMax = .milliseconds(500)
    return s
}

func testIdentity(_ nodeId: String, chainId: String = "peer-test", genesis: Hash32 = testGenesis,
                  token: String? = nil, key: KeyPair = .generate()) -> PeerIdentity {
    PeerIdentity(nodeId: nodeId, key: key, chainId: chainId, genesisHash: genesis, advertisedP2PAddr: "",
                 apiAddr: "127.0.0.1:1", clusterToken: token)
}

/// A started network with its delegate; `stop()` it at the end of the test.
struct TestNode {
    let network: PeerNetwork
    let delegate: RecordingDelegate
    let address: SocketAddress

    init(_ identity: PeerIdentity, settings: PeerSettings = testPeerSettings(), delegate: RecordingDelegate = RecordingDelegate()) throws {
        self.delegate = delegate
        network = PeerNetwork(settings: settings, identity: identity, delegate: delegate, logSink: LogSink { _ in })
        address = try network.start()
    }

    var connectedPeers: [String] { network.peers.map(\.nodeId) }
}

/// Polls `condition` every 10 ms for at most `timeout`; returns its last value.
func eventually(timeout: Duration = .seconds(20), _ condition: () -> Bool) -> Bool {
    let start = ContinuousClock.now
    while ContinuousClock.now - start < timeout {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// Stays true for the whole of `duration` (checked every 10 ms).
func holds(for duration: Duration, _ condition: () -> Bool) -> Bool {
    let start = ContinuousClock.now
    while ContinuousClock.now - start < duration {
        if !condition() { return false }
        usleep(10_000)
    }
    return condition()
}

/// A hand-driven peer over a blocking socket: speaks the secure channel (`ChannelPeer`), so
/// tests can lie (wrong key, wrong version) or misbehave (garbage, never reading). Every read is bounded.
final class RawPeer {
    let client: RawClient
    let identity: PeerIdentity
    let peer: ChannelPeer

    convenience init(to address: SocketAddress, identity: PeerIdentity, signingKey: KeyPair? = nil, version: UInt16 = PeerLimits.channelVersion) throws {
        try self.init(client: RawClient(address), identity: identity, signingKey: signingKey, version: version)
    }

    init(client: RawClient, identity: PeerIdentity, signingKey: KeyPair? = nil, version: UInt16 = PeerLimits.channelVersion) {
        self.client = client
        self.identity = identity
        peer = ChannelPeer(fd: client.fd, context: ChannelPeer.context(for: identity, signingKey: signingKey, version: version))
    }

    func send(_ message: PeerMessage) { peer.send(message) }
    func readMessage(timeout: Duration = .seconds(20)) -> PeerMessage? { peer.readMessage(timeout: timeout) }
    func readBye(timeout: Duration = .seconds(20)) -> String? { peer.readBye(timeout: timeout) }

    /// Completes the handshake (channel, then peers both ways); true when the other side accepted us.
    func handshake() -> Bool {
        guard peer.openChannel(), case .peers? = readMessage() else { return false }
        send(.peers([]))
        return true
    }
}
