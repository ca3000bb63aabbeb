// A deterministic cluster simulator: a seeded network that drops, delays, duplicates, reorders
// and partitions; crashes that keep only what was persisted; safety checked after every step.
@testable import Consensus

/// Bounds and odds of one simulated run. Probabilities are per tick, in parts per thousand.
struct SimulationSettings {
    var faultTicks = 300
    var healTicksMax = 400
    var maxSubRoundsPerTick = 8
    var maxMessagesInFlight = 20_000
    var dropPerMille: UInt64 = 50
    var duplicatePerMille: UInt64 = 30
    var maxDelayTicks: UInt64 = 3
    var crashPerMille: UInt64 = 8
    var restartPerMille: UInt64 = 60
    var partitionPerMille: UInt64 = 30
    var healPerMille: UInt64 = 30
    var proposePerMille: UInt64 = 300
    var confChangePerMille: UInt64 = 20
    /// Nodes that start outside the cluster and may be added as learners, promoted, removed.
    var spareNodes = 1
    /// Voters are removed only while more than this many remain.
    var minVoters = 3
}

/// One run of the simulator for one seed. `violations` is empty when every invariant held.
final class Simulation {
    let seed: UInt64
    let settings: SimulationSettings
    var rng: SplitMix64
    let ids: [NodeID]
    var storages: [NodeID: MemoryStorage] = [:]
    var live: [NodeID: TestNode] = [:]
    var checkedApplied: [NodeID: Int] = [:]
    var network: [(deliverAt: UInt64, message: Message)] = []
    var group: [NodeID: Int] = [:]  // nodes talk only within the same group
    var now: UInt64 = 0
    var proposals: UInt32 = 0

    var committed: [UInt64: Entry] = [:]
    var leaderOfTerm: [UInt64: NodeID] = [:]
    var violations: [String] = []

    init(seed: UInt64, settings: SimulationSettings = SimulationSettings()) {
        self.seed = seed
        self.settings = settings
        self.rng = SplitMix64(seed: seed)
        let count = rng.next() % 2 == 0 ? 3 : 5
        ids = (0..<(count + settings.spareNodes)).map { "n\($0)" }
        let membership = Membership(voters: Set(ids.prefix(count)))
        for id in ids {
            storages[id] = MemoryStorage(membership: membership)
            start(id)
        }
    }

    var crashes = 0
    var summary: String {
        "nodes \(ids.count) confChanges \(confChanges) ticks \(now) crashes \(crashes) committed \(committed.count) "
            + "proposals \(proposals) terms \(leaderOfTerm.count) maxTerm \(leaderOfTerm.keys.max() ?? 0)"
    }

