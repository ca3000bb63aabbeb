// The cluster simulator: a cluster of REAL node runtime cores (Sources/NodeCore, driven by the
// shared harness in SimulationSupport/CoreSimulation.swift) under a seeded network that drops,
// delays, duplicates, reorders and partitions; crashes between ticks and at the runtime's crash
// points inside a write round (before the write, after it, after sending); clock skew; transfers
// valid and not; membership changes and leadership hand-overs asked of the leader; and, in a
// hostile run, a faulty member (SimHostile.swift). Leaders cut real, signed blocks; joins,
// learner promotion, removals, block sync and term-start blocks all run the node's code.
// Safety is checked after every step, progress after the faults stop.
import Chain
@testable import Consensus
@testable import NodeCore
@testable import SimulationSupport

/// Bounds and odds of one run, per tick (100 ms of simulated time), in parts per thousand.
struct ClusterSimSettings {
    /// Ticks of faults before healing; drawn per seed (many short schedules and some longer
    /// ones find more than few long ones for the same time).
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
    /// A membership change asked of the leader (add the spare, promote or remove a learner,
    /// remove a voter), or a leadership hand-over.
    var confChangePerMille: UInt64 = 15
    /// A node's tick is skipped or doubled (a slow or fast clock, a pause).
    var clockSkewPerMille: UInt64 = 50

    /// Swarm testing, after TigerBeetle's VOPR: each seed draws its own fault odds, so some runs
    /// are near-perfect networks with many crashes and others lossy networks with few.
    static func swarm(_ rng: inout SplitMix64) -> ClusterSimSettings {
        var s = ClusterSimSettings()
        s.network.dropPerMille = rng.next() % 150
        s.network.duplicatePerMille = rng.next() % 80
        s.network.maxDelayTicks = rng.next() % 5
        s.crashPerMille = rng.next() % 20
        s.roundCrashPerMille = rng.next() % 12
        s.partitionPerMille = rng.next() % 60
        s.submitPerMille = 100 + rng.next() % 900
        s.confChangePerMille = rng.next() % 40
        s.clockSkewPerMille = rng.next() % 300
        s.faultTicks = 20 + Int(rng.next() % 100)
        return s
    }

    var odds: String {
        "faults \(faultTicks) ticks, drop \(network.dropPerMille) dup \(network.duplicatePerMille) delay<=\(network.maxDelayTicks) crash \(crashPerMille)/\(roundCrashPerMille) "
            + "partition \(partitionPerMille) skew \(clockSkewPerMille) submit \(submitPerMille) conf \(confChangePerMille) (per mille)"
    }
}

/// One run for one seed; `violations` empty when every invariant held, else the first names the
/// step at which it broke.
final class ClusterSimulation: CoreSimulation {
    let seed: UInt64
    let settings: ClusterSimSettings
    /// The node that starts outside the cluster and asks to join.
    let spare: String
    var faultsOn = true
    /// The highest-term leader last checked to hold every committed block 1...through.
    var leaderChecked: (id: String, term: UInt64, through: UInt64) = ("", 0, 0)
    /// Each node's durable store, kept across crashes.
    var stores: [String: MemoryBlockStore] = [:]
    var crashes = 0, roundCrashes = 0, restarts = 0, submitted = 0, confChanges = 0, joinsAnswered = 0

    /// The faulty member of a hostile run, nil in an honest one (SimHostile.swift).
    var hostile: SimHostile?
    /// Test-only: every honest core accepts a second leader for a term (the rule turned off).
    let withoutLeaderOfTermRule: Bool
    /// Evidence the honest nodes kept against the faulty node, and messages its links cut.
    var evidenceSeen = 0
    var evidenceByKind: [Evidence.Kind: Int] = [:]
    var linkCuts = 0
    /// Messages the honest cores refused at the door, by reason.
    var refusedByReason: [RefusalReason: Int] = [:]

