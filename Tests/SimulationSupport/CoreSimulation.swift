// The real-core cluster harness the simulators share: every node is the node's own runtime core
// (`RuntimeCore` over an in-memory `MemoryBlockStore`), driven as the node's shell drives it —
// ticks with the peers linked now, Raft messages, write rounds (with crash points), block sync,
// joins, the leader's cutting — on simulated time and a simulated network (SimNetwork). Every
// decision is the core's; this file only performs its effects and checks what every replica
// must agree on. The cluster simulator (ConsensusTests) and the healing simulator
// (HealingSimulatorTests) subclass it and add their faults, their actors and their checks.
import Chain
@testable import Consensus
@testable import NodeCore

/// Where inside a write round a node dies: what was done before stays (in the store, on the wire).
enum RuntimeCrashPoint: CaseIterable {
    case beforePersist, afterPersist, afterSend
}

/// What a node's shell tells its core beyond the store, as the node's entry door does: every
/// transaction signature counts as checked (the simulated transfers are unsigned), and a
/// replicated entry comes decoded. The decoding is shared by the replicas of one run (the node
/// decodes each entry once, ahead, on another thread): a hit is the block of exactly these bytes.
final class SimReads: CoreReads {
    let store: MemoryBlockStore
    let decoded: DecodedBlocks

    init(store: MemoryBlockStore, decoded: DecodedBlocks) {
        self.store = store
        self.decoded = decoded
    }

    func accounts(overlay: [Address: Account]) -> OverlaySource { store.accounts(overlay: overlay) }

    func takeCheckedEntry(index: UInt64, term: UInt64, data: [UInt8]) -> (block: Block, valid: Bool?)? {
        decoded.block(index: index, term: term, data: data).map { ($0, Optional(true)) }
    }

    func takeSyncedSignatures(_ hash: Hash32) -> Bool? { true }
}

/// Blocks decoded from log entries, by (index, term), each with the bytes it was decoded from.
final class DecodedBlocks {
    private var slots: [UInt64: (term: UInt64, data: [UInt8], block: Block)] = [:]

    /// The block these bytes encode, or nil when they do not decode.
    func block(index: UInt64, term: UInt64, data: [UInt8]) -> Block? {
        if let hit = slots[index], hit.term == term, hit.data == data { return hit.block }
        guard let block = try? Block.decode(data) else { return nil }
        slots[index] = (term, data, block)
        return block
    }
}

/// One simulated node: its durable store survives a crash; the core and its outbox do not.
final class RuntimeSimNode {
    let id: String
    let store: MemoryBlockStore
    var core: RuntimeCore<MemoryBlockStore>
    /// Transfers handed to this node (it hands them to its core when it leads).
    var mempool: [Transaction] = []

    init(id: String, store: MemoryBlockStore, decoded: DecodedBlocks, seed: UInt64, voters: Int, joining: Bool,
         plantedBug: RuntimeCore<MemoryBlockStore>.PlantedBug?) throws {
        self.id = id
        self.store = store
        var raft = RaftSettings(id: id, randomSeed: seed)
        raft.electionTimeoutTicks = 10
        raft.maxInflightAppends = 16
        raft.maxEntriesPerAppend = 16
        let settings = RuntimeCoreSettings(nodeId: id, blockIntervalMs: 100, maxBlockTxs: SimChain.maxTxsPerBlock, maxInflightBlocks: 4,
                                           voters: voters, promotionStabilizationMs: 1_000, electionTimeoutMs: 1_000,
                                           syncRequestTimeoutMs: 1_000, syncIgnorePeerMs: 3_000, mempoolFutureTtlS: 600)
        core = try RuntimeCore(settings: settings, raftSettings: raft, store: store, reads: SimReads(store: store, decoded: decoded),
                               signer: BlockSigner(key: SimChain.key(id)), joining: joining)
        core.plantedBug = plantedBug
    }
}

