import Chain

/// What a node is allowed to do once authenticated, as the delegate decides from its key.
public enum PeerAccess: Sendable, Equatable {
    /// A cluster member: may send every message.
    case member
    /// Not (yet) a member: may only send `join`; anything else closes the connection.
    case joinOnly
    /// Closed with `bye(reason)`.
    case refuse(reason: String)
}

/// Who opened the TCP connection.
public enum PeerDirection: String, Sendable {
    case inbound, outbound
}

/// A connected, authenticated peer as seen at one moment.
public struct PeerInfo: Sendable, Equatable {
    public var nodeId: String
    public var nodeKey: PublicKey
    public var p2pAddr: String
    public var apiAddr: String
    /// The height from its hello, updated by every ping and pong.
    public var height: UInt64
    public var direction: PeerDirection
    /// False for `.joinOnly` peers.
    public var isMember: Bool
    /// Wall-clock time the handshake finished, milliseconds since the Unix epoch.
    public var connectedSinceUnixMillis: Int64
}

/// The node's side of the peer network. Callbacks come on the network's loop thread, one at a
/// time: keep them cheap and hand real work to another queue.
public protocol PeerDelegate: Sendable {
    /// Decides what an authenticated key may do.
    func authorize(nodeId: String, nodeKey: PublicKey) -> PeerAccess
    /// Both sides are authenticated; application messages may flow. Once per peer until it disconnects.
    func peerConnected(_ peer: PeerInfo)
    /// The peer's only connection closed.
    func peerDisconnected(nodeId: String, reason: String)
    /// An application message (raft, getBlocks, blocks, txs, join, joinResult) from `peer`.
    func received(_ message: PeerMessage, from peer: PeerInfo)
    /// Our chain height, sent in hello and pings.
    func localHeight() -> UInt64
    /// A handshake failed, refused by either side, with the reason (also logged). Default: nothing.
    func peerRefused(remote: String, nodeId: String?, reason: String)
    /// An established peer's message was ignored or its connection closed by a rule (`reason`
    /// is a short stable label, e.g. `join_throttled`), with a human detail. Default: nothing.
    func peerRuleHit(nodeId: String, reason: String, detail: String)
}

/// The first message each side sends.
public struct PeerHello: Sendable, Equatable {
    public var protocolVersion: Int64
    public var chainId: String
    public var genesisHash: Hash32
    public var nodeId: String
    public var nodeKey: PublicKey
    public var nonce: [UInt8]
    public var p2pAddr: String
    public var apiAddr: String
    public var height: UInt64

    public init(protocolVersion: Int64, chainId: String, genesisHash: Hash32, nodeId: String, nodeKey: PublicKey,
                nonce: [UInt8], p2pAddr: String, apiAddr: String, height: UInt64) {
        self.protocolVersion = protocolVersion
        self.chainId = chainId
        self.genesisHash = genesisHash
        self.nodeId = nodeId
        self.nodeKey = nodeKey
        self.nonce = nonce
        self.p2pAddr = p2pAddr
        self.apiAddr = apiAddr
        self.height = height
    }
}

/// One entry of a `peers` gossip message.
public struct PeerAddress: Sendable, Equatable {
    public var nodeId: String
    public var p2pAddr: String
    public var apiAddr: String

    public init(nodeId: String, p2pAddr: String, apiAddr: String) {
        self.nodeId = nodeId
        self.p2pAddr = p2pAddr
        self.apiAddr = apiAddr
    }
}
