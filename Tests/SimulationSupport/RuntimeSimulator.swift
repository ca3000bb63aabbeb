// The cluster simulator over the REAL node runtime core (Sources/NodeCore): every node is a
// `RuntimeCore` over an in-memory `MemoryBlockStore`, with simulated time (the injected clock),
// network (SimNetwork: drop, duplicate, delay, partition) and crashes at the runtime's crash
// points (before a write, after it, after sending). Leaders cut real, signed blocks of transfers;
// joins, learner promotion, removals, block sync and term-start blocks all run the node's code.
import Chain
@testable import Consensus
@testable import NodeCore

/// Bounds and odds of one run, per tick (100 ms of simulated time), in parts per thousand.
struct RuntimeSimSettings {
    var faultTicks = 200
    var healTicksMax = 600
    var maxSubRoundsPerTick = 6
    var network = NetworkOdds()
    var crashPerMille: UInt64 = 8
    /// A crash inside a write round: before the write, after it, or after sending.
    var roundCrashPerMille: UInt64 = 5
    var restartPerMille: UInt64 = 80
    var partitionPerMille: UInt64 = 30
    var healPerMille: UInt64 = 40
    /// Transfers arrive at the leader's mempool.
    var submitPerMille: UInt64 = 500
    /// A membership change asked of the leader (add the spare as a learner, or remove a node).
    var confChangePerMille: UInt64 = 15
    var clockSkewPerMille: UInt64 = 50

    static func swarm(_ rng: inout SplitMix64) -> RuntimeSimSettings {
        var s = RuntimeSimSettings()
        s.network.dropPerMille = rng.next() % 120
        s.network.duplicatePerMille = rng.next() % 60
        s.network.maxDelayTicks = rng.next() % 4
        s.crashPerMille = rng.next() % 16
        s.roundCrashPerMille = rng.next() % 10
        s.partitionPerMille = rng.next() % 50
        s.submitPerMille = 200 + rng.next() % 800
        s.confChangePerMille = rng.next() % 30
        s.clockSkewPerMille = rng.next() % 200
        return s
    }

    var odds: String {
        "drop \(network.dropPerMille) dup \(network.duplicatePerMille) delay<=\(network.maxDelayTicks) crash \(crashPerMille)/\(roundCrashPerMille) "
            + "partition \(partitionPerMille) skew \(clockSkewPerMille) submit \(submitPerMille) conf \(confChangePerMille)"
    }
}

/// Where inside a write round a node dies: what was done before stays (in the store, on the wire).
enum RuntimeCrashPoint: CaseIterable {
    case beforePersist, afterPersist, afterSend
}

/// One simulated node: its durable store survives a crash; the core and its outbox do not.
final class RuntimeSimNode {
    let id: String
    let store: MemoryBlockStore
    var core: RuntimeCore<MemoryBlockStore>
    /// Transfers handed to this node (it hands them to its core when it leads).
    var mempool: [Transaction] = []

    init(id: String, store: MemoryBlockStore, seed: UInt64, voters: Int, joining: Bool, plantedBug: RuntimeCore<MemoryBlockStore>.PlantedBug?) throws {
        self.id = id
        self.store = store
        var raft = RaftSettings(id: id, randomSeed: seed)
        raft.electionTimeoutTicks = 10
        raft.maxInflightAppends = 16
        raft.maxEntriesPerAppend = 16
        let settings = RuntimeCoreSettings(nodeId: id, blockIntervalMs: 100, maxBlockTxs: SimChain.maxTxsPerBlock, maxInflightBlocks: 4,
                                           voters: voters, promotionStabilizationMs: 1_000, electionTimeoutMs: 1_000,
                                           syncRequestTimeoutMs: 1_000, syncIgnorePeerMs: 3_000, mempoolFutureTtlS: 600)
        core = try RuntimeCore(settings: settings, raftSettings: raft, store: store, reads: store,
                               signer: BlockSigner(key: RuntimeSimulation.key(id)), joining: joining)
        core.plantedBug = plantedBug
    }
}

