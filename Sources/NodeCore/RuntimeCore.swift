import Chain
import Consensus

/// An event from outside the runtime core, as its shell received it.
public enum RuntimeCoreEvent: Sendable {
    case raft(Message)
    /// A fresh node asks to be added (directly, or relayed by the member `from`).
    case join(nodeId: String, nodeKey: PublicKey, from: String)
    /// An operator's (or the registry's) membership change; answered by `answerMembership`.
    case membership(MembershipChange, request: UInt64)
    /// Hand leadership to `to` (nil: the most caught-up voter); answered by `answerTransfer`.
    case transferLeadership(to: String?, request: UInt64)
    /// Blocks a peer sent in answer to a sync request.
    case blocks([Block], from: String)
    /// A member's claimed committed height.
    case peerHeight(String, UInt64)
    /// The authenticated link to this member closed (end of stream or reset, not silence).
    case peerLinkClosed(String)
    /// An authenticated link to this member opened.
    case peerLinkOpened(String)
    /// An answer to this node's own join request, from the peer `from`, which the shell found at
    /// an address this node was told to join (given at start, by the operator or the registry),
    /// with the key it had there. `leaderHint`: the leader that answered, when `from` relayed it.
    case joinAnswered(from: String, accepted: Bool, leaderHint: String?)
}

/// The node runtime's decisions as a value: the Raft core, the blocks this node has in flight
/// and the speculative state they make, block cutting, term-start blocks, learner promotion,
/// joins, block sync, leadership hand-over. No thread, no clock, no disk, no network: events come
/// in with the time they happen at (`RuntimeTime`), and every call returns the effects the shell
/// must perform, in order (`RuntimeEffect`). Reads of committed state go through `BlockStore`
/// and `CoreReads`, which the shell keeps current as it performs `persist` and `publish`.
///
/// The round contract, after etcd/raft's Ready/Advance: a list of effects ends with at most one
/// `persist`; once it is durable the shell calls `persisted(now:)`, performs those effects
/// (messages out, blocks published), then calls `applied(now:)`. Between a `persist` and
/// `applied`, only `blocks`, `peerHeight` and `joinAnswered` events may be handed in (a stalled write).
public struct RuntimeCore<Store: BlockStore> {
    /// What a `persist` finishes once durable.
    enum PendingWrite {
        case round(Ready, records: [LogRecord], committed: [CommittedBlock], startedNs: UInt64)
        case synced([CommittedBlock], startedNs: UInt64)
        /// Persisted and published; `applied` advances the Raft core.
        case applying(Ready, committed: [CommittedBlock])
        case appliedSynced
    }

    public let settings: RuntimeCoreSettings
    public let store: Store
    public let view: RaftLogView<Store>
    let reads: any CoreReads
    let signer: BlockSigner
    public internal(set) var raft: RaftCore<RaftLogView<Store>>
    /// Fresh node that starts a new cluster (proposes the bootstrap block as its first act).
    public internal(set) var bootstrapping: Bool
    /// Fresh node that asks the cluster to add it (`--join`), until it is a member.
    public internal(set) var joining: Bool
    /// Blocks in the log above the committed head, executed, by height (our proposals and, after
    /// an election, the earlier leader's uncommitted ones).
    public internal(set) var inflight: [UInt64: CommittedBlock] = [:]
    /// Account values after executing every in-flight block on top of committed state.
    var speculative: [Address: Account] = [:]
    /// The membership after every in-flight block.
    public internal(set) var specMembership: ClusterMembership
    public internal(set) var specHead: (height: UInt64, hash: Hash32, stateRoot: Hash32, timestamp: UInt64)
    var lastCutNs: UInt64 = 0
    public internal(set) var sync: BlockSync
    var caughtUpSinceNs: [String: UInt64] = [:]
    var lastJoinAttemptNs: UInt64 = 0
    var lastEvictionNs: UInt64 = 0
    var transferWaiters: [(deadlineNs: UInt64, request: UInt64)] = []
    var pendingWrite: PendingWrite?
    /// When the pre-vote after the leader's link closed is due (`leaderLinkElectionDue(now:)`).
    public internal(set) var leaderLinkElectionAtNs: UInt64?
    /// Set by a `halt` effect: the core does nothing more.
    public private(set) var halted = false