    /// `hostile`: one faulty member of that role (nil: every node honest). `plantedBug`: a bug
    /// planted in every real core, to show a seed finds it.
    init(seed: UInt64, hostile role: HostileRole? = nil, plantedBug: RuntimeCore<MemoryBlockStore>.PlantedBug? = nil,
         withoutLeaderOfTermRule: Bool = false) {
        self.seed = seed
        var rng = SplitMix64(seed: seed)
        settings = .swarm(&rng)
        let voters = rng.next() % 2 == 0 ? 3 : 5
        self.withoutLeaderOfTermRule = withoutLeaderOfTermRule
        spare = "n\(voters)"
        super.init(rng: rng, network: settings.network, voterTarget: voters, plantedBug: plantedBug)
        ids = (0...voters).map { "n\($0)" }
        if let role {
            // A faulty voter is one of the initial voters and runs an honest core underneath; a
            // stranger or learner is an actor only, outside `ids` (never started nor promoted).
            let id = role == .voter ? ids[voters - 1] : "x0"
            hostile = SimHostile(id: id, role: role, rng: &self.rng)
        }
        faultsOn = false
        do { try setUp() } catch { violate("cannot set the cluster up: \(error)") }
        faultsOn = true
    }

    /// n0 bootstraps the chain and adds the other voters; a faulty learner is added as a learner
    /// (it never runs a core, so it is never caught up and never promoted); the spare starts
    /// empty and joins later.
    private func setUp() throws {
        try bootstrap(ids[0], others: Array(ids[1..<voterTarget])) { id, store in
            stores[id] = store
            try startCore(id, store: store, joining: false)
        }
        if let hostile, hostile.role == .learner, let n0 = live[ids[0]] {
            let change = MembershipChange(kind: .addLearner, nodeId: hostile.id, nodeKey: SimChain.key(hostile.id).publicKey)
            guard askMembership(change, of: n0) != nil else { throw SimSetupError(what: "the faulty learner was not added") }
            exchange(maxSubRounds: 4)
        }
        stores[spare] = MemoryBlockStore(genesis: SimChain.genesis, signaturesChecked: true)
        try startCore(spare, store: stores[spare]!, joining: true)
    }

    var summary: String {
        "voters \(voterTarget) ticks \(tick) height \(maxStoredHeight) crashes \(crashes)+\(roundCrashes) in rounds restarts \(restarts) "
            + "submitted \(submitted) confChanges \(confChanges) joins \(joinsAnswered) terms \(leaderOfTerm.count)\(hostileSummary); "
            + settings.odds
    }

    // MARK: hooks

    override var roundCrashPerMille: UInt64? { faultsOn ? settings.roundCrashPerMille : nil }

    override func crashedInRound(_ node: RuntimeSimNode) {
        roundCrashes += 1
        crash(node.id)
    }

    override func started(_ node: RuntimeSimNode) {
        if withoutLeaderOfTermRule && node.id != hostile?.id { node.core.raft.enforcesLeaderOfTerm = false }
    }

    override func observe(_ effect: RuntimeEffect, on node: RuntimeSimNode) {
        switch effect {
        case .answerJoin:
            joinsAnswered += 1
        case .refused(_, let reason):
            refusedByReason[reason, default: 0] += 1
        case .evidence(let evidence):
            noteEvidence(evidence, keptBy: node.id)
        default:
            break
        }
    }

    override func deliver(_ m: Message) {
        if let id = hostile?.id, m.to == id || m.from == id { hostile?.overhear(m) }
        super.deliver(m)
    }

    // MARK: the run

    /// The fault phase, then healing: faults stop, every node restarts, and a block cut after
    /// healing must reach every member.
    func run() {
        for _ in 0..<settings.faultTicks where violations.isEmpty { step() }
        faultsOn = false
        network.group = [:]
        for id in ids where live[id] == nil && violations.isEmpty { restart(id) }
        let target = maxStoredHeight
        for _ in 0..<settings.healTicksMax where violations.isEmpty {
            step()
            if isConverged(beyond: target) { return checkCommittedPrefixes() }
        }
        if violations.isEmpty {
            let heads = ids.map { "\($0): h\(live[$0]?.store.headHeight ?? 0) \(live[$0]?.core.status.role.rawValue ?? "down") t\(live[$0]?.core.raft.currentTerm ?? 0)" }
            violate("no progress after healing for \(settings.healTicksMax) ticks: \(heads)")
        }
    }

