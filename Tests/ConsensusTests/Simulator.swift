// A deterministic cluster simulator: a seeded network that drops, delays, duplicates, reorders
// and partitions; crashes between ticks and inside a Ready cycle that keep only what was
// persisted; every node a ledger replica; safety checked after every step (SimInvariants.swift).
import Chain
@testable import Consensus
@testable import SimulationSupport

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
    /// Block syncs of nodes that lagged behind a membership change (see `syncLaggingNodes`).
    var syncs = 0
    /// Each live node's count of messages refused from non-members and non-voters, as of the last sync check.
    private var refusedFromNonMembers: [NodeID: UInt64] = [:]

    /// The faulty member of a hostile run, nil in an honest one (SimHostile.swift).
    var hostile: SimHostile?
    /// Evidence the honest nodes kept against the faulty node, and messages its links cut.
    var evidenceSeen = 0
    var evidenceByKind: [Evidence.Kind: Int] = [:]
    var linkCuts = 0
    /// The faulty node's messages the honest cores refused at the door, by reason.
    var refusedByReason: [RefusalReason: Int] = [:]
    /// Test-only: every honest core accepts a second leader for a term (the rule turned off).
    var withoutLeaderOfTermRule = false

    /// `settings` nil: drawn from the seed (`SimulationSettings.swarm`). `hostile`: one faulty
    /// member of that role (nil: every node honest).
    init(seed: UInt64, settings: SimulationSettings? = nil, hostile role: HostileRole? = nil,
         withoutLeaderOfTermRule: Bool = false) {
        self.seed = seed
        var rng = SplitMix64(seed: seed)
        self.settings = settings ?? .swarm(&rng)
        self.rng = rng
        self.withoutLeaderOfTermRule = withoutLeaderOfTermRule
        network = SimNetwork(odds: self.settings.network)
        let count = self.rng.next() % 2 == 0 ? 3 : 5
        ids = (0..<(count + self.settings.spareNodes)).map { "n\($0)" }
        var membership = RaftMembership(voters: Set(ids.prefix(count)))
        if let role {
            // A faulty voter is one of the initial voters and runs an honest core underneath;
            // a stranger or learner is an actor only, outside `ids` (never added nor promoted).
            let id = role == .voter ? ids[count - 1] : "x0"
            if role == .learner { membership.learners.insert(id) }
            hostile = SimHostile(id: id, role: role, rng: &self.rng)
        }
        for id in ids {
            storages[id] = MemoryStorage(membership: membership)
            start(id)
        }
    }

    var summary: String {
        "nodes \(ids.count) ticks \(now) crashes \(crashes)+\(readyCrashes) in ready restarts \(restarts) "
            + "(\(restartsWithUnapplied) with unapplied commits, \(commitsLost) unsynced commits lost) "
            + "confChanges \(confChanges) committed \(checks.committedCount) proposals \(proposals) "
            + "transfers \(transfersProposed) terms \(checks.leaderOfTerm.count) maxTerm \(checks.leaderOfTerm.keys.max() ?? 0) "
            + "syncs \(syncs)\(hostileSummary); " + settings.odds
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
            if withoutLeaderOfTermRule && id != hostile?.id { live[id]!.core.enforcesLeaderOfTerm = false }
            refusedFromNonMembers[id] = 0
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
            if isConverged(beyond: target) { return checkCommittedPrefixes() }
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
        let members = leader.core.status.membership.all.filter { storages[$0] != nil }  // not the faulty actor
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
        attack()
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
        if now % 25 == 0 {
            syncLaggingNodes()
            checkCommittedPrefixes()
        }
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
        let learners = membership.learners.filter { storages[$0] != nil }.sorted()  // the faulty learner stays one
        options += learners.map { .promote($0) } + learners.map { .remove($0) }
        if membership.voters.count > settings.minVoters { options += membership.voters.sorted().map { .remove($0) } }
        guard !options.isEmpty else { return }
        let block = SimBlock(proposal: 0, txs: [])
        if (try? node.core.proposeConfChange(pick(options), data: block.encoded)) != nil { confChanges += 1 }
    }

    private func deliver(_ message: Message) {
        if message.to == hostile?.id { hostile?.overhear(message) }
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
            if id == hostile?.id { for message in outcome.messages { hostile?.overhear(message) } }
            checkEvidence(outcome.evidence, keptBy: id)
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

// MARK: - The faulty member and what the honest nodes must still guarantee

extension Simulation {
    /// The faulty node's messages of this tick, through its links, to the honest cores at once
    /// (what it learned about a target is still true when the target hears it).
    fileprivate func attack() {
        guard var actor = hostile else { return }
        let targets = ids.filter { $0 != actor.id }.compactMap { live[$0] }
        let messages = actor.attack(targets, mine: live[actor.id], rng: &rng)
        hostile = actor
        for message in messages {
            guard SimLink.carries(message, linkIdentity: actor.id) else {
                linkCuts += 1
                continue
            }
            guard let node = live[message.to] else { continue }
            if let reason = node.core.step(message) { refusedByReason[reason, default: 0] += 1 }
            checks.noteLeader(node)
        }
    }

    var hostileSummary: String {
        guard let hostile else { return "" }
        return " faulty \(hostile.role) \(hostile.id): \(hostile.attacksSent) attacks (\(hostile.perMille)/1000 ticks, bursts <= \(hostile.maxBurst)), "
            + "\(linkCuts) cut by the link, refused \(refusedByReason.map { "\($0.key.rawValue) \($0.value)" }.sorted()), "
            + "evidence \(evidenceByKind.map { "\($0.key.rawValue) \($0.value)" }.sorted())"
    }

    /// Evidence is kept only against the faulty node: an honest node accused is a bug.
    fileprivate func checkEvidence(_ evidence: [Evidence], keptBy id: NodeID) {
        guard id != hostile?.id else { return }
        for item in evidence {
            evidenceSeen += 1
            evidenceByKind[item.kind, default: 0] += 1
            if item.from != hostile?.id { violate("\(id) kept evidence against honest \(item.from): \(item)") }
        }
    }

    /// No honest node ever loses or changes an entry it holds as committed: every entry up to
    /// its commit index is the one the replicas applied there.
    fileprivate func checkCommittedPrefixes() {
        for id in ids where id != hostile?.id {
            guard let node = live[id] else { continue }
            let log = node.core.log
            let through = min(log.committed, checks.maxCommittedIndex)
            guard through >= 1 else { continue }
            for index in 1...through {
                // Read in place: stable entries from storage, the rest from the unstable tail.
                let held = index < log.unstableOffset ? node.storage.log[Int(index)] : log.unstableEntries[Int(index - log.unstableOffset)]
                if held != checks.entry(at: index) {
                    violate("\(id) holds \(held) at committed index \(index), replicas applied \(String(describing: checks.entry(at: index)))")
                    return
                }
            }
        }
    }

    /// Block sync, as the node runtime does it (BlockSync.swift): a node that refuses a member it
    /// does not know yet, or a voter it still takes for a learner (it lags behind the change that
    /// added or promoted it, so the core will not follow that leader), fetches the committed
    /// blocks, writes them under the core and rebuilds it. (The runtime syncs once 32 blocks
    /// behind; the simulator as soon as a refusal shows the lag.)
    fileprivate func syncLaggingNodes() {
        for id in ids {
            guard let node = live[id] else { continue }
            let refused = node.core.refusals[.notMember, default: 0] + node.core.refusals[.notVoter, default: 0]
            defer { refusedFromNonMembers[id] = refused }
            guard refused > refusedFromNonMembers[id, default: 0], storages[id]!.applied < checks.maxCommittedIndex else { continue }
            blockSync(id, through: checks.maxCommittedIndex)
        }
    }

    private func blockSync(_ id: NodeID, through target: UInt64) {
        let storage = storages[id]!
        let applied = storage.applied
        var log = Array(storage.log.prefix(Int(applied) + 1))
        var membership = storage.membership
        for index in (applied + 1)...target {
            let entry = checks.entry(at: index)!
            if let change = entry.confChange { membership = membership.applying(change) }
            log.append(entry)
        }
        // Entries past the synced height stay when they extend it (they may be acknowledged).
        if storage.log.count > Int(target) + 1 && storage.log[Int(target)] == log[Int(target)] {
            log += storage.log[(Int(target) + 1)...]
        }
        storage.log = log
        storage.membership = membership
        storage.applied = target
        storage.hardState.commit = min(max(storage.hardState.commit, target), storage.lastIndex)
        storage.syncedCommit = storage.hardState.commit
        live[id] = nil
        syncs += 1
        start(id)
    }
}