/// A cluster of real runtime cores on simulated time and network, for one seed. Subclasses say
/// which nodes are up (`isUp`), what a crash inside a write round does (`crashedInRound`), the odds
/// of one (`roundCrashPerMille`), and may watch effects and stored blocks (`observe`, `firstStored`).
class CoreSimulation {
    static let tickMs: UInt64 = 100
    var rng: SplitMix64
    var network: SimNetwork
    /// Every node ever created, in creation order (IDs are never reused).
    var ids: [String] = []
    var live: [String: RuntimeSimNode] = [:]
    /// Simulated time, in ticks of `tickMs`.
    var tick: UInt64 = 0
    /// Voters each core aims for (its `consensus.voters`).
    let voterTarget: Int
    let plantedBug: RuntimeCore<MemoryBlockStore>.PlantedBug?
    /// Log entries decoded once for every replica.
    let decoded = DecodedBlocks()
    /// Nodes whose core was called since their last quiet check: only they can have a write round.
    var mayHaveReady: Set<String> = []
    /// Block-sync answers on the wire: (due tick, to, from, blocks).
    var blockReplies: [(due: UInt64, to: String, from: String, blocks: [Block])] = []
    private(set) var violations: [String] = []
    /// Link-closed notices on their way (to, from): a crashed process's sockets close at once, so
    /// each up peer that could talk to it hears of it. A partition or a hang closes nothing.
    var linkCloses: [(to: String, from: String)] = []

    // What every replica must agree on.
    /// Every stored block's hash and term by height, as the first replica stored it.
    var hashAt: [UInt64: Hash32] = [:]
    var termAt: [UInt64: UInt64] = [:]
    var maxStoredHeight: UInt64 = 0
    var leaderOfTerm: [UInt64: String] = [:]

    init(rng: SplitMix64, network: NetworkOdds, voterTarget: Int, plantedBug: RuntimeCore<MemoryBlockStore>.PlantedBug?) {
        self.rng = rng
        self.network = SimNetwork(odds: network)
        self.voterTarget = voterTarget
        self.plantedBug = plantedBug
    }

    var time: RuntimeTime {
        RuntimeTime(monotonicNs: 1_000_000_000 + tick * Self.tickMs * 1_000_000, wallMs: 1_800_000_000_000 + tick * Self.tickMs)
    }

    func chance(_ perMille: UInt64) -> Bool { rng.next() % 1000 < perMille }
    func violate(_ what: String) { violations.append("step \(tick): \(what)") }

    // MARK: hooks

    /// Up: running, not hung. A node that is not up gets no ticks, messages or duties.
    func isUp(_ id: String) -> Bool { live[id] != nil }
    /// Odds of a crash inside each write round now; nil: none (and no draw from the seed).
    var roundCrashPerMille: UInt64? { nil }
    /// A crash inside a write round killed `node`.
    func crashedInRound(_ node: RuntimeSimNode) { crash(node.id) }

    /// `id`'s process is gone: it leaves `live`, and the links of the peers that could reach it
    /// close (delivered as `peerLinkClosed` in the next sub-round).
    func crash(_ id: String) {
        live[id] = nil
        network.dropSent(by: id)
        for peer in ids where peer != id && isUp(peer) && network.canTalk(id, peer) { linkCloses.append((peer, id)) }
    }
    /// Effects the harness does not perform itself (evidence, refusals, answers).
    func observe(_ effect: RuntimeEffect, on node: RuntimeSimNode) {}
    /// A height stored for the first time by any replica, in height order.
    func firstStored(_ block: Block, height: UInt64) {}
    /// A core was (re)started on `node.store`.
    func started(_ node: RuntimeSimNode) {}

    /// The up node `id`, if any.
    func upNode(_ id: String) -> RuntimeSimNode? { isUp(id) ? live[id] : nil }

    // MARK: set-up

    /// Starts `id` on `store` with a fresh core (a restart keeps only the store).
    @discardableResult
    func startCore(_ id: String, store: MemoryBlockStore, joining: Bool) throws -> RuntimeSimNode {
        let node = try RuntimeSimNode(id: id, store: store, decoded: decoded, seed: rng.next(), voters: voterTarget,
                                      joining: joining, plantedBug: plantedBug)
        live[id] = node
        mayHaveReady.insert(id)
        started(node)
        checkStored(store, by: id)
        return node
    }

