// What the registry knows of the cluster, handed to the autoscaler each round. Soft state: the
// registry rebuilds it from heartbeats, probes and its provider; the voter set is the leader's.

import Consensus

/// How the registry judges a node: `suspect` is a late heartbeat not yet settled by a probe.
public enum NodeHealth: String, Sendable { case alive, suspect, dead }

/// One load figure a node reports; each may be missing (an old node, a failed scrape).
public struct NodeLoad: Sendable, Equatable {
    /// CPU use, 0...1 per core.
    public var cpu: Double?
    /// Client requests per second.
    public var requestRate: Double?
    /// Transactions waiting in the mempool.
    public var mempool: Double?
    /// Time from submit to commit, milliseconds.
    public var submitLatencyMs: Double?

    public init(cpu: Double? = nil, requestRate: Double? = nil, mempool: Double? = nil,
                submitLatencyMs: Double? = nil) {
        self.cpu = cpu
        self.requestRate = requestRate
        self.mempool = mempool
        self.submitLatencyMs = submitLatencyMs
    }

    /// The figure `metric` names, or nil when the node did not report it.
    public func value(of metric: LoadMetric) -> Double? {
        switch metric {
        case .cpu: cpu
        case .requestRate: requestRate
        case .mempool: mempool
        case .submitLatency: submitLatencyMs
        }
    }
}

/// The load figure the autoscaler scales on; `AutoscalerSettings.targetValue` is in its unit.
public enum LoadMetric: String, Sendable, CaseIterable { case cpu, requestRate, mempool, submitLatency }

/// What the registry knows of one node (from heartbeats, probes and its provider).
public struct NodeObservation: Sendable, Equatable {
    public var id: String
    public var health: NodeHealth
    /// The role the node last reported; nil before it reported one.
    public var role: Role?
    public var height: UInt64
    /// Our provider runs it: we may restart or stop it.
    public var managed: Bool
    /// Its data directory or volume is intact, so a restart can bring it back as itself.
    public var hasData: Bool
    /// Down because someone outside the registry stopped it on purpose (its provider tells):
    /// taken out, so replaced rather than restarted, unless the quorum needs it back.
    public var stoppedDeliberately: Bool
    /// Consecutive restarts that did not bring it back.
    public var restartFailures: Int
    /// When we last restarted, spawned or stopped it (seconds, the registry's clock).
    public var lastActionAt: Double?
    /// The registry started it (spawned or restarted it) then and has neither heard from it nor
    /// seen it exit since: on its way up. Nil otherwise.
    public var startingSince: Double?
    /// Being retired (by us or by the operator).
    public var draining: Bool
    public var load: NodeLoad
    /// Its height is within a few blocks of the leader's commit.
    public var caughtUp: Bool
    /// The last heartbeat or successful probe since the registry started; nil = never heard from,
    /// which during the grace period means "not yet re-registered", not "dead".
    public var lastHeardAt: Double?
    /// The provider saw its process end and it has not been heard from since: known dead, where
    /// `health == .dead` alone may be silence (a partition, a hung process).
    public var exitSeen: Bool

    public init(id: String, health: NodeHealth = .alive, role: Role? = .follower, height: UInt64 = 0,
                managed: Bool = true, hasData: Bool = true, restartFailures: Int = 0,
                lastActionAt: Double? = nil, startingSince: Double? = nil, draining: Bool = false, load: NodeLoad = NodeLoad(),
                caughtUp: Bool = true, lastHeardAt: Double? = nil, stoppedDeliberately: Bool = false, exitSeen: Bool = false) {
        self.id = id
        self.health = health
        self.role = role
        self.height = height
        self.managed = managed
        self.hasData = hasData
        self.stoppedDeliberately = stoppedDeliberately
        self.restartFailures = restartFailures
        self.lastActionAt = lastActionAt
        self.startingSince = startingSince
        self.draining = draining
        self.load = load
        self.caughtUp = caughtUp
        self.lastHeardAt = lastHeardAt
        self.exitSeen = exitSeen
    }
}

/// The whole observed state for one `Autoscaler.decide` round.
public struct ObservedCluster: Sendable {
    public var nodes: [NodeObservation]
    /// The membership as the registry verified it from the chain (empty until it has).
    public var voters: [String]
    public var learners: [String]
    public var leader: String?
    /// When a node last reported a consensus failure (POST /consensus-failure).
    public var consensusFailureReportedAt: Double?
    /// The node count the operator asked for (POST /scale); nil = follow the load.
    public var operatorTarget: Int?
    /// When the registry started: nodes not heard from since get `gracePeriodS` before any action.
    public var registryStartedAt: Double
    /// Actions the shell is still carrying out; the autoscaler does not repeat them.
    public var inFlight: [ScalingAction]

    public init(nodes: [NodeObservation], voters: [String], learners: [String] = [], leader: String? = nil,
                consensusFailureReportedAt: Double? = nil, operatorTarget: Int? = nil,
                registryStartedAt: Double = 0, inFlight: [ScalingAction] = []) {
        self.nodes = nodes
        self.voters = voters
        self.learners = learners
        self.leader = leader
        self.consensusFailureReportedAt = consensusFailureReportedAt
        self.operatorTarget = operatorTarget
        self.registryStartedAt = registryStartedAt
        self.inFlight = inFlight
    }
}
