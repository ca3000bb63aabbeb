// The healing simulator: nodes that run the REAL node runtime core (RuntimeCore over
// MemoryBlockStore, driven by the shared harness SimulationSupport/CoreSimulation.swift), the
// real registry core (RegistryCore, driven by HealingRegistry.swift) with a simulated provider, faults (crash,
// data loss, stall, come back, crashes inside a write round, partitions), load that rises and
// falls, and an operator target now and then. Cutting blocks, joins as learners, promotion and
// the registry's membership calls are the runtime core's own. After the faults stop, the cluster
// must heal on its own within a bound (HealingChecks.swift).
import Chain
import Foundation
@testable import Consensus
@testable import Membership
@testable import NodeCore
@testable import SimulationSupport

/// Bounds and odds of one healing run. Odds are per tick (per node where it says so), in parts
/// per thousand. One tick is `secondsPerTick` of the registry's clock and of the nodes' clocks.
struct HealingSettings {
    /// Ticks of faults before the faults stop; drawn per seed.
    var faultTicks = 450
    /// After the faults stop, the cluster must be back at its target within this many ticks.
    var healTicksMax = 1_800
    static let secondsPerTick = 0.1
    var maxSubRoundsPerTick = 8
    var network = NetworkOdds(dropPerMille: 20, duplicatePerMille: 10, maxDelayTicks: 2)
    /// Nodes heartbeat to the registry every this many ticks (0.5 s, the registry default).
    var heartbeatEveryTicks: UInt64 = 5
    /// The registry decides every this many ticks (0.5 s; the registry default is 0.25 s, and a
    /// decision needs a heartbeat interval of news to differ).
    var decideEveryTicks: UInt64 = 5
    /// Per node: the process dies (the provider sees it exit).
    var crashPerMille: UInt64 = 2
    /// Per crash: its data directory is gone too.
    var dataLossPerMille: UInt64 = 200
    /// Per node: the process hangs (no ticks, no messages, no heartbeats) for up to `stallTicksMax`.
    var stallPerMille: UInt64 = 2
    var stallTicksMax: UInt64 = 80
    var longStallTicksMax: UInt64 = 200
    /// Per down node with data: it comes back on its own (an operator, a supervisor).
    var comeBackPerMille: UInt64 = 5
    /// Per write round: a crash inside it (before the write, after it, after sending).
    var readyCrashPerMille: UInt64 = 1
    var partitionPerMille: UInt64 = 8
    var healPerMille: UInt64 = 40
    /// Per start by the provider: the process dies before its first heartbeat.
    var startFailPerMille: UInt64 = 150
    /// A provider start takes 1...this many ticks.
    var startDelayTicksMax: UInt64 = 20
    /// Per tick during the faults: clients send transfers to the leader (always once they stop).
    var proposePerMille: UInt64 = 400
    /// Per tick: the offered load moves.
    var loadMovePerMille: UInt64 = 15
    /// Per tick: the operator sets (or clears) a node target.
    var operatorPerMille: UInt64 = 2
    /// Voters the runtime promotes up to (the runtime's `consensus.voters`).
    var targetVoters = 3
    /// Test only: a rule broken on purpose in the real registry core, to show a seed finds it.
    var plantedRegistryBug: RegistryCore.PlantedBug?
    var autoscaler = AutoscalerSettings()
    var detector = FailureDetectorSettings()
}

extension HealingSettings {
    /// Swarm testing: each seed draws its own fault odds and autoscaler time windows (seconds
    /// scaled down so that load moves happen within a run).
    static func swarm(_ rng: inout SplitMix64) -> HealingSettings {
        var s = HealingSettings()
        s.network.dropPerMille = rng.next() % 60
        s.network.duplicatePerMille = rng.next() % 30
        s.network.maxDelayTicks = rng.next() % 4
        s.crashPerMille = rng.next() % 5
        s.dataLossPerMille = rng.next() % 500
        s.stallPerMille = rng.next() % 5
        s.comeBackPerMille = rng.next() % 15
        s.readyCrashPerMille = rng.next() % 3
        s.partitionPerMille = rng.next() % 15
        s.startFailPerMille = rng.next() % 300
        s.proposePerMille = 50 + rng.next() % 350
        var a = AutoscalerSettings()
        a.minNodes = 3
        a.maxNodes = 3 + Int(rng.next() % 5)
        a.gracePeriodS = 2
        a.scaleUpPeriodS = Double(3 + rng.next() % 20)
        a.scaleDownPeriodS = Double(3 + rng.next() % 30)
        a.downStabilizationS = Double(rng.next() % 30)
        a.reverseHoldS = Double(rng.next() % 30)
        a.restartBackoffS = 0.5
        a.restartBackoffMaxS = 8
        a.maxRestartFailures = 1 + Int(rng.next() % 3)
        a.deadVoterRemovalDelayS = Double(rng.next() % 6)
        a.alertRepeatS = 10
        s.autoscaler = a
        precondition((try? a.validate()) != nil && (try? s.detector.validate()) != nil)
        return s
    }