    /// `first` bootstraps the chain and adds `others` (learner, then promote, as the node does),
    /// on a perfect network with instant delivery; `start` starts a node on the store it is given
    /// (registering it with the subclass). The seed's network odds apply from the first tick.
    func bootstrap(_ first: String, others: [String], start: (String, MemoryBlockStore) throws -> Void) throws {
        let odds = network.odds
        network.odds = NetworkOdds(dropPerMille: 0, duplicatePerMille: 0, maxDelayTicks: 0)
        defer { network.odds = odds }
        try start(first, MemoryBlockStore(genesis: SimChain.genesis, signaturesChecked: true))
        guard let n0 = live[first] else { throw SimSetupError(what: "\(first) did not start") }
        n0.core.start(now: time)
        mayHaveReady.insert(first)
        settleInstantly()
        perform(n0.core.leaderDuties(now: time), on: n0)
        settleInstantly()
        for id in others {
            try askInstantly(MembershipChange(kind: .addLearner, nodeId: id, nodeKey: SimChain.key(id).publicKey), of: n0)
        }
        for id in others {
            if live[id] == nil { try start(id, MemoryBlockStore(copying: n0.store)) }
            try askInstantly(MembershipChange(kind: .promote, nodeId: id), of: n0)
        }
        guard n0.store.membership.voters.count == others.count + 1 else {
            throw SimSetupError(what: "voters \(n0.store.membership.voters)")
        }
    }

    struct SimSetupError: Error { var what: String }

    private func askInstantly(_ change: MembershipChange, of node: RuntimeSimNode) throws {
        let effects = node.core.handle(.membership(change, request: 1), now: time)
        perform(effects, on: node)
        settleInstantly()
        // A heartbeat or two, so the leader probes nodes that started after it first sent to them.
        for _ in 0..<2 {
            tick += 1
            for id in ids { if let n = live[id] { perform(n.core.tick(now: time, connected: connected(id)), on: n) } }
            settleInstantly()
        }
        guard case .answerMembership(_, .proposed)? = effects.last else {
            throw SimSetupError(what: "\(change.kind.name) \(change.nodeId): \(String(describing: effects.last))")
        }
    }

    /// Delivers every message at once until quiet (set-up only).
    private func settleInstantly() {
        for _ in 0..<100 {
            drainAll()
            let due = network.takeDue(now: UInt64.max, rng: &rng)
            if due.isEmpty { return }
            for m in due { deliver(m) }
        }
    }

    // MARK: one step of the cluster

    /// Every up node's tick; with `skewPerMille` (nil: no skew, no draw), a node's tick may be
    /// skipped or doubled (a slow or fast clock, a pause).
    func tickNodes(skewPerMille: UInt64?) {
        for id in ids {
            guard let node = upNode(id) else { continue }
            let ticks = skewPerMille.map { chance($0) } == true ? Int(rng.next() % 3) : 1
            for _ in 0..<ticks where live[id] === node {
                perform(node.core.tick(now: time, connected: connected(id)), on: node)
            }
            noteLeader(node)
        }
    }

    /// Write rounds, leader duties and message delivery until the wire is quiet (at most
    /// `maxSubRounds` deliveries), then block sync.
    func exchange(maxSubRounds: Int) {
        for _ in 0..<maxSubRounds where violations.isEmpty {
            deliverLinkCloses()
            leaderLinkElections()
            drainAll()
            leaderDuties()
            drainAll()
            let due = network.takeDue(now: tick, rng: &rng)
            deliverBlockReplies()
            if due.isEmpty { break }
            for m in due { deliver(m) }
        }
        syncDuties()
        drainAll()
    }

    /// Up peers this node can reach, with the committed height each claims.
    func connected(_ id: String) -> [(id: String, height: UInt64)] {
        ids.compactMap { peer in
            guard peer != id, let node = upNode(peer), network.canTalk(id, peer) else { return nil }
            return (id: peer, height: node.store.headHeight)
        }
    }

    /// The up leader of the highest term, if any.
    var leader: RuntimeSimNode? {
        ids.compactMap { upNode($0) }.filter { $0.core.isLeader }.max { $0.core.raft.currentTerm < $1.core.raft.currentTerm }
    }