    /// Bugs a test may plant in the core to show that the simulator finds them (never set outside tests).
    enum PlantedBug {
        /// Cutting executes candidates on committed state only, ignoring the blocks in flight.
        case cutIgnoresSpeculation
    }

    var plantedBug: PlantedBug?

    /// `raftSettings.id` must be `settings.nodeId`. A node with an empty chain that does not join
    /// bootstraps a cluster of its own.
    public init(settings: RuntimeCoreSettings, raftSettings: RaftSettings, store: Store, reads: any CoreReads,
                signer: BlockSigner, joining: Bool) throws {
        precondition(raftSettings.id == settings.nodeId, "one node ID for the runtime and its Raft core")
        self.settings = settings
        self.store = store
        self.reads = reads
        self.signer = signer
        bootstrapping = store.headHeight == 0 && !joining
        // A joining node keeps asking until its own addition is stored, even after a restart on
        // blocks it synced before it was added (the healing simulator found one stuck outside).
        self.joining = joining && !store.membership.contains(settings.nodeId)
        var membership = RaftMembership(voters: Set(store.membership.voters), learners: Set(store.membership.learners))
        if bootstrapping { membership = RaftMembership(voters: [settings.nodeId], learners: []) }
        view = try RaftLogView(store: store, membership: membership, signer: signer)
        raft = RaftCore(settings: raftSettings, storage: view, appliedIndex: store.headHeight)
        specMembership = store.membership
        specHead = (store.headHeight, store.headHash, store.headStateRoot, 0)
        sync = BlockSync(requestTimeoutNs: UInt64(settings.syncRequestTimeoutMs) * 1_000_000,
                         ignorePeerNs: UInt64(settings.syncIgnorePeerMs) * 1_000_000,
                         expectedTransfersPerBlock: settings.maxBlockTxs)
    }

    public var status: RaftStatus { raft.status }
    public var isLeader: Bool { raft.role == .leader }
    /// True while a `persist` (or the `applied` after it) is outstanding.
    public var isWriting: Bool { pendingWrite != nil }

    /// The first act of a started node: a bootstrapping node, or the only voter, campaigns.
    public mutating func start(now: RuntimeTime) {
        view.wallClockMs = now.wallMs
        if bootstrapping { raft.campaign() }
        if store.membership.voters == [settings.nodeId] { raft.campaign() }
    }

    /// One heartbeat tick of the Raft core, then the periodic duties: joining, promotions,
    /// transfer deadlines, mempool housekeeping, status. `connected`: peers linked now, with the
    /// committed height each claims.
    public mutating func tick(now: RuntimeTime, connected: [(id: String, height: UInt64)]) -> [RuntimeEffect] {
        guard !halted else { return [] }
        precondition(pendingWrite == nil, "tick during an unfinished write")
        view.wallClockMs = now.wallMs
        raft.tick()
        var effects: [RuntimeEffect] = []
        let nowNs = now.monotonicNs
        if joining, nowNs - lastJoinAttemptNs >= UInt64(settings.joinRetryMs) * 1_000_000 {
            lastJoinAttemptNs = nowNs
            effects.append(.requestJoin)
        }
        if raft.role == .leader { effects += autoPromote(connected: Set(connected.map(\.id)), now: now) }
        effects += evictStale(nowNs: nowNs)
        let leading = raft.role == .leader
        transferWaiters.removeAll { w in
            if !leading { effects.append(.answerTransfer(request: w.request, true)); return true }
            if nowNs > w.deadlineNs { effects.append(.answerTransfer(request: w.request, false)); return true }
            return false
        }
        effects.append(.publishStatus)
        return effects
    }

    /// Transactions stuck behind a nonce gap for the mempool's TTL leave it (looked for every
    /// `mempoolEvictionIntervalMs`).
    mutating func evictStale(nowNs: UInt64) -> [RuntimeEffect] {
        guard nowNs - lastEvictionNs >= UInt64(settings.mempoolEvictionIntervalMs) * 1_000_000 else { return [] }
        lastEvictionNs = nowNs
        let ttlNs = UInt64(settings.mempoolFutureTtlS) * 1_000_000_000
        guard nowNs > ttlNs else { return [] }
        return [.evictStaleTransactions(arrivedBeforeNs: nowNs - ttlNs)]
    }

