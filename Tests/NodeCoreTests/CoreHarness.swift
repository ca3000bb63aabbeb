// A few real runtime cores over in-memory stores, with an injected clock and instant delivery:
// the test bench for the core's specifications. No threads, no sleeps, no ports.
import Chain
import Consensus
import NodeCore
import Testing

enum CoreFixture {
    static let chainId = "core-test"
    static let wallStartMs: UInt64 = 1_800_000_000_000
    static let payer = KeyPair(seed: [UInt8](repeating: 200, count: 32))
    static let payee = KeyPair(seed: [UInt8](repeating: 201, count: 32)).address
    static let genesis = GenesisSpec(chainId: chainId, timestamp: 1, allocations: [(payer.address, 1_000_000)])

    static func key(_ id: String) -> KeyPair { KeyPair(seed: [UInt8](repeating: UInt8(id.utf8.first ?? 1), count: 32)) }

    static func settings(_ id: String) -> RuntimeCoreSettings {
        RuntimeCoreSettings(nodeId: id, blockIntervalMs: 100, maxBlockTxs: 50, maxInflightBlocks: 4, voters: 3,
                            promotionStabilizationMs: 2_000, electionTimeoutMs: 1_000, syncRequestTimeoutMs: 3_000,
                            syncIgnorePeerMs: 60_000, mempoolFutureTtlS: 600)
    }

    static func transfer(nonce: UInt64, amount: UInt64 = 10) -> Transaction {
        Transaction.signed(chainId: chainId, to: payee, amount: amount, fee: 1, nonce: nonce, keyPair: payer)
    }
}

/// One node: a real `RuntimeCore` and the effects it asked for, performed against memory.
final class CoreNode {
    let id: String
    let store: MemoryBlockStore
    var core: RuntimeCore<MemoryBlockStore>
    /// Raft messages sent and not yet delivered.
    var outbox: [Message] = []
    /// Every effect other than persist and send, in order.
    var effects: [RuntimeEffect] = []
    var halt: String?
    /// For each durable write, the kinds of the effects `persisted` returned, in order.
    var afterPersist: [[String]] = []

    init(_ id: String, store: MemoryBlockStore, joining: Bool = false, seed: UInt64, settings: RuntimeCoreSettings? = nil) throws {
        self.id = id
        self.store = store
        var raft = RaftSettings(id: id, randomSeed: seed)
        raft.electionTimeoutTicks = 10
        core = try RuntimeCore(settings: settings ?? CoreFixture.settings(id), raftSettings: raft, store: store, reads: store,
                               signer: BlockSigner(key: CoreFixture.key(id)), joining: joining)
    }

    func perform(_ list: [RuntimeEffect], now: RuntimeTime) {
        for effect in list {
            switch effect {
            case .persist(let batch):
                store.persist(batch)
                let then = core.persisted(now: now)
                afterPersist.append(then.map { effect in
                    switch effect {
                    case .send: "send"
                    case .publish: "publish"
                    default: "other"
                    }
                })
                perform(then, now: now)
                perform(core.applied(now: now), now: now)
            case .send(let messages): outbox += messages
            case .halt(let reason): halt = reason
            default: effects.append(effect)
            }
        }
    }

    func drain(now: RuntimeTime) {
        var rounds = 0
        while core.hasReady {
            rounds += 1
            precondition(rounds < 1_000, "ready loop does not settle")
            perform(core.readyRound(now: now), now: now)
        }
    }

    /// Cuts blocks from `mempool` while the core asks for transactions; returns those not taken.
    func cutBlocks(from mempool: [Transaction], now: RuntimeTime) -> [Transaction] {
        var waiting = mempool
        while let max = core.cutDemand(readyCount: waiting.count, now: now) {
            let taken = Array(waiting.prefix(max))
            waiting.removeFirst(taken.count)
            let (cut, list) = core.cut(candidates: taken, now: now)
            perform(list, now: now)
            if !cut { break }
        }
        return waiting
    }
}

