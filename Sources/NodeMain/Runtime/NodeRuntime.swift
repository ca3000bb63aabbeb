import Chain
import Consensus
import Dispatch
import FoundationEssentials
import Glibc
import NodeCore
import Synchronization

/// The imperative shell around the consensus core. One thread (`RuntimeLoop.run`) owns the store
/// and the Raft core; it turns each `Ready` into one durable SQLite write, applied blocks and
/// peer messages, cuts blocks when this node leads, and block-syncs when it is far behind.
/// Other threads talk to it only through `post(_:)`/`wake()` and the thread-safe `NodeState`.
final class NodeRuntime: Sendable {
    let state: NodeState
    let metrics: NodeMetrics
    let nodeId: String
    /// How long `stop` waits for leadership to move (`[consensus] stop_transfer_wait_ms`).
    let stopTransferWaitMs: Int
    let transport: Mutex<(any ClusterTransport)?>
    /// Signature checks of block-synced blocks, started as they arrive (on the network's thread).
    let syncSignatures: SyncSignatures
    /// Replicated blocks, decoded and signature-checked ahead of their commit.
    let entryChecks: EntryChecks
    /// Whether the disk takes writes (degraded read-only while it does not).
    let storage = StorageHealth()
    /// Evidence of faulty members the core kept: how many, and the latest (told to the registry).
    let evidence = Mutex<(count: UInt64, latest: Evidence?)>((0, nil))
    /// Whether an admitted transfer wakes the runtime now (`transfersAdmitted`).
    let arrivals = ArrivalWake()
    private let wakeSignal = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private let statusBox: Mutex<RuntimeStatus>
    private let inbox = Mutex<[RuntimeEvent]>([])
    private let loop: Mutex<RuntimeLoop?>
    private let finished = DispatchSemaphore(value: 0)
    /// Events waiting for the runtime thread, at most; beyond it peer messages are dropped
    /// (Raft tolerates that like network loss) and operator requests are refused.
    static let maxInboxEvents = 65_536

    init(settings: NodeSettings, store: ChainStore, nodeKey: KeyPair, state: NodeState, metrics: NodeMetrics, joining: Bool) throws {
        self.state = state
        self.metrics = metrics
        nodeId = settings.node.id
        stopTransferWaitMs = settings.consensus.stopTransferWaitMs
        transport = Mutex(nil)
        let checks = EntryChecks(trustLeaderSigned: settings.consensus.replicatedTransferSignatures == .trustLeaderSigned,
                                 verifiedMetric: metrics.replicatedSignaturesVerified)
        let signatures = SyncSignatures()
        entryChecks = checks
        syncSignatures = signatures
        var raft = RaftSettings(id: settings.node.id, randomSeed: UInt64.random(in: 1...UInt64.max))
        raft.electionTimeoutTicks = max(2, settings.consensus.electionTimeoutMs / max(1, settings.consensus.heartbeatMs))
        raft.heartbeatIntervalTicks = 1
        raft.maxInflightAppends = settings.consensus.maxInflightBlocks * 4
        raft.maxEntriesPerAppend = 16
        let core = try RuntimeCore(settings: RuntimeCoreSettings(node: settings), raftSettings: raft, store: store,
                                   reads: NodeCoreReads(state: state, entryChecks: checks, syncSignatures: signatures),
                                   signer: BlockSigner(key: nodeKey), joining: joining)
        statusBox = Mutex(RuntimeStatus(role: .follower, term: 0, leader: nil, commitIndex: store.headHeight,
                                        lastIndex: core.view.lastIndex, membership: store.membership, syncTarget: 0, syncing: false,
                                        progress: [:]))
        loop = Mutex(RuntimeLoop(settings: settings, store: store, core: core))
    }

    var status: RuntimeStatus { statusBox.withLock { $0 } }

    func attach(_ t: any ClusterTransport) { transport.withLock { $0 = t } }

    /// Starts the runtime thread.
    func start() {
        let started = PosixThread.start(name: "runtime") { [self] in
            guard var l = loop.withLock({ $0.take() }) else { preconditionFailure("runtime started twice") }
            l.run(runtime: self)
            finished.signal()
        }
        precondition(started, "no thread for the runtime")
    }

    /// Hands an event to the runtime thread; false when the inbox is full.
    @discardableResult
    func post(_ event: RuntimeEvent) -> Bool {
        let accepted = inbox.withLock { q -> Bool in
            guard q.count < Self.maxInboxEvents else { return false }
            q.append(event)
            return true
        }
        if accepted { wakeSignal.signal() }
        return accepted
    }

    fileprivate func drainInbox() -> [RuntimeEvent] { inbox.withLock { q in defer { q.removeAll(keepingCapacity: true) }; return q } }

    /// Asks the runtime to look at the mempool now rather than at its next tick.
    func wake() { wakeSignal.signal() }

    /// Transfers entered the mempool: wakes the runtime only when it sleeps with none ready (a
    /// block may then be due at once); otherwise it wakes by itself when the next block is due.
    func transfersAdmitted() { if arrivals.arrived() { wakeSignal.signal() } }

    /// Stops the runtime; a leader first hands leadership to the most up-to-date voter and keeps
    /// running until it hears from the new leader, waiting at most `stopTransferWaitMs` in all.
    /// (The transfer is done once this node steps down, before the new leader's first message:
    /// the hand-over of its stranded transfers that follows needs that leader's name, and a
    /// runtime stopped earlier never learns it. Found under CPU load: 50 accepted transfers
    /// were dropped at a SIGTERM.)
    func stop(transferFirst: Bool = true) {
        if transferFirst, status.role == .leader, status.membership.voters.count > 1 {
            let deadline = DispatchTime.now() + .milliseconds(stopTransferWaitMs)
            let done = DispatchSemaphore(value: 0)
            if post(.transferLeadership(to: nil, done: { _ in done.signal() })), done.wait(timeout: deadline) == .success {
                while DispatchTime.now() < deadline, !knowsAnotherLeader(status) {
                    usleep(UInt32(NodeSettings.RuntimeWaits.stopLeaderPollMs * 1_000))
                }
            }
        }
        stopping.store(true, ordering: .sequentiallyConsistent)
        wakeSignal.signal()
        finished.wait()
    }