    /// Every member of the leader's chain (but a faulty actor without a core) holds a block cut
    /// after healing (`target`); that they agree on it is checked as each one stores it.
    private func isConverged(beyond target: UInt64) -> Bool {
        guard let leader else { return false }
        let members = (leader.store.membership.voters + leader.store.membership.learners).filter { ids.contains($0) }
        return members.allSatisfy { (live[$0]?.store.headHeight ?? 0) > target }
    }

    private func step() {
        tick += 1
        if faultsOn { injectFaults() }
        tickNodes(skewPerMille: faultsOn ? settings.clockSkewPerMille : nil)
        attack()
        submitted += submitTransfers(force: !faultsOn, perMille: settings.submitPerMille)
        if faultsOn && chance(settings.confChangePerMille) { askConfChange() }
        exchange(maxSubRounds: settings.maxSubRoundsPerTick)
        checkLeaders()
        checkMemberships()
        if tick % 25 == 0 { checkCommittedPrefixes() }
    }

    private func restart(_ id: String) {
        guard let store = stores[id] else { return }
        precondition(live[id] == nil, "\(id) started twice")
        do {
            try startCore(id, store: store, joining: id == spare)
            restarts += 1
        } catch {
            violate("\(id) cannot restart: \(error)")
        }
    }

    private func injectFaults() {
        for id in ids {
            if live[id] != nil && chance(settings.crashPerMille) {
                crashes += 1
                crash(id)
            } else if live[id] == nil && chance(settings.restartPerMille) {
                restart(id)
            }
        }
        if chance(settings.partitionPerMille) {
            for id in ids { network.group[id] = Int(rng.next() % 3) }
        } else if chance(settings.healPerMille) {
            network.group = [:]
        }
    }

    /// A random change asked of the leader: add the spare (it also asks to join by itself),
    /// promote or remove a learner, remove a voter while more than three remain, or hand
    /// leadership over. A faulty learner stays one.
    private func askConfChange() {
        guard let leader else { return }
        let m = leader.store.membership
        let learners = m.learners.filter { $0 != hostile?.id || hostile?.role != .learner }
        var options: [MembershipChange] = learners.map { MembershipChange(kind: .remove, nodeId: $0) }
        options += learners.map { MembershipChange(kind: .promote, nodeId: $0) }
        if m.voters.count > 3 { options += m.voters.map { MembershipChange(kind: .remove, nodeId: $0) } }
        if !m.contains(spare) && !m.retired.contains(spare) {
            options.append(MembershipChange(kind: .addLearner, nodeId: spare, nodeKey: SimChain.key(spare).publicKey))
        }
        let pick = rng.next() % UInt64(options.count + 1)
        guard pick < UInt64(options.count) else {
            perform(leader.core.handle(.transferLeadership(to: nil, request: 1), now: time), on: leader)
            return
        }
        if askMembership(options[Int(pick)], of: leader) != nil { confChanges += 1 }
    }
}

extension ClusterSimulation {
    /// Failover in simulated time on a near-perfect network (1% loss, no delay beyond a step):
    /// faults off, the cluster commits under a leader, then the leader's process dies. With
    /// `closesLinks` its peers' links close (a kill); without, it just goes silent (a hang, or a
    /// partition). Returns the ticks from the death to the first block of a later term stored by
    /// a survivor, nil if none within `maxTicks`; the safety checks run at every step.
    func failoverTicks(closesLinks: Bool, maxTicks: Int = 100) -> Int? {
        faultsOn = false
        network.odds = NetworkOdds(dropPerMille: 10, duplicatePerMille: 10, maxDelayTicks: 0)
        for _ in 0..<30 where violations.isEmpty { step() }
        guard let old = leader, maxStoredHeight > 0 else { violate("no leader before the kill"); return nil }
        let oldTerm = old.core.raft.currentTerm
        let heightBefore = maxStoredHeight
        if closesLinks { crash(old.id) } else { live[old.id] = nil }
        for ticks in 1...maxTicks where violations.isEmpty {
            step()
            if maxStoredHeight > heightBefore, let term = termAt[maxStoredHeight], term > oldTerm {
                checkCommittedPrefixes()
                return ticks
            }
        }
        return nil
    }
}