    /// Handles one event. While a write is outstanding only `blocks`, `peerHeight` and
    /// `joinAnswered` may come.
    public mutating func handle(_ event: RuntimeCoreEvent, now: RuntimeTime) -> [RuntimeEffect] {
        guard !halted else { return [] }
        view.wallClockMs = now.wallMs
        switch event {
        case .raft(let m):
            precondition(pendingWrite == nil, "raft message during an unfinished write")
            // While block sync writes committed blocks underneath the core, appends would race
            // it; they are dropped (Raft retries) and replication resumes when sync hands over.
            if sync.active, case .append = m.kind {
                // Only a voter (or, before any member is known, an anchor) leads: a commit
                // claimed by anyone else would move the sync target.
                if store.membership.voters.contains(m.from) || raft.isAnchor(m.from) {
                    sync.noteLeaderCommit(m, now: now.monotonicNs)
                }
                return []
            }
            if let reason = raft.step(m) { return [.refused(m, reason)] }
            return []
        case .join(let id, let key, let from):
            precondition(pendingWrite == nil, "join during an unfinished write")
            return answerJoin(id: id, key: key, from: from, now: now)
        case .membership(let change, let request):
            precondition(pendingWrite == nil, "membership change during an unfinished write")
            let (outcome, effects) = proposeMembership(change, now: now)
            return effects + [.answerMembership(request: request, outcome)]
        case .transferLeadership(let to, let request):
            precondition(pendingWrite == nil, "transfer during an unfinished write")
            return transferLeadership(to: to, request: request, now: now)
        case .blocks(let blocks, let from):
            let asked = sync.received(blocks, from: from, now: now.monotonicNs)
            if asked.isEmpty, !blocks.isEmpty { return [.unsolicitedBlocks] }
            // Trusting leader-signed blocks, none is checked ahead: the few that cannot be
            // trusted (known only once in order) are verified when applied.
            guard settings.syncTransferSignatures == .verify else { return [] }
            return [.precheckSyncedBlocks(asked)]
        case .peerHeight(let peer, let height):
            guard mayServeChain(peer) else { return [] }
            sync.observe(peer: peer, height: height, now: now.monotonicNs)
            return []
        case .peerLinkClosed(let peer):
            precondition(pendingWrite == nil, "link event during an unfinished write")
            return leaderLinkClosed(peer, now: now)
        case .peerLinkOpened(let peer):
            precondition(pendingWrite == nil, "link event during an unfinished write")
            return leaderLinkOpened(peer)
        case .joinAnswered(let from, let accepted, let leaderHint):
            return joinAnswered(from: from, accepted: accepted, leaderHint: leaderHint)
        }
    }

    /// A node that knows no members yet takes Raft messages and blocks only from its anchors:
    /// the peers it was told to join that accepted it, and the leader they named. Anyone else
    /// could hand it junk to commit (a halt) or a chain of their own.
    mutating func joinAnswered(from: String, accepted: Bool, leaderHint: String?) -> [RuntimeEffect] {
        guard accepted, knowsNoMembers else { return [] }
        for anchor in [from] + (leaderHint.map { [$0] } ?? []) { raft.trustBeforeMembership(anchor) }
        return [.log(.info, "join accepted: following the cluster's leader", ["from": from, "leader": leaderHint ?? from])]
    }

    /// True before the bootstrap block is stored (a fresh `--join` node).
    var knowsNoMembers: Bool { store.membership.voters.isEmpty }

    /// Whether `peer`'s claimed height and blocks may be used: any member's once this node knows
    /// the membership (the blocks are checked against it), only an anchor's before.
    func mayServeChain(_ peer: String) -> Bool { !knowsNoMembers || raft.isAnchor(peer) }

    func haltEffects(_ reason: String) -> [RuntimeEffect] {
        [.log(.error, "HALT: consensus state cannot be trusted; stopping the node", ["reason": reason]), .halt(reason)]
    }

    mutating func halt(_ reason: String) -> [RuntimeEffect] {
        halted = true
        return haltEffects(reason)
    }
}
