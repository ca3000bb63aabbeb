// What flows in and out of the registry core: provider facts and node reports in, effects out,
// action results back in. The shell (RegistryService) performs effects; the healing simulator
// performs them against a simulated provider and cluster.

import Consensus

/// What only the provider knows, gathered by the shell outside the registry's lock before each
/// round, for the IDs `RegistryCore.idsToAskAbout(managed:)` names.
public struct ProviderFacts: Sendable, Equatable {
    /// Every node the provider runs or has data for (`NodeProvider.knownNodes`).
    public var managed: Set<String>
    public var running: Set<String>
    public var withData: Set<String>
    /// Stopped from outside the registry on purpose (`NodeProvider.stoppedDeliberately`).
    public var stoppedDeliberately: Set<String>
    /// Where the provider started a node (`NodeProvider.apiURL`), when it runs it.
    public var apiURLs: [String: String]

    public init(managed: Set<String> = [], running: Set<String> = [], withData: Set<String> = [],
                stoppedDeliberately: Set<String> = [], apiURLs: [String: String] = [:]) {
        self.managed = managed
        self.running = running
        self.withData = withData
        self.stoppedDeliberately = stoppedDeliberately
        self.apiURLs = apiURLs
    }
}

/// A node's signed heartbeat or registration, parsed and admitted by the shell.
public struct NodeReport: Sendable, Equatable {
    public var id: String
    public var apiUrl: String
    public var p2pAddr: String
    public var nodeKey: String
    public var height: UInt64 = 0
    public var commitIndex: UInt64 = 0
    public var term: UInt64 = 0
    /// nil when the node did not say.
    public var role: Role?
    public var leader: String?
    public var voters: [String] = []
    public var learners: [String] = []
    public var retiredIds: [String] = []
    public var load = NodeLoad()
    /// Why its storage refuses writes; nil when it takes them.
    public var degraded: String?
    /// What its consensus core kept as evidence of a faulty member; nil when it kept none.
    public var evidence: EvidenceReport?
    /// The incarnation its provider started it with (fencing); 0 when started by hand without one.
    public var incarnation: UInt64 = 0

    public init(id: String, apiUrl: String, p2pAddr: String, nodeKey: String) {
        self.id = id
        self.apiUrl = apiUrl
        self.p2pAddr = p2pAddr
        self.nodeKey = nodeKey
    }
}

/// One thing the shell must do for the core. Effects with a ticket are answered with
/// `RegistryCore.finished(_:_:at:)` once done (whatever the outcome).
public enum RegistryEffect: Sendable, Equatable {
    /// Start `node` again on its own data (a restart).
    case restart(ticket: UInt64, node: String, peers: [String])
    /// Start a brand-new node under the fresh ID `node`; answered with `.started` on success.
    case spawn(ticket: UInt64, node: String, bootstrap: Bool, peers: [String])
    /// Stop `node` and set its data aside (the last step of a retirement).
    case destroy(ticket: UInt64, node: String)
    /// POST /members/remove {"nodeId": node} to the leader at `leaderURL`.
    case removeMember(ticket: UInt64, node: String, leader: String, leaderURL: String)
    /// POST /leadership/transfer to `node` at `url`.
    case transferLeadership(ticket: UInt64, node: String, url: String)
    /// GET /health/live of a node whose heartbeat is late; answered with `RegistryCore.probed`.
    case probe(node: String, url: String)
    /// Keep and show an event.
    case record(kind: RegistryEventKind, node: String?, message: String)
    /// An action of kind `action` (`ScalingAction.kind`) failed: keep and show an `action_failed`
    /// event, and count it by that kind (autochain_registry_actions_failed_total).
    case actionFailed(action: ScalingActionKind, node: String?, message: String)
    /// The autoscaler decided `action` this round, and the core carries it out: record it as an
    /// event of its kind with its reason, count it, mark it on the dashboard's time axis.
    case decided(ScalingAction)
}

/// How an effect with a ticket ended.
public enum ActionResult: Sendable, Equatable {
    case succeeded
    /// A spawn started its node here.
    case started(apiUrl: String, p2pAddr: String)
    case failed(String)
}

/// Why the core refuses an operator's request (the shell turns it into the API error).
public enum RegistryRefusal: Error, Sendable, Equatable {
    case unknownNode(String)
}

/// A node's account of the evidence its consensus core kept against faulty members (two leaders
/// claiming one term, an append that contradicts a committed entry): how many since it started,
/// and the latest. The registry reports it to the operator and never acts on it: a faulty member
/// could accuse an honest one, so only the operator, with both nodes' logs, can judge.
public struct EvidenceReport: Sendable, Equatable {
    public var count: UInt64
    /// `equivocating_leader` or `committed_conflict` (the node's `autochain_raft_evidence_total` kinds).
    public var kind: String
    /// The member the evidence is against.
    public var accused: String
    public var term: UInt64

    public static let kinds: Set<String> = ["equivocating_leader", "committed_conflict"]

    public init(count: UInt64, kind: String, accused: String, term: UInt64) {
        self.count = count
        self.kind = kind
        self.accused = accused
        self.term = term
    }
}
