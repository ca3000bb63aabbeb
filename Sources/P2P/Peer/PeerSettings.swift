import Chain

/// Who this node is on the peer network. `nodeId` and `key` must stay the same across restarts
/// (peers recognise a node by them); the hello advertises the rest.
public struct PeerIdentity: Sendable {
    public var nodeId: String
    public var key: KeyPair
    public var chainId: String
    public var genesisHash: Hash32
    /// The address peers should dial to reach us ("host:port"), sent in hello and gossip.
    public var advertisedP2PAddr: String
    /// Our REST API address, sent in the channel auth frame: peers list it (`/peers`, `/members`)
    /// for clients. Nodes never call it (they talk only over the peer link).
    public var apiAddr: String
    /// Mixed into both session keys of every connection, so a peer without it cannot open a
    /// single frame; it never travels.
    public var clusterToken: String?
    /// The incarnation this copy of the node was started with (fencing; `NODE_INCARNATION`, 0
    /// when started by hand): sent, signed, in every auth frame; peers refuse a lower one.
    public var incarnation: UInt64

    public init(nodeId: String, key: KeyPair, chainId: String, genesisHash: Hash32,
                advertisedP2PAddr: String, apiAddr: String, clusterToken: String? = nil, incarnation: UInt64 = 0) {
        precondition(PeerLimits.isValidNodeId(nodeId), "nodeId must match \(NodeIDGrammar.pattern)")
        precondition(!chainId.isEmpty, "chainId must not be empty")
        self.nodeId = nodeId
        self.key = key
        self.chainId = chainId
        self.genesisHash = genesisHash
        self.advertisedP2PAddr = advertisedP2PAddr
        self.apiAddr = apiAddr
        self.clusterToken = clusterToken
        self.incarnation = incarnation
    }
}

/// Limits and timings of the peer network. Every default is written here once.
public struct PeerSettings: Sendable {
    /// Where to accept peers. Default 0.0.0.0:6000 (DESIGN §7).
    public var listenAddress: SocketAddress
    /// Addresses dialled at start and redialled for as long as the network runs. Default none.
    public var staticPeers: [SocketAddress] = []
    /// Longest line (one message) accepted or sent, newline excluded. Default 16 MiB.
    public var maxLineBytes = 16 << 20
    /// Unsent bytes one peer may hold; a peer whose queue overflows is dropped. Default 64 MiB.
    public var maxWriteQueueBytes = 64 << 20
    /// Bytes handed to `send`/`broadcast` from other threads and not yet queued on a connection;
    /// above it `send` returns false instead of growing the loop's task queue. Default 256 MiB.
    public var maxPendingSendBytes = 256 << 20
    /// From TCP connect (or accept) to both sides authenticated. Default 5 s.
    public var handshakeTimeout: Duration = .seconds(5)
    /// How often an idle established peer is pinged. Default 1 s.
    public var pingInterval: Duration = .seconds(1)
    /// A peer that sends nothing for this long is closed. Default 5 s.
    public var peerDeadAfter: Duration = .seconds(5)
    /// First redial delay after a failure; doubles per failure. Default 100 ms.
    public var reconnectBackoffInitial: Duration = .milliseconds(100)
    /// Largest redial delay; also used after a peer refused us (wrong chain). Default 5 s.
    public var reconnectBackoffMax: Duration = .seconds(5)
    /// Random spread applied to every redial delay, as a fraction (0.2 = ±20 %). Default 0.2.
    public var reconnectJitterFraction = 0.2
    /// Connections (handshaking or established, both directions) held at once. Default 64.
    public var maxPeers = 64
    /// Addresses remembered for dialling (static, advertised, gossiped); when full, a gossiped
    /// one not connected is evicted for a new one, the one failing longest first. Default 256.
    public var maxKnownAddresses = 256
    /// Inbound connections from one IP address that have not finished the handshake; more are
    /// closed at accept (a stranger cannot hold every `maxPeers` slot). Default 16.
    public var maxHandshakesPerAddress = 16
    /// Bytes a peer may send before its auth is verified (a handshake needs at most 1,242: the
    /// 38-byte preamble and an auth frame of at most 1,204); more and it is dropped. Default 16 KiB.
    public var maxPreAuthBytes = 16 << 10
    /// A connection admitted only to ask to join (`PeerAccess.joinOnly`) is closed this long
    /// after its handshake unless its node became a member meanwhile. Default 60 s.
    public var joinOnlyTimeout: Duration = .seconds(60)
    /// Shortest time between two `join` messages taken from one join-only connection; one sooner
    /// is ignored (a member's joins are relays, not throttled here). Default 500 ms (a joining
    /// node asks once a second).
    public var minJoinInterval: Duration = .milliseconds(500)
    /// TCP connect timeout per dial. Default 3 s.
    public var connectTimeout: Duration = .seconds(3)

    public init(listenAddress: SocketAddress) {
        self.listenAddress = listenAddress
    }

    /// Traps on settings no caller could mean (a programming or config-validation error).
    func validate() {
        precondition(maxLineBytes >= 1024, "maxLineBytes must be at least 1 KiB")
        precondition(maxWriteQueueBytes >= 1024, "maxWriteQueueBytes must be at least 1 KiB")
        precondition(maxPendingSendBytes >= maxLineBytes, "maxPendingSendBytes must hold one line")
        precondition(handshakeTimeout > .zero && pingInterval > .zero && peerDeadAfter > pingInterval,
                     "timeouts must be positive and peerDeadAfter > pingInterval")
        precondition(reconnectBackoffInitial > .zero && reconnectBackoffMax >= reconnectBackoffInitial,
                     "backoff must be positive and max >= initial")
        precondition((0.0..<1.0).contains(reconnectJitterFraction), "jitter must be in [0, 1)")
        precondition(maxPeers >= 1 && maxKnownAddresses >= 1, "maxPeers and maxKnownAddresses must be positive")
        precondition(maxHandshakesPerAddress >= 1, "maxHandshakesPerAddress must be positive")
        precondition(maxPreAuthBytes >= 64, "maxPreAuthBytes must be at least 64 bytes")
        precondition(joinOnlyTimeout > .zero && minJoinInterval >= .zero, "joinOnlyTimeout must be positive")
    }
}

/// Bounds on what one message may carry; a peer exceeding one gets a typed decode error.
public enum PeerLimits {
    /// The highest protocol version this build speaks (3: the secure channel whose auth frame
    /// carries the incarnation; it also speaks 2 with a peer of the previous release).
    public static let protocolVersion: Int64 = 3
    /// The same, as the preamble carries it.
    static let channelVersion = UInt16(protocolVersion)
    /// Longest node id, in UTF-8 bytes.
    public static let maxNodeIdBytes = 128
    /// Longest address or free-text field (reason, addresses), in UTF-8 bytes.
    public static let maxTextBytes = 1024
    /// Most blocks one `getBlocks` may ask for and one `blocks` may carry.
    public static let maxBlocksPerMessage = 512
    /// Most transactions one `txs` message may carry.
    public static let maxTxsPerMessage = 20_000
    /// Most entries one raft append may carry.
    public static let maxEntriesPerAppend = 4_096
    /// Most addresses one `peers` message may carry.
    public static let maxPeersPerGossip = 256

    static func isValidNodeId(_ id: String) -> Bool { NodeIDGrammar.isValid(id) }
}
