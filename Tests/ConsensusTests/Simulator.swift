// A deterministic cluster simulator: a seeded network that drops, delays, duplicates, reorders
// and partitions; crashes between ticks and inside a Ready cycle that keep only what was
// persisted; every node a ledger replica; safety checked after every step (SimInvariants.swift).
import Chain
@testable import Consensus

/// Bounds and odds of one simulated run. Probabilities are per tick (per Ready cycle for
/// `readyCrashPerMille`), in parts per thousand.
struct SimulationSettings {
    var faultTicks = 300
    var healTicksMax = 400
    var maxSubRoundsPerTick = 8
    var network = NetworkOdds()
    var crashPerMille: UInt64 = 8
    /// A crash inside one Ready cycle: before persisting, before sending, or part-way through applying.
    var readyCrashPerMille: UInt64 = 5
    var restartPerMille: UInt64 = 60
    var partitionPerMille: UInt64 = 30
    var healPerMille: UInt64 = 30
    var proposePerMille: UInt64 = 300
    var confChangePerMille: UInt64 = 20
    /// A node's tick is skipped or doubled (a slow or fast clock, a pause).
    var clockSkewPerMille: UInt64 = 50
    /// Per crash: the commit index written without sync (`mustSync == false`) is lost.
    var unsyncedLossPerMille: UInt64 = 500
    /// Per seed: committed conf changes reach the core after `advance`, as in the node runtime.
    var confChangeAfterAdvance = false
    /// Candidate transfers a leader draws per proposal (some invalid, for `Ledger.select` to skip).
    var maxCandidatesPerProposal: UInt64 = 4
    /// Nodes that start outside the cluster and may be added as learners, promoted, removed.
    var spareNodes = 1
    /// Voters are removed only while more than this many remain.
    var minVoters = 3
}

extension SimulationSettings {
    /// Swarm testing, after TigerBeetle's VOPR: each seed draws its own fault odds, so some runs
    /// are near-perfect networks with many crashes and others lossy networks with few.
    static func swarm(_ rng: inout SplitMix64) -> SimulationSettings {
        var settings = SimulationSettings()
        settings.network.dropPerMille = rng.next() % 150
        settings.network.duplicatePerMille = rng.next() % 80
        settings.network.maxDelayTicks = rng.next() % 7
        settings.crashPerMille = rng.next() % 20
        settings.readyCrashPerMille = rng.next() % 12
        settings.partitionPerMille = rng.next() % 60
        settings.proposePerMille = 100 + rng.next() % 800
        settings.confChangePerMille = rng.next() % 50
        settings.clockSkewPerMille = rng.next() % 300
        settings.unsyncedLossPerMille = rng.next() % 1001
        settings.confChangeAfterAdvance = rng.next() % 2 == 0
        assert(settings.network.maxDelayTicks < 7 && settings.network.dropPerMille < 150)
        return settings
    }

    var odds: String {
        "drop \(network.dropPerMille) dup \(network.duplicatePerMille) delay<=\(network.maxDelayTicks) crash \(crashPerMille)/\(readyCrashPerMille) "
            + "partition \(partitionPerMille) skew \(clockSkewPerMille) propose \(proposePerMille) conf \(confChangePerMille) "
            + "unsyncedLoss \(unsyncedLossPerMille) (per mille) confAfterAdvance \(confChangeAfterAdvance)"
    }
}

/// One run of the simulator for one seed. `violations` is empty when every invariant held;
/// the first one names the step (tick) at which it broke.
final class Simulation {
    let seed: UInt64
    let settings: SimulationSettings
    var rng: SplitMix64
    let ids: [NodeID]
    var storages: [NodeID: MemoryStorage] = [:]
    var live: [NodeID: SimNode] = [:]
    let cache = SimExecutionCache()
    var network: SimNetwork
    var now: UInt64 = 0 { didSet { checks.step = now } }
    var proposals: UInt32 = 0
    let checks = SafetyChecks()
    var violations: [String] { checks.violations }

    var crashes = 0
    var readyCrashes = 0
    var restarts = 0
    /// Restarts whose durable commit was ahead of the applied index (the core must re-deliver).
    var restartsWithUnapplied = 0
    var commitsLost = 0
    var confChanges = 0
    var transfersProposed = 0

