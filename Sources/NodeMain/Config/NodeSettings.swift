import Chain
import NodeCore

/// Everything a node needs to run, with every default written once, here (config.toml documents
/// the same values). Units are in the names.
struct NodeSettings: Sendable {
    /// The longest a clean stop of a leader may take by these settings: the leadership transfer's
    /// wait, then the hand-over of its stranded transfers. The registry's provider must give a
    /// node longer than this before it kills it (`[registry] node_stop_grace_s`).
    var worstCaseStopMs: Int { consensus.stopTransferWaitMs + api.strandedHandOverWaitMs }

    struct Node: Sendable {
        var id = "node1"
        var dataDir = "./data/node1"
        var logLevel = "info"
        /// The incarnation its provider started this copy with (fencing); 0: started by hand.
        var incarnation: UInt64 = 0
    }

    struct API: Sendable {
        var addr = "127.0.0.1:8080"
        /// The address others (peers, the registry, clients it redirects) use for this API;
        /// empty: the bound address. Set it when listening on 0.0.0.0 (e.g. "node2:8080").
        var advertise = ""
        /// Largest body of a single request (`/submit-tx` and everything else).
        var maxBodyBytes = 1 << 20
        /// Largest body of `/submit-txs` (a batch).
        var maxBatchBodyBytes = 16 << 20
        /// Most transactions in one `/submit-txs` batch.
        var maxBatchTxs = 10_000
        /// How long `?wait=commit` waits before answering 504 `commit_timeout`.
        var commitWaitMs = 30_000
        /// A follower holding a `?wait=commit` transfer whose leader is gone (or unknown) hands it
        /// to the next leader; when none takes it within this long it answers 503 `leader_lost`.
        var leaderWaitMs = 5_000
        /// A leader that stops hands what it accepted and did not commit to the next leader,
        /// waiting at most this long for one (default 5 s; not in config.toml: a stop-time bound).
        var strandedHandOverWaitMs = 5_000
        /// A follower forwards submissions to the leader over the peer link and answers its
        /// caller when the leader does; without an answer within this long it answers 504
        /// `leader_timeout`.
        var forwardTimeoutMs = 10_000
        /// Forwards to the leader waiting for its answer on this node, at most; beyond it a
        /// submission gets 503 `overloaded` at once.
        var maxForwardsInFlight = 4_096
        /// Event-loop threads serving HTTP.
        var threads = 1
        /// Requests waiting for or running on the API's work queue (everything but the cheap
        /// inline routes); beyond it a request gets 503 `overloaded` at once.
        var maxQueuedRequests = 1_024
        /// Open HTTP connections from one client IP; more are closed at accept (503).
        var maxConnectionsPerAddress = 1_024
        /// Request body bytes held at once across all HTTP connections; a request that would
        /// exceed it gets 503 `overloaded` and its connection closes.
        var maxBodyBytesInFlight = 256 << 20

        /// A deposed leader offers the transfers stranded in its mempool to the new leader this
        /// often (internal: 250 ms, a few passes per election timeout).
        static let strandedPassIntervalMs = 250
        /// An offer of stranded transfers unanswered this long counts as not taken; the next pass
        /// offers them again (internal: 2 s, well beyond a leader's answer on a live link).
        static let strandedRequestTimeoutMs = 2_000
        /// Forwarded `?wait=commit` transfers whose leader changed are looked at this often
        /// (internal: 100 ms, a Raft tick).
        static let forwardedSweepIntervalMs = 100
        /// A re-offer of a forwarded transfer to a new leader unanswered this long counts as not
        /// taken and the next sweep tries again (internal: 2 s, below `leaderWaitMs`, so
        /// `leader_wait_ms` still bounds the caller's wait).
        static let reforwardTimeoutMs = 2_000
    }

