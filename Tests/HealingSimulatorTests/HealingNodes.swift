// The healing simulator's nodes, driven as the node's shell drives its runtime core: ticks with
// the peers linked now, Raft messages, write rounds (with crash points), block sync, joins, and
// the leader's cutting. Every decision (what to cut, whom to add, whom to promote, which
// membership change to refuse) is the real RuntimeCore's; this file only performs its effects.
import Chain
@testable import Consensus
@testable import NodeCore
@testable import SimulationSupport

extension HealingSimulation {
    /// The nodes' clock: tick `now` of 100 ms.
    var time: RuntimeTime {
        RuntimeTime(monotonicNs: 1_000_000_000 + now * 100_000_000, wallMs: 1_800_000_000_000 + now * 100)
    }

    /// The up leader of the highest term, if any.
    var leaderNode: RuntimeSimNode? {
        ids.compactMap { hosts[$0]!.isUp ? live[$0] : nil }
            .filter { $0.core.isLeader }
            .max { $0.core.raft.currentTerm < $1.core.raft.currentTerm }
    }

    /// `first` bootstraps the chain and adds the others (learner, then promote), on a perfect
    /// network with instant delivery, as RuntimeSimulation sets up its cluster.
    func bootstrap(_ first: [NodeID]) throws {
        let odds = network.odds
        network.odds = NetworkOdds(dropPerMille: 0, duplicatePerMille: 0, maxDelayTicks: 0)
        defer { network.odds = odds }
        let genesisStore = MemoryBlockStore(genesis: RuntimeSimulation.genesis, signaturesChecked: true)
        ids.append(first[0])
        hosts[first[0]] = SimHost(storage: genesisStore)
        start(first[0])
        let n0 = live[first[0]]!
        n0.core.start(now: time)
        mayHaveReady.insert(n0.id)
        settleInstantly()
        perform(n0.core.leaderDuties(now: time), on: n0)
        settleInstantly()
        for id in first.dropFirst() {
            try askInstantly(MembershipChange(kind: .addLearner, nodeId: id, nodeKey: registry.key(id)), of: n0)
        }
        for id in first.dropFirst() {
            ids.append(id)
            hosts[id] = SimHost(storage: MemoryBlockStore(copying: n0.store))
            start(id)
            try askInstantly(MembershipChange(kind: .promote, nodeId: id), of: n0)
        }
        guard n0.store.membership.voters.count == first.count else {
            throw HealingSetupError(what: "voters \(n0.store.membership.voters)")
        }
    }

    struct HealingSetupError: Error { var what: String }

    private func askInstantly(_ change: MembershipChange, of node: RuntimeSimNode) throws {
        let effects = node.core.handle(.membership(change, request: 1), now: time)
        perform(effects, on: node)
        settleInstantly()
        // A heartbeat or two, so the leader probes nodes that started after it first sent to them.
        for _ in 0..<2 {
            now += 1
            for id in ids { if let n = live[id] { perform(n.core.tick(now: time, connected: connected(id)), on: n) } }
            settleInstantly()
        }
        guard case .answerMembership(_, .proposed)? = effects.last else {
            throw HealingSetupError(what: "\(change.kind.name) \(change.nodeId): \(String(describing: effects.last))")
        }
    }

    private func settleInstantly() {
        for _ in 0..<100 {
            drainAll()
            let due = network.takeDue(now: UInt64.max, rng: &rng)
            if due.isEmpty { return }
            for m in due { deliver(m) }
        }
    }

    /// Up peers this node can reach, with the committed height each claims.
    func connected(_ id: NodeID) -> [(id: String, height: UInt64)] {
        ids.compactMap { peer in
            guard peer != id, hosts[peer]!.isUp, live[peer] != nil, network.canTalk(id, peer),
                  let store = hosts[peer]!.storage else { return nil }
            return (id: peer, height: store.headHeight)
        }
    }

    /// Clients send transfers, valid and not, to whichever node leads (every tick once the faults stop).
    func submitTransfers(force: Bool) {
        guard let leader = leaderNode, force || chance(settings.proposePerMille) else { return }
        let state = leader.core.reads.accounts(overlay: leader.core.speculative)
        leader.mempool += RuntimeSimulation.transfers(on: state, count: 1 + Int(rng.next() % 6), rng: &rng)
    }

