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
    /// This node ID, with this key, answered when this node dialled an address it was given (at
    /// start, by the operator, or the registry's list): one of the peers it was told to join,
    /// not one that merely reached it or was gossiped. As of the message this info comes with.
    public var isGivenPeer = false
    /// The incarnation its auth frame carried, signed with its node key (protocol version 3);
    /// nil from a version-2 peer, which carries none (the fence counts it as 0).
    public var incarnation: UInt64?
}

/// The node's side of the peer network. Callbacks come on the network's loop thread, one at a
/// time: keep them cheap and hand real work to another queue.
public protocol PeerDelegate: Sendable {
    /// Decides what an authenticated key may do.
    func authorize(nodeId: String, nodeKey: PublicKey) -> PeerAccess
    /// Both sides are authenticated; application messages may flow. Once per peer until it disconnects.
    func peerConnected(_ peer: PeerInfo)
    /// The peer's only connection closed. `closedByPeer`: the other end closed it (end of stream,
    /// TCP reset, close frame or bye: a killed process's sockets close at once), not this node
    /// after silence or a broken rule; the runtime takes a leader's closed link as the leader gone.
    func peerDisconnected(nodeId: String, reason: String, closedByPeer: Bool)
    /// An application message (raft, getBlocks, blocks, txs, txsResult, join, joinResult) from `peer`.
    func received(_ message: PeerMessage, from peer: PeerInfo)
    /// Our chain height, sent in hello and pings.
    func localHeight() -> UInt64
    /// A handshake failed, refused by either side, with the reason (also logged). Default: nothing.
    func peerRefused(remote: String, nodeId: String?, reason: String)
    /// An established peer's message was ignored or its connection closed by a rule (`reason`
    /// is a short stable label, e.g. `join_throttled`), with a human detail. Default: nothing.
    func peerRuleHit(nodeId: String, reason: String, detail: String)
    /// The cluster's members now (empty while unknown): the incarnation fence keeps entries for
    /// these only (`IncarnationFence`).
    func memberIds() -> Set<String>
    /// A newer copy of this node runs (a peer link showed its signed incarnation): this copy must
    /// stop. Called once; the network refuses every link from then on.
    func superseded(by proof: IncarnationProof)
}

/// Who the peer proved to be in its channel auth frame (SecureChannel), kept per connection.
struct PeerHello: Sendable, Equatable {
    var chainId: String
    var genesisHash: Hash32
    var nodeId: String
    var nodeKey: PublicKey
    var p2pAddr: String
    var apiAddr: String
    var height: UInt64
    /// Its incarnation (0 from a version-2 peer) and, from a version-3 peer, the signed proof.
    var incarnation: UInt64
    var proof: IncarnationProof?

    var claim: IncarnationClaim { IncarnationClaim(nodeId: nodeId, nodeKey: nodeKey, incarnation: incarnation, proof: proof) }
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