    /// Clients send transfers, valid and not, to whichever node leads; the count sent.
    @discardableResult
    func submitTransfers(force: Bool, perMille: UInt64) -> Int {
        guard let leader, force || chance(perMille) else { return 0 }
        let state = leader.core.reads.accounts(overlay: leader.core.speculative)
        let fresh = SimChain.transfers(on: state, count: 1 + Int(rng.next() % 6), rng: &rng)
        leader.mempool += fresh
        return fresh.count
    }

    /// Each up leader's own duties: the bootstrap block, then blocks cut from its mempool.
    func leaderDuties() {
        for id in ids {
            guard let node = upNode(id), node.core.isLeader else { continue }
            perform(node.core.leaderDuties(now: time), on: node)
            while live[id] === node, let max = node.core.cutDemand(readyCount: node.mempool.count, now: time) {
                let taken = Array(node.mempool.prefix(max))
                node.mempool.removeFirst(taken.count)
                let (cut, effects) = node.core.cut(candidates: taken, now: time)
                perform(effects, on: node)
                if !cut { break }
            }
        }
    }

    /// A membership change asked of `node`; the height it was proposed at, if it was.
    func askMembership(_ change: MembershipChange, of node: RuntimeSimNode) -> UInt64? {
        let effects = node.core.handle(.membership(change, request: 1), now: time)
        perform(effects, on: node)
        for case .answerMembership(_, .proposed(let height)) in effects { return height }
        return nil
    }

    func syncDuties() {
        for id in ids {
            guard let node = upNode(id) else { continue }
            for _ in 0..<8 {
                let effects = node.core.syncDuties(connected: connected(id), now: time)
                perform(effects, on: node)
                guard live[id] === node, case .persist = effects.last else { break }
            }
        }
    }

    func deliver(_ m: Message) {
        guard let node = upNode(m.to), network.canTalk(m.from, m.to), !node.core.isWriting else { return }
        perform(node.core.handle(.raft(m), now: time), on: node)
        noteLeader(node)
    }

    func deliverLinkCloses() {
        guard !linkCloses.isEmpty else { return }
        let due = linkCloses
        linkCloses = []
        for notice in due {
            guard let node = upNode(notice.to) else { continue }
            perform(node.core.handle(.peerLinkClosed(notice.from), now: time), on: node)
        }
    }

    /// The pre-vote due first after a leader's link closed, one per sub-round: the delays are
    /// below a step, so sub-rounds stand for the time between them, and a later one is due only
    /// after the earlier one's pre-vote reached its node (a loopback or LAN round trip is far
    /// below the delays' spread), which cancels it.
    func leaderLinkElections() {
        let due = ids.compactMap { id -> (at: UInt64, node: RuntimeSimNode)? in
            guard let node = upNode(id), let at = node.core.leaderLinkElectionAtNs, at <= time.monotonicNs + Self.tickMs * 1_000_000
            else { return nil }
            return (at, node)
        }
        guard let first = due.min(by: { $0.at < $1.at }) else { return }
        first.node.core.leaderLinkElectionDue(now: RuntimeTime(monotonicNs: max(first.at, time.monotonicNs), wallMs: time.wallMs))
        mayHaveReady.insert(first.node.id)
    }

    func deliverBlockReplies() {
        guard !blockReplies.isEmpty else { return }
        let due = blockReplies.filter { $0.due <= tick }
        blockReplies.removeAll { $0.due <= tick }
        for r in due {
            guard let node = upNode(r.to), network.canTalk(r.from, r.to) else { continue }
            perform(node.core.handle(.blocks(r.blocks, from: r.from), now: time), on: node)
        }
    }

    /// Write rounds until every up node is quiet. Only nodes whose core was called since they
    /// were last quiet can have one (`mayHaveReady`), which spares a check of every idle core.
    func drainAll() {
        for id in ids where mayHaveReady.contains(id) {
            guard isUp(id) else { continue }
            var rounds = 0
            while let node = live[id], node.core.hasReady, violations.isEmpty {
                rounds += 1
                precondition(rounds < 1_000, "ready loop does not settle")
                let point = roundCrashPerMille.map { chance($0) } == true ? RuntimeCrashPoint.allCases[Int(rng.next() % 3)] : nil
                perform(node.core.readyRound(now: time), on: node, crash: point)
                noteLeader(node)
            }
            if violations.isEmpty { mayHaveReady.remove(id) }
        }
    }