    /// Each up leader's own duties: the bootstrap block, then blocks cut from its mempool.
    func leaderDuties() {
        for id in ids where hosts[id]!.isUp {
            guard let node = live[id], node.core.isLeader else { continue }
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

    /// A membership change asked of `leaderId` (the registry's POST); true when it was proposed.
    func askMembership(_ change: MembershipChange, of leaderId: NodeID, origin: String) -> Bool {
        guard hosts[leaderId]?.isUp == true, let node = live[leaderId], node.core.isLeader else { return false }
        let term = node.core.raft.currentTerm
        let effects = node.core.handle(.membership(change, request: 1), now: time)
        perform(effects, on: node)
        for case .answerMembership(_, .proposed(let height)) in effects {
            confOrigin["\(term)/\(height)"] = "\(origin) (proposed at step \(now) on \(leaderId), term \(term))"
            stats.confChanges += 1
            trace("\(origin): \(leaderId) proposes \(change.kind.name) \(change.nodeId) at \(height)")
            return true
        }
        return false
    }

    /// POST /leadership/transfer on `from`: true when it leads and hands over.
    func transferLeadership(from: NodeID) -> Bool {
        guard hosts[from]?.isUp == true, let node = live[from], node.core.isLeader else { return false }
        perform(node.core.handle(.transferLeadership(to: nil, request: 1), now: time), on: node)
        return true
    }

    func syncDuties() {
        for id in ids where hosts[id]!.isUp {
            guard let node = live[id] else { continue }
            for _ in 0..<8 {
                let effects = node.core.syncDuties(connected: connected(id), now: time)
                perform(effects, on: node)
                guard live[id] === node, case .persist = effects.last else { break }
            }
        }
    }

    func deliver(_ m: Message) {
        guard hosts[m.to]?.isUp == true, let node = live[m.to], network.canTalk(m.from, m.to), !node.core.isWriting else { return }
        perform(node.core.handle(.raft(m), now: time), on: node)
        noteLeader(node)
    }

    func deliverBlockReplies() {
        let due = blockReplies.filter { $0.due <= now }
        blockReplies.removeAll { $0.due <= now }
        for r in due {
            guard hosts[r.to]?.isUp == true, let node = live[r.to], network.canTalk(r.from, r.to) else { continue }
            perform(node.core.handle(.blocks(r.blocks, from: r.from), now: time), on: node)
        }
    }

    /// Write rounds until every up node is quiet. Only nodes whose core was called since they were
    /// last quiet can have one (`mayHaveReady`), which spares a check of every idle core.
    func drainAll() {
        for id in ids where hosts[id]!.isUp && mayHaveReady.contains(id) {
            var rounds = 0
            while let node = live[id], node.core.hasReady, violations.isEmpty {
                rounds += 1
                precondition(rounds < 1_000, "ready loop does not settle")
                let point = faultsOn && chance(settings.readyCrashPerMille)
                    ? RuntimeCrashPoint.allCases[Int(rng.next() % 3)] : nil
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
                if crash == .beforePersist { return die(node) }
                node.store.persist(batch)
                checkStored(node.store, by: node.id)
                if crash == .afterPersist { return die(node) }
                perform(node.core.persisted(now: time), on: node)
                if crash == .afterSend { return die(node) }
                perform(node.core.applied(now: time), on: node)
            case .send(let messages):
                for m in messages { network.send(m, now: now, rng: &rng) }
            case .halt(let reason):
                violate("\(node.id) halted: \(reason)")
            case .dropTransactions(let rejected):
                let hashes = Set(rejected.map(\.0.hash))
                node.mempool.removeAll { hashes.contains($0.hash) }
            case .requestJoin:
                for peer in connected(node.id) {
                    guard let other = live[peer.id], !other.core.isWriting else { continue }
                    perform(other.core.handle(.join(nodeId: node.id, nodeKey: registry.key(node.id), from: node.id),
                                              now: time), on: other)
                }
            case .answerJoin(let peer, let nodeId, let accepted, let reason, _):
                trace("\(node.id) answers \(nodeId)'s join (via \(peer)): \(accepted ? "accepted" : "refused: \(reason)")")
            case .requestBlocks(let from, let count, let peer):
                if let source = hosts[peer]?.storage, hosts[peer]?.isUp == true, live[peer] != nil, network.canTalk(node.id, peer) {
                    blockReplies.append((now + 1 + rng.next() % 2, node.id, peer, source.blocks(from: from, count: count)))
                } else {
                    node.core.blockRequestFailed(from: from)
                    mayHaveReady.insert(node.id)
                }
            default:
                break
            }
        }
    }

    /// A crash inside a write round: what was done before it stays.
    private func die(_ node: RuntimeSimNode) {
        stats.crashes += 1
        stop(node.id, loseData: false, byRegistry: false)
    }

    // MARK: safety

    /// Every stored block agrees with every other replica's at its height; supply is conserved;
    /// the first time a height is committed, its membership change takes effect for the checks.
    func checkStored(_ store: MemoryBlockStore, by id: NodeID) {
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
        if head > maxCommittedHeight {
            for height in (maxCommittedHeight + 1)...head {
                let block = store.blocks[Int(height)]
                if let change = block.membership { noteCommitted(change, height: height, term: block.header.term) }
            }
            maxCommittedHeight = head
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