    var odds: String {
        "faults \(faultTicks) ticks, drop \(network.dropPerMille) dup \(network.duplicatePerMille) delay<=\(network.maxDelayTicks) "
            + "crash \(crashPerMille) (data loss \(dataLossPerMille)) stall \(stallPerMille) comeBack \(comeBackPerMille) "
            + "readyCrash \(readyCrashPerMille) partition \(partitionPerMille) startFail \(startFailPerMille) "
            + "propose \(proposePerMille) (per mille) "
            + "nodes \(autoscaler.minNodes)...\(autoscaler.maxNodes) maxRestartFailures \(autoscaler.maxRestartFailures)"
    }
}

/// One node's machine as the provider sees it: its process and its data directory.
struct SimHost {
    enum Process: Equatable {
        case down
        case running
        /// Alive but hung until the given tick: no ticks, no messages, no heartbeats.
        case stalled(until: UInt64)
    }

    /// The durable state; nil once the data directory is gone.
    var storage: MemoryBlockStore?
    var process: Process = .down
    /// Stopped and deleted by a retirement: never started again.
    var retired = false
    /// Spawned by the registry: every start passes `--join` (the core asks until it is a member).
    var joins = false
    /// The process dies at this tick (a start that fails before its first heartbeat).
    var diesAt: UInt64?
    /// Started at least once: its data directory exists for the provider.
    var everStarted = false
    /// Registered with the registry since its last start (nodes register at start-up).
    var registered = false

    /// Up for the quorum checks: a process that runs and is not hung.
    var isUp: Bool { process == .running }
}

/// One healing run for one seed. `violations` is empty when every invariant held.
final class HealingSimulation: CoreSimulation {
    let seed: UInt64
    let settings: HealingSettings
    var hosts: [NodeID: SimHost] = [:]
    var faultsOn = true
    var registry: SimRegistry
    /// Offered load in cores, spread over the serving nodes.
    var loadCores = 1.0
    /// Who proposed each membership change asked of a leader, by (term, height), for the checks' messages.
    var confOrigin: [String: String] = [:]
    /// The configuration as of the highest committed block, and IDs ever removed from it.
    var committedConfig = ClusterMembership()
    var removedIds: Set<NodeID> = []
    var stats = HealingStats()
    /// The committed height when the faults stopped; healing needs a later block committed.
    var heightAtHealStart: UInt64 = 0

    /// Settings are drawn from the seed; `adjust` may then change some (a known-issue replay).
    init(seed: UInt64, adjust: (inout HealingSettings) -> Void = { _ in }) {
        self.seed = seed
        var rng = SplitMix64(seed: seed)
        var drawn = HealingSettings.swarm(&rng)
        // Drawn from its own stream, so the seed's schedule is otherwise the one it named when
        // every run had 450 fault ticks (`adjust` can bring those back, as a replay does).
        var lengths = SplitMix64(seed: seed ^ 0x6865_616C_696E_6721)
        drawn.faultTicks = 120 + Int(lengths.next() % 200)
        adjust(&drawn)
        self.settings = drawn
        registry = SimRegistry(settings: drawn)
        super.init(rng: rng, network: drawn.network, voterTarget: drawn.targetVoters, plantedBug: nil)
        // Set-up runs without faults; the seed's faults apply from the first step.
        faultsOn = false
        do {
            try bootstrap("node1", others: ["node2", "node3"]) { id, store in
                ids.append(id)
                hosts[id] = SimHost(storage: store)
                start(id)
            }
        } catch {
            violate("cannot set the cluster up: \(error)")
        }
        faultsOn = true
        loadCores = Double(1 + self.rng.next() % 3)
    }

    var seconds: Double { Double(tick) * HealingSettings.secondsPerTick }