    private func chance(_ perMille: UInt64) -> Bool { rng.next() % 1000 < perMille }
    private func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }

    private func start(_ id: NodeID) {
        let settings = makeSettings(id, seed: rng.next())
        live[id] = TestNode(id: id, storage: storages[id]!, settings: settings)
        checkedApplied[id] = 0
    }

    /// Runs the fault phase, then heals everything and demands progress.
    func run() {
        for _ in 0..<settings.faultTicks where violations.isEmpty { step(faults: true) }
        group = [:]
        for id in ids where live[id] == nil { start(id) }
        let target = proposals
        var healTicks = 0
        while violations.isEmpty && healTicks < settings.healTicksMax {
            healTicks += 1
            step(faults: false)
            if isConverged(beyond: target) { return }
        }
        if violations.isEmpty {
            let heads = ids.map { "\($0): applied \(storages[$0]!.applied) term \(live[$0]!.core.status.term) \(live[$0]!.core.status.role)" }
            violations.append("no progress after healing for \(settings.healTicksMax) ticks: \(heads)")
        }
    }

    /// Every node applied the same log, including a proposal made after healing.
    private func isConverged(beyond target: UInt32) -> Bool {
        guard proposals > target, let maxIndex = committed.keys.max() else { return false }
        guard committed[maxIndex].map({ decode($0.data) > target }) ?? false else { return false }
        let leaders = live.values.filter { $0.core.status.role == .leader }
        guard let leader = leaders.max(by: { $0.core.status.term < $1.core.status.term }) else { return false }
        let members = leader.core.status.membership.all
        return members.allSatisfy { storages[$0]!.applied == maxIndex }
    }

    private func decode(_ data: [UInt8]) -> UInt32 {
        data.count == 4 ? data.reduce(0) { $0 << 8 | UInt32($1) } : 0
    }

    private func step(faults: Bool) {
        now += 1
        if faults { injectFaults() }
        for id in ids { live[id]?.core.tick() }
        if chance(settings.proposePerMille) || !faults { propose() }
        if faults && chance(settings.confChangePerMille) { proposeConfChange() }
        for _ in 0..<settings.maxSubRoundsPerTick {
            drainAll()
            let due = network.filter { $0.deliverAt <= now }.map(\.message)
            network.removeAll { $0.deliverAt <= now }
            if due.isEmpty { break }
            for message in due.shuffled(using: &rng) { deliver(message) }
        }
        drainAll()
        checkLeaders()
    }

    private func injectFaults() {
        for id in ids {
            if live[id] != nil && chance(settings.crashPerMille) {
                crashes += 1
                live[id] = nil  // unpersisted state is gone; storage stays
            } else if live[id] == nil && chance(settings.restartPerMille) {
                start(id)
            }
        }
        if chance(settings.partitionPerMille) {
            for id in ids { group[id] = Int(rng.next() % 3) }
        } else if chance(settings.healPerMille) {
            group = [:]
        }
    }

    private func propose() {
        for id in ids {
            guard let node = live[id], node.core.status.role == .leader else { continue }
            let next = proposals + 1
            let data = [UInt8(next >> 24), UInt8(next >> 16 & 0xff), UInt8(next >> 8 & 0xff), UInt8(next & 0xff)]
            if (try? node.core.propose(data)) != nil { proposals = next }
        }
    }

    var confChanges = 0

    /// A random valid single-step change, proposed to whichever node leads.
    private func proposeConfChange() {
        guard let leader = ids.first(where: { live[$0]?.core.status.role == .leader }), let node = live[leader] else { return }
        let membership = node.core.status.membership
        var options: [ConfChange] = ids.filter { !membership.all.contains($0) }.map { .addLearner($0) }
        options += membership.learners.sorted().map { .promote($0) } + membership.learners.sorted().map { .remove($0) }
        if membership.voters.count > settings.minVoters { options += membership.voters.sorted().map { .remove($0) } }
        guard !options.isEmpty else { return }
        if (try? node.core.proposeConfChange(pick(options), data: [0xC0])) != nil { confChanges += 1 }
    }

    private func deliver(_ message: Message) {
        guard let node = live[message.to] else { return }
        guard group[message.from, default: 0] == group[message.to, default: 0] else { return }
        node.core.step(message)
    }

    private func drainAll() {
        for id in ids {
            guard let node = live[id] else { continue }
            for message in node.drain() { enqueue(message) }
            checkApplied(node)
        }
    }

    private func enqueue(_ message: Message) {
        guard network.count < settings.maxMessagesInFlight, !chance(settings.dropPerMille) else { return }
        let copies = chance(settings.duplicatePerMille) ? 2 : 1
        for _ in 0..<copies {
            network.append((now + rng.next() % (settings.maxDelayTicks + 1), message))
        }
    }

    /// No two nodes apply different entries at one index.
    private func checkApplied(_ node: TestNode) {
        let start = checkedApplied[node.id]!
        for entry in node.appliedEntries[start...] {
            if let known = committed[entry.index] {
                if known != entry {
                    violations.append("\(node.id) applied \(entry) at \(entry.index), others applied \(known)")
                }
            } else {
                committed[entry.index] = entry
            }
        }
        checkedApplied[node.id] = node.appliedEntries.count
    }

    /// At most one leader per term; the leader of the highest term holds every committed entry.
    private func checkLeaders() {
        let maxTerm = live.values.map { $0.core.status.term }.max() ?? 0
        for id in ids {
            guard let node = live[id], node.core.status.role == .leader else { continue }
            let term = node.core.status.term
            if let other = leaderOfTerm[term], other != id {
                violations.append("two leaders in term \(term): \(other) and \(id)")
            }
            leaderOfTerm[term] = id
            guard term == maxTerm else { continue }
            for (index, entry) in committed where node.core.log.term(at: index) != entry.term {
                violations.append("leader \(id) of term \(term) lost committed entry \(index)")
            }
        }
    }
}