/// One run for one seed; `violations` empty when every invariant held.
final class RuntimeSimulation {
    static let tickMs: UInt64 = 100
    /// Few accounts with real keys, so nonces collide and transfers chain within and across blocks.
    static let accounts: [KeyPair] = (1...8).map { KeyPair(seed: [UInt8](repeating: UInt8(100 + $0), count: 32)) }
    static let genesis = GenesisSpec(chainId: SimChain.chainId, timestamp: 1,
                                     allocations: accounts.map { ($0.address, SimChain.genesisBalance) })

    /// Random transfers, mostly valid on `state`; a few carry a wrong nonce or overspend, so
    /// selection has something to refuse. Unsigned: the store answers that signatures were checked
    /// (the path the node's entry door provides), and Ed25519 per transfer would slow thousands of runs.
    static func transfers(on state: some AccountSource, count: Int, rng: inout SplitMix64) -> [Transaction] {
        var next: [Address: UInt64] = [:]
        return (0..<count).map { _ in
            let from = accounts[Int(rng.next() % UInt64(accounts.count))]
            let to = accounts[Int(rng.next() % UInt64(accounts.count))].address
            let account = state.account(from.address)
            let expected = next[from.address] ?? account.nonce
            let roll = rng.next() % 100
            let nonce = roll < 5 ? expected + 1 : expected
            let amount = roll % 20 == 19 ? account.balance + 1 : 1 + rng.next() % max(1, account.balance / 4)
            if nonce == expected { next[from.address] = expected + 1 }
            return Transaction(chainId: SimChain.chainId, from: from.address, to: to, amount: amount, fee: rng.next() % 3,
                               nonce: nonce, pubkey: from.publicKey, signature: .zero)
        }
    }

    static func key(_ id: String) -> KeyPair {
        var seed = [UInt8](repeating: 7, count: 32)
        for (i, b) in id.utf8.enumerated() where i < 32 { seed[i] = b }
        return KeyPair(seed: seed)
    }

    let seed: UInt64
    let settings: RuntimeSimSettings
    var rng: SplitMix64
    let ids: [String]
    let voterTarget: Int
    /// The node that starts outside the cluster and asks to join.
    let spare: String
    var stores: [String: MemoryBlockStore] = [:]
    var live: [String: RuntimeSimNode] = [:]
    var network: SimNetwork
    var tick: UInt64 = 0
    var plantedBug: RuntimeCore<MemoryBlockStore>.PlantedBug?
    /// Nodes whose core was called since their last quiet check: only they can have a write round.
    var mayHaveReady: Set<String> = []
    /// Block-sync answers on the wire: (due tick, to, from, blocks).
    var blockReplies: [(due: UInt64, to: String, from: String, blocks: [Block])] = []
    private(set) var violations: [String] = []

    // What every replica must agree on.
    var hashAt: [UInt64: Hash32] = [:]
    var leaderOfTerm: [UInt64: String] = [:]
    var crashes = 0, roundCrashes = 0, restarts = 0, submitted = 0, confChanges = 0, joinsAnswered = 0

    init(seed: UInt64, plantedBug: RuntimeCore<MemoryBlockStore>.PlantedBug? = nil) {
        self.seed = seed
        var rng = SplitMix64(seed: seed)
        settings = .swarm(&rng)
        self.rng = rng
        self.plantedBug = plantedBug
        network = SimNetwork(odds: settings.network)
        voterTarget = self.rng.next() % 2 == 0 ? 3 : 5
        ids = (0...voterTarget).map { "n\($0)" }
        spare = ids[voterTarget]
        do { try bootstrap() } catch { violate("cannot set the cluster up: \(error)") }
    }

    var now: RuntimeTime {
        RuntimeTime(monotonicNs: 1_000_000_000 + tick * Self.tickMs * 1_000_000, wallMs: 1_800_000_000_000 + tick * Self.tickMs)
    }

    var summary: String {
        let height = stores.values.map(\.headHeight).max() ?? 0
        return "voters \(voterTarget) ticks \(tick) height \(height) crashes \(crashes)+\(roundCrashes) in rounds restarts \(restarts) "
            + "submitted \(submitted) confChanges \(confChanges) joins \(joinsAnswered) terms \(leaderOfTerm.count); " + settings.odds
    }

    func chance(_ perMille: UInt64) -> Bool { rng.next() % 1000 < perMille }
    func violate(_ what: String) { violations.append("tick \(tick): \(what)") }