    // MARK: effects, as the node's shell performs them

    func perform(_ effects: [RuntimeEffect], on node: RuntimeSimNode, crash: RuntimeCrashPoint? = nil) {
        mayHaveReady.insert(node.id)  // every call into a core hands its effects here
        for effect in effects {
            guard live[node.id] === node else { return }  // crashed part-way
            switch effect {
            case .persist(let batch):
                if crash == .beforePersist { return crashedInRound(node) }
                node.store.persist(batch)
                checkStored(node.store, by: node.id)
                if crash == .afterPersist { return crashedInRound(node) }
                perform(node.core.persisted(now: time), on: node)
                if crash == .afterSend { return crashedInRound(node) }
                perform(node.core.applied(now: time), on: node)
            case .send(let messages):
                for m in messages { network.send(m, now: tick, rng: &rng) }
            case .halt(let reason):
                violate("\(node.id) halted: \(reason)")
            case .dropTransactions(let rejected):
                let hashes = Set(rejected.map(\.0.hash))
                node.mempool.removeAll { hashes.contains($0.hash) }
            case .requestJoin:
                for peer in connected(node.id) {
                    guard let other = live[peer.id], !other.core.isWriting else { continue }
                    perform(other.core.handle(.join(nodeId: node.id, nodeKey: SimChain.key(node.id).publicKey, from: node.id),
                                              now: time), on: other)
                }
            case .answerJoin(let peer, _, let accepted, _, let leaderHint):
                // Back to the newcomer that asked (joins go straight to the cluster's nodes here,
                // all of them peers it was told to join): the leader that accepted it becomes the
                // only node a fresh core listens to (RaftCore+Admission.swift).
                observe(effect, on: node)
                if let newcomer = live[peer], !newcomer.core.isWriting, network.canTalk(node.id, peer) {
                    perform(newcomer.core.handle(.joinAnswered(from: node.id, accepted: accepted, leaderHint: leaderHint),
                                                 now: time), on: newcomer)
                }
            case .requestBlocks(let from, let count, let peer):
                if let source = upNode(peer), network.canTalk(node.id, peer) {
                    blockReplies.append((tick + 1 + rng.next() % 2, node.id, peer, source.store.blocks(from: from, count: count)))
                } else {
                    node.core.blockRequestFailed(from: from)
                    mayHaveReady.insert(node.id)
                }
            default:
                observe(effect, on: node)
            }
        }
    }

    // MARK: invariants

    /// Every stored block agrees with every other replica's at its height; supply is conserved.
    func checkStored(_ store: MemoryBlockStore, by id: String) {
        let head = store.headHeight
        var h = head
        while h >= 1 {
            let block = store.blocks[Int(h)]
            let hash = block.hash
            if let known = hashAt[h] {
                if known != hash { violate("\(id) holds block \(hash) at \(h), another replica \(known)") }
                break  // below a known agreeing height everything was checked before
            }
            hashAt[h] = hash
            termAt[h] = block.header.term
            h -= 1
        }
        if head > maxStoredHeight {
            for height in (maxStoredHeight + 1)...head { firstStored(store.blocks[Int(height)], height: height) }
            maxStoredHeight = head
        }
        let supply = store.accounts.values.reduce(store.feesBurned) { $0 + $1.balance }
        if supply != SimChain.genesisSupply { violate("\(id) at \(head): supply \(supply), genesis \(SimChain.genesisSupply)") }
    }

    /// At most one leader per term, among all nodes (hung ones too: their term still counts).
    func noteLeader(_ node: RuntimeSimNode) {
        guard live[node.id] === node, node.core.isLeader else { return }
        let term = node.core.raft.currentTerm
        if let other = leaderOfTerm[term], other != node.id { violate("two leaders in term \(term): \(other) and \(node.id)") }
        leaderOfTerm[term] = node.id
    }
}
