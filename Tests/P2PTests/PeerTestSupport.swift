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
    }
    let state = Mutex(State())

    func authorize(nodeId: String, nodeKey: PublicKey) -> PeerAccess { state.withLock { $0.access[nodeId] ?? .member } }
    func peerConnected(_ peer: PeerInfo) { state.withLock { $0.connected.append(peer) } }
    func peerDisconnected(nodeId: String, reason: String) { state.withLock { $0.disconnected.append((nodeId, reason)) } }
    func received(_ message: PeerMessage, from peer: PeerInfo) { state.withLock { $0.received.append((message, peer.nodeId)) } }
    func localHeight() -> UInt64 { 7 }
    func peerRefused(remote: String, nodeId: String?, reason: String) { state.withLock { $0.refused.append(reason) } }

    var connectedIds: [String] { state.withLock { $0.connected.map(\.nodeId) } }
    var refusals: [String] { state.withLock { $0.refused } }
    var disconnects: [String] { state.withLock { $0.disconnected.map(\.reason) } }
    var receivedMessages: [PeerMessage] { state.withLock { $0.received.map(\.message) } }
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
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) -> Bool {
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

/// A hand-driven peer over a blocking socket: speaks the wire format line by line, so tests can
/// lie (wrong key, wrong version) or misbehave (garbage, never reading). Every read is bounded.
final class RawPeer {
    let client: RawClient
    let identity: PeerIdentity
    let nonce = Crypto.randomBytes(32)
    private var buffer: [UInt8] = []

    init(to address: SocketAddress, identity: PeerIdentity) throws {
        client = try RawClient(address)
        self.identity = identity
    }

    init(client: RawClient, identity: PeerIdentity) {
        self.client = client
        self.identity = identity
    }

    func send(_ message: PeerMessage) { client.send(message.encodedLine()) }

    func hello(protocolVersion: Int64 = 1, nodeKey: PublicKey? = nil) -> PeerMessage {
        .hello(PeerHello(protocolVersion: protocolVersion, chainId: identity.chainId, genesisHash: identity.genesisHash,
                         nodeId: identity.nodeId, nodeKey: nodeKey ?? identity.key.publicKey, nonce: nonce,
                         p2pAddr: "127.0.0.1:9", apiAddr: "127.0.0.1:1", height: 3))
    }

    /// The next message, or nil on close, timeout or an undecodable line.
    func readMessage(timeout: Duration = .seconds(5)) -> PeerMessage? {
        let start = ContinuousClock.now
        var chunk = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now - start < timeout {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                return try? PeerMessage.decode(line: line)
            }
            let n = recv(client.fd, &chunk, chunk.count, 0)
            if n <= 0 { return nil }
            buffer.append(contentsOf: chunk[..<n])
        }
        return nil
    }

    /// Reads until a bye arrives (skipping other messages); returns its reason.
    func readBye(timeout: Duration = .seconds(5)) -> String? {
        for _ in 0..<16 {
            guard let message = readMessage(timeout: timeout) else { return nil }
            if case .bye(let reason) = message { return reason }
        }
        return nil
    }

    /// Completes a correct handshake (hello, auth, peers); true when the other side accepted us.
    func handshake(signingKey: KeyPair? = nil) -> Bool {
        send(hello())
        guard case .hello(let theirs)? = readMessage() else { return false }
        let bytes = PeerHandshake.authBytes(genesisHash: identity.genesisHash, peerNonce: theirs.nonce, ownNonce: nonce)
        let mac = identity.clusterToken.map { ClusterMAC.mac(token: $0, message: bytes) }
        send(.auth(signature: (signingKey ?? identity.key).sign(bytes), mac: mac))
        guard case .auth? = readMessage(), case .peers? = readMessage() else { return false }
        send(.peers([]))
        return true
    }
}