    /// n0 bootstraps the chain and adds the other voters (as the node does: learner, then promote),
    /// with instant delivery; the spare starts empty and joins later.
    private func bootstrap() throws {
        // Set-up runs on a perfect network; the seed's odds apply from the first tick.
        let odds = network.odds
        network.odds = NetworkOdds()
        network.odds.dropPerMille = 0
        network.odds.duplicatePerMille = 0
        defer { network.odds = odds }
        let first = ids[0]
        stores[first] = MemoryBlockStore(genesis: Self.genesis, signaturesChecked: true)
        try start(first)
        let n0 = live[first]!
        n0.core.start(now: now)
        mayHaveReady.insert(first)
        settleInstantly()
        perform(n0.core.leaderDuties(now: now), on: n0)
        settleInstantly()
        for id in ids[1..<voterTarget] {
            try askMembership(MembershipChange(kind: .addLearner, nodeId: id, nodeKey: Self.key(id).publicKey), of: n0)
        }
        for id in ids[1..<voterTarget] {
            if stores[id] == nil {
                stores[id] = MemoryBlockStore(copying: n0.store)
                try start(id)
            }
            try askMembership(MembershipChange(kind: .promote, nodeId: id), of: n0)
        }
        stores[spare] = MemoryBlockStore(genesis: Self.genesis, signaturesChecked: true)
        try start(spare)
        guard n0.store.membership.voters.count == voterTarget else {
            throw SimSetupError(what: "voters \(n0.store.membership.voters)")
        }
    }

    struct SimSetupError: Error { var what: String }

    private func askMembership(_ change: MembershipChange, of node: RuntimeSimNode) throws {
        let effects = node.core.handle(.membership(change, request: 1), now: now)
        perform(effects, on: node)
        settleInstantly()
        // A heartbeat or two, so the leader probes nodes that started after it first sent to them.
        for _ in 0..<2 {
            tick += 1
            for id in ids { if let n = live[id] { perform(n.core.tick(now: now, connected: connected(id)), on: n) } }
            settleInstantly()
        }
        guard case .answerMembership(_, .proposed)? = effects.last else {
            throw SimSetupError(what: "\(change.kind.name) \(change.nodeId): \(String(describing: effects.last))")
        }
    }

    /// Delivers every message at once until quiet (set-up only).
    private func settleInstantly() {
        for _ in 0..<100 {
            drainAll(crashes: false)
            let due = network.takeDue(now: UInt64.max, rng: &rng)
            if due.isEmpty { return }
            for m in due { deliver(m) }
        }
    }

    private func start(_ id: String) throws {
        let store = stores[id]!
        live[id] = try RuntimeSimNode(id: id, store: store, seed: rng.next(), voters: voterTarget,
                                      joining: id == spare && store.headHeight == 0, plantedBug: plantedBug)
        mayHaveReady.insert(id)
        checkStored(store, by: id)
    }

    // MARK: the run

    func run() {
        for _ in 0..<settings.faultTicks where violations.isEmpty { step(faults: true) }
        network.group = [:]
        for id in ids where live[id] == nil && violations.isEmpty {
            do { try start(id); restarts += 1 } catch { violate("\(id) cannot restart: \(error)") }
        }
        let target = stores.values.map(\.headHeight).max() ?? 0
        for _ in 0..<settings.healTicksMax where violations.isEmpty {
            step(faults: false)
            if isConverged(beyond: target) { return }
        }
        if violations.isEmpty {
            let heads = ids.map { "\($0): h\(stores[$0]!.headHeight) \(live[$0]?.core.status.role.rawValue ?? "down") t\(live[$0]?.core.raft.currentTerm ?? 0)" }
            violate("no progress after healing for \(settings.healTicksMax) ticks: \(heads)")
        }
    }

    /// Every member of the leader's chain holds a block cut after healing (`target`); that they
    /// agree on it is checked as each one stores it.
    private func isConverged(beyond target: UInt64) -> Bool {
        guard let leader = leader else { return false }
        let members = leader.store.membership.voters + leader.store.membership.learners
        return members.allSatisfy { (stores[$0]?.headHeight ?? 0) > target }
    }

    var leader: RuntimeSimNode? {
        live.values.filter { $0.core.isLeader }.max { $0.core.raft.currentTerm < $1.core.raft.currentTerm }
    }