    /// `settings` nil: drawn from the seed (`SimulationSettings.swarm`).
    init(seed: UInt64, settings: SimulationSettings? = nil) {
        self.seed = seed
        var rng = SplitMix64(seed: seed)
        self.settings = settings ?? .swarm(&rng)
        self.rng = rng
        network = SimNetwork(odds: self.settings.network)
        let count = self.rng.next() % 2 == 0 ? 3 : 5
        ids = (0..<(count + self.settings.spareNodes)).map { "n\($0)" }
        let membership = Membership(voters: Set(ids.prefix(count)))
        for id in ids {
            storages[id] = MemoryStorage(membership: membership)
            start(id)
        }
    }

    var summary: String {
        "nodes \(ids.count) ticks \(now) crashes \(crashes)+\(readyCrashes) in ready restarts \(restarts) "
            + "(\(restartsWithUnapplied) with unapplied commits, \(commitsLost) unsynced commits lost) "
            + "confChanges \(confChanges) committed \(checks.committedCount) proposals \(proposals) "
            + "transfers \(transfersProposed) terms \(checks.leaderOfTerm.count) maxTerm \(checks.leaderOfTerm.keys.max() ?? 0); "
            + settings.odds
    }

    func chance(_ perMille: UInt64) -> Bool { rng.next() % 1000 < perMille }
    func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }

    func violate(_ what: String) { checks.violate(what) }

    /// (Re)starts `id` from its storage; the ledger is rebuilt from the durable log.
    private func start(_ id: NodeID) {
        let settings = makeSettings(id, seed: rng.next())
        do {
            live[id] = try SimNode(id: id, storage: storages[id]!, settings: settings, cache: cache,
                                   confChangeAfterAdvance: self.settings.confChangeAfterAdvance)
        } catch {
            violate("\(id) cannot rebuild its ledger from its durable log: \(error)")
            return
        }
        if now > 0 { restarts += 1 }
        if storages[id]!.applied < storages[id]!.hardState.commit { restartsWithUnapplied += 1 }
        checks.checkDurable(live[id]!)
    }

    /// Runs the fault phase, then heals everything and demands progress.
    func run() {
        for _ in 0..<settings.faultTicks where violations.isEmpty { step(faults: true) }
        network.group = [:]
        for id in ids where live[id] == nil && violations.isEmpty { start(id) }
        let target = proposals
        var healTicks = 0
        while violations.isEmpty && healTicks < settings.healTicksMax {
            healTicks += 1
            step(faults: false)
            if isConverged(beyond: target) { return }
        }
        if violations.isEmpty {
            let heads = ids.map { id in
                let status = live[id]!.core.status
                return "\(id): applied \(storages[id]!.applied) term \(status.term) \(status.role)"
            }
            violate("no progress after healing for \(settings.healTicksMax) ticks: \(heads)")
        }
    }

    /// Every member applied the same log, including a block proposed after healing.
    private func isConverged(beyond target: UInt32) -> Bool {
        let maxIndex = checks.maxCommittedIndex
        guard checks.maxAppliedProposal > target, maxIndex > 0 else { return false }
        let leaders = live.values.filter { $0.core.status.role == .leader }
        guard let leader = leaders.max(by: { $0.core.status.term < $1.core.status.term }) else { return false }
        let members = leader.core.status.membership.all
        return members.allSatisfy { storages[$0]!.applied == maxIndex && live[$0]?.ledger.stateRoot == checks.root(at: maxIndex) }
    }

    private func step(faults: Bool) {
        now += 1
        if faults { injectFaults() }
        for id in ids {
            guard let node = live[id] else { continue }
            // A drifting clock: during faults a node's tick may come late (skipped) or twice.
            let ticks = !faults ? 1 : chance(settings.clockSkewPerMille) ? Int(rng.next() % 3) : 1
            for _ in 0..<ticks { node.core.tick() }
            checks.noteLeader(node)
        }
        if chance(settings.proposePerMille) || !faults { propose() }
        if faults && chance(settings.confChangePerMille) { proposeConfChange() }
        for _ in 0..<settings.maxSubRoundsPerTick where violations.isEmpty {
            drainAll(faults: faults)
            let due = network.takeDue(now: now, rng: &rng)
            if due.isEmpty { break }
            for message in due { deliver(message) }
        }
        drainAll(faults: faults)
        checks.checkLeaders(ids.compactMap { live[$0] })
    }

    private func injectFaults() {
        for id in ids {
            if live[id] != nil && chance(settings.crashPerMille) {
                crashes += 1
                crash(id)
            } else if live[id] == nil && chance(settings.restartPerMille) {
                start(id)
            }
        }
        if chance(settings.partitionPerMille) {
            for id in ids { network.group[id] = Int(rng.next() % 3) }
        } else if chance(settings.healPerMille) {
            network.group = [:]
        }
    }

    /// Unpersisted state and the in-memory ledger are gone; storage stays, minus perhaps an
    /// unsynced commit index.
    private func crash(_ id: NodeID) {
        live[id] = nil
        let storage = storages[id]!
        if chance(settings.unsyncedLossPerMille) {
            let before = storage.hardState.commit
            storage.loseUnsyncedCommit()
            if storage.hardState.commit < before { commitsLost += 1 }
        }
    }

    /// Each leader builds a block of transfers valid on its speculative state, as a real leader does.
    private func propose() {
        for id in ids {
            guard let node = live[id], node.core.state == .leader else { continue }
            let state: AccountOverlay<SimLedger>
            do { state = try node.speculativeState() } catch {
                violate("leader \(id)'s own log does not execute: \(error)")
                return
            }
            let candidates = makeCandidates(on: state)
            let included = Ledger.select(candidates: candidates, on: state, maxTxs: SimChain.maxTxsPerBlock).included
            guard !included.isEmpty else { continue }  // no empty blocks (DESIGN §3)
            let block = SimBlock(proposal: proposals + 1, txs: included)
            if (try? node.core.propose(block.encoded)) != nil {
                proposals += 1
                transfersProposed += included.count
            }
        }
    }

    private func makeCandidates(on state: some AccountSource) -> [Transaction] {
        SimChain.candidates(on: state, maxCount: settings.maxCandidatesPerProposal, rng: &rng)
    }

    /// A random valid single-step change, proposed to whichever node leads.
    private func proposeConfChange() {
        guard let leader = ids.first(where: { live[$0]?.core.status.role == .leader }), let node = live[leader] else { return }
        let membership = node.core.status.membership
        var options: [ConfChange] = ids.filter { !membership.all.contains($0) }.map { .addLearner($0) }
        options += membership.learners.sorted().map { .promote($0) } + membership.learners.sorted().map { .remove($0) }
        if membership.voters.count > settings.minVoters { options += membership.voters.sorted().map { .remove($0) } }
        guard !options.isEmpty else { return }
        let block = SimBlock(proposal: 0, txs: [])
        if (try? node.core.proposeConfChange(pick(options), data: block.encoded)) != nil { confChanges += 1 }
    }

    private func deliver(_ message: Message) {
        guard let node = live[message.to] else { return }
        guard network.canTalk(message.from, message.to) else { return }
        node.core.step(message)
        checks.noteLeader(node)
    }

    private func drainAll(faults: Bool) {
        for id in ids {
            guard let node = live[id] else { continue }
            let outcome = node.drain { faults && chance(settings.readyCrashPerMille) ? pickCrashPoint() : nil }
            for message in outcome.messages { enqueue(message) }
            checks.recordApplied(by: id, outcome.applied)
            if let failure = outcome.failure { violate("\(id) cannot apply a committed block: \(failure)") }
            if outcome.crashed != nil {
                readyCrashes += 1
                crash(id)
            } else if node.core.membership != node.storage.membership {
                violate("\(id) core membership \(node.core.membership) differs from the applied one \(node.storage.membership)")
            }
        }
    }

    private func pickCrashPoint() -> CrashPoint {
        switch rng.next() % 4 {
        case 0: .beforePersist
        case 1: .afterPersist
        case 2: .afterSend
        default: .midApply(entries: Int(rng.next() % 4))
        }
    }

    private func enqueue(_ message: Message) { network.send(message, now: now, rng: &rng) }
}