    /// The `[p2p]` section (named apart from the P2P module).
    struct PeerNetwork: Sendable {
        var addr = "127.0.0.1:6000"
        /// The address peers dial; defaults to `addr` (set it when listening on 0.0.0.0).
        var advertise = ""
        var peers: [String] = []
        /// Ask the cluster to add this (fresh) node instead of starting a new cluster.
        var join = false
        /// Shared secret a non-member must prove (HMAC over the handshake nonces) to ask to join.
        var clusterToken = ""
        /// Inbound connections from one IP still in the handshake; more are closed at accept.
        var maxHandshakesPerAddress = 16
        /// Bytes a peer may send before its auth is verified; more and it is dropped.
        var maxPreAuthBytes = 16 << 10
        /// `getBlocks` and `join` requests from peers waiting to be served; more are ignored
        /// (the asker retries, as after a lost message).
        var maxPendingPeerRequests = 64
        /// Of those, from one peer; more from it are ignored, and what it has waiting is skipped
        /// once it disconnects.
        var maxPendingRequestsPerPeer = 8
        /// Raft messages from one peer waiting for their entries to be checked (`EntryDoor`);
        /// more are dropped (Raft retries, as after a lost message).
        var maxQueuedRaftPerPeer = 1_024
        /// Block sync: a `getBlocks` unanswered this long is given up, and the height its peer
        /// claims no longer counts towards the sync target...
        var syncRequestTimeoutMs = 3_000
        /// ...for this long (a peer claiming a height it does not serve cannot pin a follower
        /// in block sync).
        var syncIgnorePeerMs = 60_000
        /// Block sync: `verify` checks every transfer signature of every synced block again;
        /// `trust_leader_signed` trusts those inside blocks signed by the leader of their term
        /// (a voter; what it trusts: `SyncTransferSignatures`). Default `verify`.
        var syncTransferSignatures = SyncTransferSignatures.verify
        /// A connection admitted only to ask to join is closed this long after its handshake,
        /// unless its node became a member meanwhile.
        var joinOnlyTimeoutMs = 60_000
        /// Peer addresses remembered for dialling; when full, a learned (gossiped) one that is
        /// not connected is forgotten for a new one, the one failing longest first.
        var maxKnownAddresses = 256
        /// Shortest time between two `join` messages from one connection; sooner ones are ignored.
        var minJoinIntervalMs = 500
        /// Forwarded transfers (`txs` requests) from one peer waiting for or being served by this
        /// leader; a request beyond it is answered `overloaded` at once.
        var maxForwardedTxsPerPeer = 60_000
        /// A node started with `join` asks the cluster to add it this often until it is a member
        /// (default 1 s: a lost request costs a second; above `min_join_interval_ms`, so members
        /// let every one through).
        var joinRetryMs = 1_000

        /// A block-synced block's signature check not finished after this long is given up and
        /// the runtime verifies the block itself (internal: 60 s, a stuck worker pool only).
        static let syncSignatureWaitLimitS = 60
        /// A join a follower relayed to the leader is remembered this long for the leader's
        /// answer (internal: ten of the newcomer's retries at the default `joinRetryMs`; a
        /// forgotten relay costs nothing but the newcomer's next request).
        static let joinRelayTtlMs = 10_000
        /// One log line per (reason, peer) of refused peer connections at most this often
        /// (internal: a log throttle, so a peer repeating itself cannot flood the log).
        static let refusalLogIntervalMs = 5_000
    }