    /// `SIM_TRACE=1`: every fault, process change, registry action and conf change, by step.
    static let tracing = ProcessInfo.processInfo.environment["SIM_TRACE"] != nil
    func trace(_ what: @autoclosure () -> String) {
        if Self.tracing { print("step \(tick): \(what())") }
    }

    var summary: String {
        "ticks \(tick) nodes ever \(ids.count) \(stats) committed \(maxStoredHeight) "
            + "registry \(registry.actionCounts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")); "
            + settings.odds
    }

    // MARK: - Hooks of the real-core harness

    /// Up: running and not hung (a hung process gets no ticks, messages or duties).
    override func isUp(_ id: String) -> Bool { hosts[id]?.isUp == true }

    override var roundCrashPerMille: UInt64? { faultsOn ? settings.readyCrashPerMille : nil }

    /// A crash inside a write round: what was done before it stays.
    override func crashedInRound(_ node: RuntimeSimNode) {
        stats.crashes += 1
        stop(node.id, loseData: false, byRegistry: false)
    }

    override func observe(_ effect: RuntimeEffect, on node: RuntimeSimNode) {
        guard case .answerJoin(let peer, let nodeId, let accepted, let reason, _) = effect else { return }
        trace("\(node.id) answers \(nodeId)'s join (via \(peer)): \(accepted ? "accepted" : "refused: \(reason)")")
    }

    /// The first time a height is committed, its membership change takes effect for the checks.
    override func firstStored(_ block: Block, height: UInt64) {
        if let change = block.membership { noteCommitted(change, height: height, term: block.header.term) }
    }

    // MARK: - Run

    /// The fault phase, then healing: faults stop and the cluster must reach its target alone.
    func run() {
        for _ in 0..<settings.faultTicks where violations.isEmpty { step() }
        guard violations.isEmpty else { return }
        stopFaults()
        let healStart = tick
        heightAtHealStart = maxStoredHeight
        while violations.isEmpty && tick - healStart < UInt64(settings.healTicksMax) {
            step()
            if isHealed(beyond: heightAtHealStart) {
                stats.healTicks = Int(tick - healStart)
                return
            }
        }
        if violations.isEmpty {
            violate("not healed \(settings.healTicksMax) ticks (\(Double(settings.healTicksMax) * HealingSettings.secondsPerTick) s) "
                + "after the faults stopped: \(healingReport())")
        }
    }

    /// Faults stop: the network is perfect again, hangs end, starts succeed; crashed nodes stay
    /// down for the registry to repair. The load settles at the autoscaler's target per node.
    func stopFaults() {
        faultsOn = false
        network.group = [:]
        network.odds = NetworkOdds(dropPerMille: 0, duplicatePerMille: 0, maxDelayTicks: 0)
        for id in ids {
            if case .stalled = hosts[id]!.process { hosts[id]!.process = .running }
            hosts[id]!.diesAt = nil
        }
    }

    func step() {
        tick += 1
        if faultsOn { injectFaults() }
        runProcesses()
        registry.runProviderTasks(self)
        tickNodes(skewPerMille: faultsOn ? 30 : nil)
        submitTransfers(force: !faultsOn, perMille: settings.proposePerMille)
        exchange(maxSubRounds: settings.maxSubRoundsPerTick)
        checkOneConfChangeAtATime()
        heartbeats()
        if tick % settings.decideEveryTicks == 0 { registry.decideOnce(self) }
    }

    // MARK: - Processes

    /// Starts `id`'s process on its durable state, with `--join` if the registry spawned it.
    func start(_ id: NodeID) {
        guard let storage = hosts[id]!.storage, !hosts[id]!.retired else { return }
        precondition(live[id] == nil, "\(id) started twice")
        hosts[id]!.process = .running
        do {
            try startCore(id, store: storage, joining: hosts[id]!.joins)
        } catch {
            hosts[id]!.process = .down
            violate("\(id) cannot rebuild its state from its store: \(error)")
            return
        }
        trace("\(id) starts: head \(storage.headHeight) term \(storage.hardState.term)")
        hosts[id]!.everStarted = true
        hosts[id]!.registered = false
    }

    /// The process ends; what was persisted stays unless `loseData`.
    func stop(_ id: NodeID, loseData: Bool, byRegistry: Bool) {
        trace("\(id) stops\(loseData ? ", data deleted" : "")\(byRegistry ? " by the registry" : "")")
        live[id] = nil
        hosts[id]!.process = .down
        hosts[id]!.diesAt = nil
        if loseData { hosts[id]!.storage = nil }
        if !byRegistry { registry.processExited(id, self) }
    }

    private func runProcesses() {
        for id in ids {
            let host = hosts[id]!
            if case .stalled(let until) = host.process, until <= tick { hosts[id]!.process = .running }
            if let dies = host.diesAt, dies <= tick, host.process != .down {
                stats.failedStarts += 1
                stop(id, loseData: false, byRegistry: false)
            }
        }
    }

    private func injectFaults() {
        for id in ids where !hosts[id]!.retired {
            let host = hosts[id]!
            if host.process != .down && chance(settings.crashPerMille) {
                let loseData = chance(settings.dataLossPerMille) && canLoseData(id)
                stats.crashes += 1
                if loseData { stats.dataLosses += 1 }
                stop(id, loseData: loseData, byRegistry: false)
            } else if host.process == .running && chance(settings.stallPerMille) {
                stats.stalls += 1
                // One hang in ten is long: past the restart attempts, so the node is replaced and removed.
                let longest = chance(100) ? settings.longStallTicksMax : settings.stallTicksMax
                hosts[id]!.process = .stalled(until: tick + 1 + rng.next() % longest)
                trace("\(id) hangs until \(hosts[id]!.process)")
            } else if host.process == .down && host.storage != nil && chance(settings.comeBackPerMille) {
                stats.comeBacks += 1
                start(id)
            }
        }
        if chance(settings.partitionPerMille) {
            stats.partitions += 1
            for id in ids { network.group[id] = Int(rng.next() % 3) }
            trace("partition \(ids.map { "\($0):\(network.group[$0]!)" }.joined(separator: " "))")
        } else if chance(settings.healPerMille) {
            network.group = [:]
        }
        if chance(settings.loadMovePerMille) {
            let moved = loadCores * (0.5 + Double(rng.next() % 100) / 66)
            loadCores = min(max(moved, 0.2), 8)
        }
        if chance(settings.operatorPerMille) {
            let a = settings.autoscaler
            // POST /scale sets a target; it has no way to clear one, so a third of the draws do nothing.
            if rng.next() % 3 != 0 { registry.scale(to: a.minNodes + Int(rng.next() % UInt64(a.maxNodes - a.minNodes + 1)), self) }
        }
    }

    /// Data may go only while the voters that keep theirs stay a majority even of one more voter
    /// (a promotion under way): otherwise no repair can exist without an operator.
    private func canLoseData(_ id: NodeID) -> Bool {
        let voters = committedConfig.voters
        let keeping = voters.count { $0 != id && hosts[$0]?.storage != nil }
        return keeping >= Quorum.size(voterCount: voters.count + 1)
    }

    /// Every heartbeat interval, and at once from a node that just started (it registers at
    /// start-up), unless its start is failing (it dies before its first heartbeat).
    private func heartbeats() {
        let periodic = tick % settings.heartbeatEveryTicks == 0
        for id in ids where hosts[id]!.isUp && hosts[id]!.diesAt == nil && (periodic || !hosts[id]!.registered) {
            guard let node = live[id] else { continue }
            hosts[id]!.registered = true
            registry.heartbeat(from: node, load: load(of: id), removed: removedIds, self)
        }
    }

    /// CPU per core: the offered load shared by the serving nodes, with some noise; once the
    /// faults stop, exactly the autoscaler's target, so the node count holds still.
    private func load(of id: NodeID) -> NodeLoad {
        guard faultsOn else { return NodeLoad(cpu: settings.autoscaler.targetValue) }
        let serving = max(1, ids.count { hosts[$0]!.isUp })
        let noise = 0.9 + Double(rng.next() % 21) / 100
        return NodeLoad(cpu: loadCores / Double(serving) * noise)
    }
}

/// What happened in one run, for the summary.
struct HealingStats: CustomStringConvertible {
    var crashes = 0
    var dataLosses = 0
    var stalls = 0
    var comeBacks = 0
    var partitions = 0
    var failedStarts = 0
    var confChanges = 0
    var healTicks = -1

    var description: String {
        "crashes \(crashes) (data lost \(dataLosses)) stalls \(stalls) comeBacks \(comeBacks) partitions \(partitions) "
            + "failedStarts \(failedStarts) confChanges \(confChanges) healed in \(healTicks) ticks"
    }
}