    private func step(faults: Bool) {
        tick += 1
        if faults { injectFaults() }
        for id in ids {
            guard let node = live[id] else { continue }
            let ticks = faults && chance(settings.clockSkewPerMille) ? Int(rng.next() % 3) : 1
            for _ in 0..<ticks where live[id] != nil {
                perform(node.core.tick(now: now, connected: connected(id)), on: node)
            }
            noteLeader(node)
        }
        submitTransfers(force: !faults)
        if faults && chance(settings.confChangePerMille) { askConfChange() }
        for _ in 0..<settings.maxSubRoundsPerTick where violations.isEmpty {
            drainAll(crashes: faults)
            leaderDuties()
            drainAll(crashes: faults)
            let due = network.takeDue(now: tick, rng: &rng)
            deliverBlockReplies()
            if due.isEmpty { break }
            for m in due { deliver(m) }
        }
        syncDuties()
        drainAll(crashes: faults)
    }

    private func injectFaults() {
        for id in ids {
            if live[id] != nil && chance(settings.crashPerMille) {
                crashes += 1
                live[id] = nil
            } else if live[id] == nil && chance(settings.restartPerMille) {
                do { try start(id); restarts += 1 } catch { violate("\(id) cannot restart: \(error)") }
            }
        }
        if chance(settings.partitionPerMille) {
            for id in ids { network.group[id] = Int(rng.next() % 3) }
        } else if chance(settings.healPerMille) {
            network.group = [:]
        }
    }

    /// Live peers this node can reach, with the committed height each claims.
    private func connected(_ id: String) -> [(id: String, height: UInt64)] {
        ids.filter { $0 != id && live[$0] != nil && network.canTalk(id, $0) }.map { (id: $0, height: stores[$0]!.headHeight) }
    }

    /// Clients send transfers, valid and not, to whichever node leads.
    private func submitTransfers(force: Bool) {
        guard let leader, force || chance(settings.submitPerMille) else { return }
        let state = leader.core.reads.accounts(overlay: leader.core.speculative)
        let fresh = Self.transfers(on: state, count: 1 + Int(rng.next() % 6), rng: &rng)
        leader.mempool += fresh
        submitted += fresh.count
    }

    private func leaderDuties() {
        for id in ids {
            guard let node = live[id], node.core.isLeader else { continue }
            perform(node.core.leaderDuties(now: now), on: node)
            while live[id] != nil, let max = node.core.cutDemand(readyCount: node.mempool.count, now: now) {
                let taken = Array(node.mempool.prefix(max))
                node.mempool.removeFirst(taken.count)
                let (cut, effects) = node.core.cut(candidates: taken, now: now)
                perform(effects, on: node)
                if !cut { break }
            }
        }
    }

    /// A random change asked of the leader: add the spare (it also asks to join by itself), remove
    /// a learner, or remove a voter while more than three remain.
    private func askConfChange() {
        guard let leader else { return }
        let m = leader.store.membership
        var options: [MembershipChange] = m.learners.map { MembershipChange(kind: .remove, nodeId: $0) }
        if m.voters.count > 3 { options += m.voters.map { MembershipChange(kind: .remove, nodeId: $0) } }
        if !m.contains(spare) && !m.retired.contains(spare) {
            options.append(MembershipChange(kind: .addLearner, nodeId: spare, nodeKey: Self.key(spare).publicKey))
        }
        guard !options.isEmpty else { return }
        let change = options[Int(rng.next() % UInt64(options.count))]
        let effects = leader.core.handle(.membership(change, request: 1), now: now)
        perform(effects, on: leader)
        if effects.contains(where: { if case .answerMembership(_, .proposed) = $0 { true } else { false } }) { confChanges += 1 }
    }

    private func syncDuties() {
        for id in ids {
            guard let node = live[id] else { continue }
            for _ in 0..<8 {
                let effects = node.core.syncDuties(connected: connected(id), now: now)
                perform(effects, on: node)
                guard live[id] != nil, case .persist = effects.last else { break }
            }
        }
    }

    private func deliver(_ m: Message) {
        guard let node = live[m.to], network.canTalk(m.from, m.to), !node.core.isWriting else { return }
        perform(node.core.handle(.raft(m), now: now), on: node)
        noteLeader(node)
    }