    var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    /// True when `status` names a leader other than this node (or this node leads again).
    func knowsAnotherLeader(_ status: RuntimeStatus) -> Bool {
        status.role == .leader || (status.leader.map { $0 != nodeId } ?? false)
    }

    /// Sleeps until woken or `timeoutNs` passed, at most `RuntimeWaits.maxWaitMs`.
    func waitForWork(timeoutNs: UInt64) {
        let capNs = NodeSettings.RuntimeWaits.maxWaitMs * 1_000_000
        _ = wakeSignal.wait(timeout: .now() + .nanoseconds(Int(min(timeoutNs, capNs))))
    }

    func takeEvents() -> [RuntimeEvent] { drainInbox() }

    /// True when events wait in the inbox (each was signalled, so `waitForWork` returns at once).
    var hasEvents: Bool { inbox.withLock { !$0.isEmpty } }

    func publish(_ snapshot: RuntimeStatus) { statusBox.withLock { $0 = snapshot } }
}

/// What other threads may ask of the runtime thread.
enum RuntimeEvent: Sendable {
    case raft(Message)
    case join(nodeId: String, nodeKey: PublicKey, from: String)
    case membership(MembershipChange, reply: @Sendable (MembershipOutcome) -> Void)
    case transferLeadership(to: String?, done: @Sendable (Bool) -> Void)
    case blocks([Block], from: String)
    case peerHeight(String, UInt64)
    /// The authenticated link to this member closed (end of stream or reset, not silence).
    case peerLinkClosed(String)
    /// An authenticated link to this member opened.
    case peerLinkOpened(String)
    /// The answer to this node's own join, from a peer it was told to join (`PeerInfo.isGivenPeer`).
    case joinAnswered(from: String, accepted: Bool, leaderHint: String?)
}

/// The runtime core's reads of state the shell keeps: committed accounts and the outcome of
/// signature checks run on other threads.
final class NodeCoreReads: CoreReads {
    let state: NodeState
    let entryChecks: EntryChecks
    let syncSignatures: SyncSignatures

    init(state: NodeState, entryChecks: EntryChecks, syncSignatures: SyncSignatures) {
        self.state = state
        self.entryChecks = entryChecks
        self.syncSignatures = syncSignatures
    }

    func accounts(overlay: [Address: Account]) -> OverlaySource { state.accountSource(overlay: overlay) }

    func takeCheckedEntry(index: UInt64, term: UInt64, data: [UInt8]) -> (block: Block, valid: Bool?)? {
        entryChecks.take(index: index, term: term, data: data)
    }

    func takeSyncedSignatures(_ hash: Hash32) -> Bool? { syncSignatures.take(hash) }
}

extension RuntimeCoreSettings {
    /// The core's settings from the node's `[consensus]`, `[p2p]` and `[mempool]`.
    init(node settings: NodeSettings) {
        self.init(nodeId: settings.node.id, blockIntervalMs: settings.consensus.blockIntervalMs,
                  maxBlockTxs: settings.consensus.maxBlockTxs, maxInflightBlocks: settings.consensus.maxInflightBlocks,
                  voters: settings.consensus.voters, promotionStabilizationMs: settings.consensus.promotionStabilizationMs,
                  electionTimeoutMs: settings.consensus.electionTimeoutMs, syncRequestTimeoutMs: settings.p2p.syncRequestTimeoutMs,
                  syncIgnorePeerMs: settings.p2p.syncIgnorePeerMs, mempoolFutureTtlS: settings.mempool.futureTtlS)
        joinRetryMs = settings.p2p.joinRetryMs
        mempoolEvictionIntervalMs = settings.mempool.evictionIntervalMs
        leaderLinkClosedElectionMinMs = settings.consensus.leaderLinkClosedElectionMinMs
        leaderLinkClosedElectionMaxMs = settings.consensus.leaderLinkClosedElectionMaxMs
        syncTransferSignatures = settings.p2p.syncTransferSignatures
        replicatedTransferSignatures = settings.consensus.replicatedTransferSignatures
    }
}

/// What `/status` and `/members` show of consensus, copied out of the runtime thread.
struct RuntimeStatus: Sendable {
    var role: Role
    var term: UInt64
    var leader: String?
    var commitIndex: UInt64
    var lastIndex: UInt64
    var membership: ClusterMembership
    var syncTarget: UInt64
    var syncing: Bool
    var progress: [String: UInt64]
}

/// The runtime's way out to peers (the peer network in a cluster; nothing on a lone node).
protocol ClusterTransport: Sendable {
    func send(raft message: Message)
    func requestBlocks(from: UInt64, count: Int, peer: String) -> Bool
    /// Tells `peer` (the newcomer `nodeId`, or a member that relayed its join) the outcome.
    func answerJoin(to peer: String, nodeId: String, accepted: Bool, reason: String, leaderHint: String?)
    /// Connected peers with the committed height they last reported.
    func peerHeights() -> [(id: String, height: UInt64)]
}

/// Nanoseconds on a clock that never goes backwards.
func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Milliseconds since the Unix epoch, for block timestamps.
func wallClockMs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1_000 + UInt64(ts.tv_nsec) / 1_000_000
}