    /// The `[consensus]` section (named apart from the Consensus module).
    struct Raft: Sendable {
        /// Raft tick; heartbeats go out every tick.
        var heartbeatMs = 100
        /// Followers start an election after this long without a leader (randomized up to 2x).
        var electionTimeoutMs = 1_000
        /// A voter whose link to its leader closes (end of stream or reset, not silence) starts a
        /// pre-vote after a delay in [min, max] instead of an election timeout, spread by the
        /// voters' order so the survivors ask in turn (default 10 to 210 ms; RuntimeCoreSettings).
        var leaderLinkClosedElectionMinMs = 10
        var leaderLinkClosedElectionMaxMs = 210
        /// A block is cut when transactions wait and this long has passed since the last one...
        var blockIntervalMs = 10
        /// ...or as soon as this many transactions wait.
        var maxBlockTxs = 2_000
        /// Blocks proposed but not yet committed, at most.
        var maxInflightBlocks = 8
        /// Voters the cluster aims for (promotions stop there).
        var voters = 3
        /// A learner must stay caught up this long before the leader promotes it (default 300 ms,
        /// three Raft ticks: a guard against a syncing learner that touched the head once; counted
        /// while the voters are full too, so it rarely delays a replacement).
        var promotionStabilizationMs = 300
        /// A leader that stops first hands leadership to the most up-to-date voter and waits at
        /// most this long for it to move (default 3 s: beyond the two election
        /// timeouts after which the core gives a transfer up, so the core's answer normally ends
        /// the wait; keep it below the provider's stop grace period, or the node is killed mid-way).
        var stopTransferWaitMs = 3_000
        /// Whether followers verify every transfer signature of the blocks the leader replicates
        /// (`verify`, the default) or trust those of blocks signed by the leader of their current
        /// term (`trust_leader_signed`; what that trusts: `ReplicatedTransferSignatures`).
        var replicatedTransferSignatures = ReplicatedTransferSignatures.verify

        /// One log line per kind of refused Raft message or evidence of a faulty member at most
        /// this often (internal: a log throttle; every occurrence is still counted in the metrics).
        static let peerFaultLogIntervalMs = 1_000
        /// A replicated entry's check started ahead and not finished after this long is given up
        /// and the runtime checks the entry itself (internal: 60 s, a stuck worker pool only).
        static let entryCheckWaitLimitS = 60
    }

    /// How long the runtime thread sleeps between rounds when nothing wakes it (internal: none of
    /// these is a timeout anything depends on; each only bounds a wait for work).
    enum RuntimeWaits {
        /// The shortest sleep between two rounds (100 µs): a tick or block due now still yields
        /// the CPU once instead of spinning.
        static let minWaitUs: UInt64 = 100
        /// The shortest sleep while a refused write waits for its retry (1 ms), so a retry due now
        /// does not spin.
        static let stalledWriteMinWaitMs: UInt64 = 1
        /// The longest sleep (1 s), so a stop or a missed wake-up is noticed within a second.
        static let maxWaitMs: UInt64 = 1_000
        /// How often a stopping leader that handed leadership on looks whether it has heard from
        /// the new leader yet (5 ms; the whole wait is bounded by `stop_transfer_wait_ms`).
        static let stopLeaderPollMs: UInt64 = 5
    }

    struct Storage: Sendable {
        /// Anything but `.full` may lose acknowledged commits on power loss; refused at start
        /// unless `allowUnsafeSynchronous` (benchmarks only).
        var synchronous: DatabaseOptions.Synchronous = .full
        var allowUnsafeSynchronous = false
        /// The start-up check of the database (last 64 blocks, quick_check for at most 10 s).
        var check = StoreCheckSettings()

        /// A write the disk refused is tried again after 50 ms, then after twice as long each
        /// time... (internal: soon at first, so a brief fault costs little)
        static let writeRetryFirstDelayMs: UInt64 = 50
        /// ...but never more than 2 s apart, so a node recovers within 2 s of space coming back.
        static let writeRetryMaxDelayMs: UInt64 = 2_000
    }

    struct Registry: Sendable {
        /// Registry URLs (env REGISTRY_URL, comma-separated). Empty: no registry; static peers only.
        var urls: [String] = []
        var strategy = "round_robin"
        var heartbeatMs = 500
    }

    var node = Node()
    var registry = Registry()
    var api = API()
    var p2p = PeerNetwork()
    var consensus = Raft()
    var mempool = MempoolSettings()
    var storage = Storage()
    var genesis = GenesisSpec.development
}