/// Nodes linked by instant delivery; `down` nodes neither send nor receive.
final class CoreCluster {
    /// A bootstrapped cluster whose leader "a" committed `blocks` blocks of one transfer each,
    /// and a fresh node "b" (not in `nodes`) that "a" accepted to join: it may block-sync from "a"
    /// (a fresh node syncs only from its anchors, FreshNodeAdmissionTests).
    static func withFreshNodeBehind(blocks: Int = 40) throws -> (cluster: CoreCluster, a: CoreNode, b: CoreNode) {
        let cluster = try CoreCluster.bootstrapped()
        let a = cluster.nodes["a"]!
        for n in 0..<blocks {
            cluster.advance(ms: 100)
            #expect(a.cutBlocks(from: [CoreFixture.transfer(nonce: UInt64(n), amount: 1)], now: cluster.now).isEmpty)
            cluster.settle()
        }
        let b = try CoreNode("b", store: MemoryBlockStore(genesis: CoreFixture.genesis), joining: true, seed: 2)
        b.perform(b.core.handle(.joinAnswered(from: "a", accepted: true, leaderHint: nil), now: cluster.now), now: cluster.now)
        return (cluster, a, b)
    }

    var nodes: [String: CoreNode] = [:]
    var down: Set<String> = []
    var now = RuntimeTime(monotonicNs: 1_000_000_000, wallMs: CoreFixture.wallStartMs)

    func advance(ms: UInt64) {
        now.monotonicNs += ms * 1_000_000
        now.wallMs += ms
    }

    /// Delivers messages until nothing moves (bounded).
    func settle() {
        for _ in 0..<200 {
            var moved = false
            for id in nodes.keys.sorted() where !down.contains(id) { nodes[id]!.drain(now: now) }
            for id in nodes.keys.sorted() {
                let node = nodes[id]!
                let messages = node.outbox
                node.outbox = []
                guard !down.contains(id) else { continue }
                for m in messages {
                    guard let to = nodes[m.to], !down.contains(m.to) else { continue }
                    moved = true
                    to.perform(to.core.handle(.raft(m), now: now), now: now)
                }
            }
            if !moved { return }
        }
    }

    /// Ticks every live node once (the heartbeat), with every other live node connected.
    func tick(ms: UInt64 = 100) {
        advance(ms: ms)
        for id in nodes.keys.sorted() where !down.contains(id) {
            let node = nodes[id]!
            let connected = nodes.keys.sorted().filter { $0 != id && !down.contains($0) }
                .map { (id: $0, height: nodes[$0]!.store.headHeight) }
            node.perform(node.core.tick(now: now, connected: connected), now: now)
        }
        settle()
    }

    var leader: CoreNode? { nodes.values.filter { !down.contains($0.id) && $0.core.isLeader }.max { $0.core.status.term < $1.core.status.term } }

    /// Ticks until a leader is elected (bounded).
    @discardableResult
    func electLeader() -> CoreNode? {
        for _ in 0..<100 {
            if let l = leader { return l }
            tick()
        }
        return nil
    }

    /// A lone node `a` that bootstrapped a chain and leads it.
    static func bootstrapped() throws -> CoreCluster {
        let cluster = CoreCluster()
        let a = try CoreNode("a", store: MemoryBlockStore(genesis: CoreFixture.genesis), seed: 1)
        cluster.nodes["a"] = a
        a.core.start(now: cluster.now)
        cluster.settle()
        a.perform(a.core.leaderDuties(now: cluster.now), now: cluster.now)
        cluster.settle()
        return cluster
    }

    /// A membership change asked of `node`; its answer.
    func change(_ change: MembershipChange, on node: CoreNode) -> MembershipOutcome? {
        let list = node.core.handle(.membership(change, request: 7), now: now)
        node.perform(list, now: now)
        settle()
        for case .answerMembership(7, let outcome) in list { return outcome }
        return nil
    }

    /// Voters a, b, c (b and c started from a's chain once they were added, on `settings`).
    static func threeVoters(settings: (String) -> RuntimeCoreSettings = CoreFixture.settings) throws -> CoreCluster {
        let cluster = try bootstrapped()
        let a = cluster.nodes["a"]!
        for id in ["b", "c"] {
            _ = cluster.change(MembershipChange(kind: .addLearner, nodeId: id, nodeKey: CoreFixture.key(id).publicKey), on: a)
        }
        _ = cluster.change(MembershipChange(kind: .promote, nodeId: "b"), on: a)
        for (i, id) in ["b", "c"].enumerated() {
            cluster.nodes[id] = try CoreNode(id, store: MemoryBlockStore(copying: a.store), seed: UInt64(10 + i), settings: settings(id))
        }
        _ = cluster.change(MembershipChange(kind: .promote, nodeId: "c"), on: a)
        for _ in 0..<3 { cluster.tick() }
        return cluster
    }
}