    private func deliverBlockReplies() {
        let due = blockReplies.filter { $0.due <= tick }
        blockReplies.removeAll { $0.due <= tick }
        for r in due {
            guard let node = live[r.to], network.canTalk(r.from, r.to) else { continue }
            perform(node.core.handle(.blocks(r.blocks, from: r.from), now: now), on: node)
        }
    }

    /// Write rounds until every live node is quiet; only nodes whose core was called since they
    /// were last quiet can have one (`mayHaveReady`), which spares a check of every idle core.
    private func drainAll(crashes: Bool) {
        for id in ids where mayHaveReady.contains(id) {
            var rounds = 0
            while let node = live[id], node.core.hasReady, violations.isEmpty {
                rounds += 1
                precondition(rounds < 1_000, "ready loop does not settle")
                let point = crashes && chance(settings.roundCrashPerMille)
                    ? RuntimeCrashPoint.allCases[Int(rng.next() % 3)] : nil
                perform(node.core.readyRound(now: now), on: node, crash: point)
                noteLeader(node)
            }
            if violations.isEmpty { mayHaveReady.remove(id) }
        }
    }

    // MARK: effects, as the node's shell performs them

    private func perform(_ effects: [RuntimeEffect], on node: RuntimeSimNode, crash: RuntimeCrashPoint? = nil) {
        mayHaveReady.insert(node.id)  // every call into a core hands its effects here
        for effect in effects {
            guard live[node.id] === node else { return }  // crashed part-way
            switch effect {
            case .persist(let batch):
                if crash == .beforePersist { return die(node) }
                node.store.persist(batch)
                checkStored(node.store, by: node.id)
                if crash == .afterPersist { return die(node) }
                perform(node.core.persisted(now: now), on: node)
                if crash == .afterSend { return die(node) }
                perform(node.core.applied(now: now), on: node)
            case .send(let messages):
                for m in messages { network.send(m, now: tick, rng: &rng) }
            case .halt(let reason):
                violate("\(node.id) halted: \(reason)")
            case .dropTransactions(let rejected):
                let hashes = Set(rejected.map(\.0.hash))
                node.mempool.removeAll { hashes.contains($0.hash) }
            case .requestJoin:
                for peer in connected(node.id) {
                    guard let other = live[peer.id] else { continue }
                    let answer = other.core.isWriting ? [] : other.core.handle(
                        .join(nodeId: node.id, nodeKey: Self.key(node.id).publicKey, from: node.id), now: now)
                    perform(answer, on: other)
                }
            case .answerJoin:
                joinsAnswered += 1
            case .requestBlocks(let from, let count, let peer):
                if let source = stores[peer], live[peer] != nil, network.canTalk(node.id, peer) {
                    blockReplies.append((tick + 1 + rng.next() % 2, node.id, peer, source.blocks(from: from, count: count)))
                } else {
                    node.core.blockRequestFailed(from: from)
                    mayHaveReady.insert(node.id)
                }
            default:
                break
            }
        }
    }

    private func die(_ node: RuntimeSimNode) {
        roundCrashes += 1
        live[node.id] = nil
    }

    // MARK: invariants

    /// Every stored block agrees with every other replica's at its height; supply is conserved.
    private func checkStored(_ store: MemoryBlockStore, by id: String) {
        let head = store.headHeight
        var h = head
        while h >= 1 {
            let hash = store.blocks[Int(h)].hash
            if let known = hashAt[h] {
                if known != hash { violate("\(id) holds block \(hash) at \(h), another replica \(known)") }
                break  // below a known agreeing height everything was checked before
            }
            hashAt[h] = hash
            h -= 1
        }
        let supply = store.accounts.values.reduce(store.feesBurned) { $0 + $1.balance }
        if supply != SimChain.genesisSupply { violate("\(id) at \(head): supply \(supply), genesis \(SimChain.genesisSupply)") }
    }

    private func noteLeader(_ node: RuntimeSimNode) {
        guard live[node.id] === node, node.core.isLeader else { return }
        let term = node.core.raft.currentTerm
        if let other = leaderOfTerm[term], other != node.id { violate("two leaders in term \(term): \(other) and \(node.id)") }
        leaderOfTerm[term] = node.id
    }
}
