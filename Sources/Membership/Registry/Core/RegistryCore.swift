import Chain
import Consensus

/// The registry's decisions as a value: what it knows of the nodes, the actions under way and
/// what they wait for, failed restarts, IDs handed out, draining and retirement. Fed with events
/// (node reports, probe results, process exits, the verified membership, provider facts,
/// operator requests, action results), each with the time on the registry's clock; returns
/// effects for the shell to perform. No I/O, no clock, no lock: the shell (RegistryService) and
/// the healing simulator drive the same code.
///
/// Promises: an effect with a ticket is tracked until `finished` answers it; an ID handed to a
/// spawn is never handed out again; nothing is removed or retired before the membership is
/// verified; a node is destroyed only once the verified membership no longer lists it; a
/// retired node's ID is refused for good and its records (node, failure detector) are dropped.
public struct RegistryCore: Sendable {
    public struct Settings: Sendable {
        public var autoscaler = AutoscalerSettings()
        public var detector = FailureDetectorSettings()
        /// An action still under way after this long is forgotten (it failed or took effect);
        /// default 20 s (`[registry] in_flight_timeout_s`).
        public var inFlightTimeoutS = 20.0
        /// A membership change or leadership transfer the leader refused (say, another change
        /// still pending) may be decided again this long after the refusal, not after
        /// `inFlightTimeoutS` (internal: 1 s, four decide rounds at the default interval).
        public var refusedActionRetryS = 1.0
        /// A retirement waits this long for the node to leave the configuration before it gives
        /// up; default 10 s (`[registry] retire_removal_wait_s`).
        public var retireRemovalWaitS = 10.0
        /// A node's new evidence is told at most this often (each event gives the count so far);
        /// default 30 s (`[registry] evidence_event_interval_s`).
        public var evidenceEventIntervalS = 30.0
        /// For the retirement event's message only (the provider keeps the data aside).
        public var retiredDataKeepS = 86_400
        public init() {}
    }

    /// Where a retirement stands.
    enum Retirement: Sendable, Equatable {
        /// The leader was asked to remove the node; its answer is awaited.
        case removing
        /// Out of the configuration by `deadline`, or the retirement is given up.
        case awaitingRemoval(deadline: Double)
        /// Not listed by the verified membership when its retirement began (`since`), which may
        /// be older than the node: a learner just added is in blocks the registry has not
        /// verified yet. `height`: the commit the leader reported in its first report after
        /// `since` (kept, so later reports do not move it). Destroyed once the membership is
        /// verified to `height` and still does not list it; taken out of the configuration first
        /// if it lists it as a learner; handed back to the autoscaler if as a voter; given up at
        /// `deadline`.
        case awaitingMembership(since: Double, height: UInt64?, deadline: Double)
        /// The provider is stopping it and setting its data aside.
        case destroying
    }

    /// An effect whose result is awaited.
    enum Pending: Sendable, Equatable {
        case restart(String)
        case spawn(String, bootstrap: Bool)
        case removeMember(String)
        case transferLeadership(String)
        case retireRemoval(String)
        case destroy(String)
    }

    public let settings: Settings
    /// When the registry started (its clock): nodes not heard from since get a grace period.
    public let startedAt: Double
    public internal(set) var nodes: [String: NodeRecord] = [:]
    public internal(set) var detector: FailureDetector
    public internal(set) var autoscaler = Autoscaler()
    /// The membership verified from the chain, and the height it was verified to (0: not yet).
    public internal(set) var verified = ClusterMembership()
    public internal(set) var verifiedHeight: UInt64 = 0
    public internal(set) var operatorTarget: Int?
    public internal(set) var consensusFailureAt: Double?
    public internal(set) var retired: Set<String> = []
    public internal(set) var inFlight: [(action: ScalingAction, since: Double)] = []
    public internal(set) var restartFailures: [String: Int] = [:]
    public internal(set) var lastActionAt: [String: Double] = [:]
    /// When the registry last started each node (a spawn's new ID, a restart).
    public internal(set) var lastStartedAt: [String: Double] = [:]
    public internal(set) var decisions: UInt64 = 0
    /// IDs handed to spawns (never reused, even if the spawn failed).
    public internal(set) var reservedIds: Set<String> = []
    /// Nodes an operator asked to retire (`DELETE /nodes/{id}`): draining until retired.
    public internal(set) var drainRequested: Set<String> = []
    /// The highest incarnation each node has reported (fencing): lower ones are refused.
    public internal(set) var incarnations: [String: UInt64] = [:]
    /// The highest incarnation issued to a start of each node (`issueIncarnation(for:)`).
    public internal(set) var issuedIncarnations: [String: UInt64] = [:]
    /// No start is issued an incarnation below this (the shell: its start time in Unix ms).
    public let incarnationFloor: UInt64
    /// Node keys (hex) of nodes retired here: refused for good, under any ID. One per retired
    /// ID, like `retired`, and only the registry's own retirements add to it.
    public internal(set) var retiredKeys: Set<String> = []
    /// Node keys (hex) the verified chain took out with their member (`VerifiedChain.retiredKeys`).
    public internal(set) var verifiedRetiredKeys: Set<String> = []
    var retirements: [String: Retirement] = [:]
    var pending: [UInt64: Pending] = [:]
    var nextTicket: UInt64 = 1
    /// Test only: a rule broken on purpose, to show that the healing simulator finds it.
    var plantedBug: PlantedBug?

    /// Bugs a test may plant in the core (never set outside tests).
    enum PlantedBug: Sendable {
        /// A retirement destroys its node without taking it out of the configuration first.
        case retireDestroysMembers
    }

    public init(settings: Settings, startedAt: Double, incarnationFloor: UInt64 = 1) {
        self.settings = settings
        self.startedAt = startedAt
        self.incarnationFloor = incarnationFloor
        detector = FailureDetector(settings: settings.detector)
    }

    public var isMembershipVerified: Bool { verifiedHeight >= 1 }

    /// The verified membership (never a node's claim), and the leader the members themselves
    /// name: counted only from nodes heard from whose reported key is their key in the verified
    /// membership, and only when it names a verified voter. It routes calls, it decides nothing
    /// about who is a member.
    public var membership: (voters: [String], learners: [String], leader: String?, commit: UInt64) {
        let m = verified
        let members = nodes.values.filter { isHeardMember($0) }
        let best = members.max { a, b in
            (a.role == .leader ? 1 : 0, a.term, a.commitIndex, b.id) < (b.role == .leader ? 1 : 0, b.term, b.commitIndex, a.id)
        }
        let named = best.flatMap { $0.role == .leader ? $0.id : $0.leader }
        let leader = named.flatMap { m.voters.contains($0) ? $0 : nil }
        return (m.voters, m.learners, leader, verifiedHeight)
    }

    /// The commit index `leader` (as `membership` names it) reported after `since`, its report
    /// saying it leads; nil otherwise. A claim of the node the cluster follows, used
    /// only to wait: inflated, it holds off the retirement of nodes the chain does not list (each
    /// attempt given up after `retireRemovalWaitS`) for as long as it lies; deflated, it lets one
    /// go as soon as the old core did, no sooner. A follower's report does not count: one that
    /// lags would let a node added since its commit be destroyed while listed.
    func leaderCommit(_ leader: String?, after since: Double) -> UInt64? {
        guard let leader, let r = nodes[leader], r.role == .leader,
              r.lastHeartbeatAt.map({ $0 > since }) == true else { return nil }
        return r.commitIndex
    }

    /// Heard from, a member of the verified membership, and reporting its key there.
    private func isHeardMember(_ r: NodeRecord) -> Bool {
        r.lastHeartbeatAt != nil && verified.contains(r.id) && verified.keys[r.id].map { $0.hex == r.nodeKey } == true
    }

    /// Every node ID ever seen (members, retired, known): new IDs are chosen above all of them.
    public var allKnownIds: Set<String> {
        var ids = Set(nodes.keys).union(retired)
        for n in nodes.values { ids.formUnion(n.voters); ids.formUnion(n.learners); ids.formUnion(n.retiredIds) }
        return ids
    }

    /// Draining: asked to retire by an operator, or a retirement under way.
    public func isDraining(_ id: String) -> Bool { drainRequested.contains(id) || retirements[id] != nil }

    /// Retired here, by the verified chain, or named retired by a node: its calls are refused for good.
    public func isRetired(_ id: String) -> Bool {
        retired.contains(id) || verified.retired.contains(id) || nodes.values.contains { $0.retiredIds.contains(id) }
    }

    /// The IDs the shell asks the provider about before a round (`ProviderFacts`).
    public func idsToAskAbout(managed: Set<String>) -> Set<String> {
        Set(nodes.keys).union(verified.voters).union(verified.learners).union(managed)
    }

    // MARK: - Events

    /// A node's admitted report (the shell checked signature, key pin and `isRetired` first; the
    /// shell goes through `admit(_:at:)`, which says why a report is refused). A superseded
    /// copy's report changes nothing here either.
    public mutating func heartbeat(_ report: NodeReport, at now: Double) -> [RegistryEffect] {
        let id = report.id
        guard report.incarnation >= incarnations[id] ?? 0 else { return [] }
        guard !sentBeforeItsExit(id, at: now) else { return [] }
        let superseded = observeIncarnation(report)
        let known = nodes[id] != nil
        var r = nodes[id] ?? NodeRecord(id: id, apiUrl: report.apiUrl, p2pAddr: report.p2pAddr, nodeKey: report.nodeKey, registeredAt: now)
        let degradedBefore = r.degraded
        let evidenceBefore = r.evidenceCount
        r.apiUrl = report.apiUrl
        r.p2pAddr = report.p2pAddr
        r.nodeKey = report.nodeKey
        r.lastHeartbeatAt = now
        r.height = report.height
        r.commitIndex = report.commitIndex
        r.term = report.term
        r.role = report.role
        r.leader = report.leader
        r.voters = report.voters
        r.learners = report.learners
        r.retiredIds = report.retiredIds
        r.load = report.load
        r.degraded = report.degraded
        r.evidenceCount = report.evidence?.count ?? 0
        r.incarnation = report.incarnation
        var evidenceEffect: RegistryEffect?
        if let e = report.evidence, e.count > evidenceBefore,
           now - (r.evidenceToldAt ?? -.infinity) >= settings.evidenceEventIntervalS {
            r.evidenceToldAt = now
            evidenceEffect = .record(kind: .consensusEvidence, node: id, message:
                "\(id) kept evidence of a faulty member: \(e.kind) by \(e.accused) in term \(e.term) (\(e.count) since it started); "
                + "the registry does not act on it (a faulty member could accuse an honest one): compare both nodes' logs")
        }
        nodes[id] = r
        _ = detector.observeHeartbeat(node: id, at: now)
        restartFailures[id] = 0
        inFlight.removeAll { if case .restart(id, _) = $0.action { true } else { false } }
        // A spawn took effect when the node it started is heard from: an ID handed to a spawn.
        // Any other newcomer (a node heard for the first time since this registry started, one
        // started by hand) leaves the spawns under way alone, or the next round spawns again.
        if !known, reservedIds.contains(id),
           let i = inFlight.firstIndex(where: { if case .spawn = $0.action { true } else { false } }) { inFlight.remove(at: i) }
        if r.role == .leader, consensusFailureAt != nil { consensusFailureAt = nil }
        var effects: [RegistryEffect] = []
        if !known {
            effects.append(.record(kind: .nodeRegistered, node: id,
                                   message: "\(id) registered at \(report.apiUrl) (p2p \(report.p2pAddr)), role \(report.role.wireName), height \(report.height)"))
        }
        if let degraded = report.degraded, degradedBefore != degraded {
            effects.append(.record(kind: .nodeStorageDegraded, node: id,
                                   message: "\(id) reports its storage refuses writes (\(degraded)); it is read-only until space returns"))
        } else if report.degraded == nil, degradedBefore != nil {
            effects.append(.record(kind: .nodeStorageRecovered, node: id, message: "\(id) reports its storage takes writes again"))
        }
        if let evidenceEffect { effects.append(evidenceEffect) }
        if let superseded { effects.append(superseded) }
        return effects
    }

    /// A report that arrives just after the provider reported the node's exit, with no start of
    /// the node since, was sent before the exit: the provider sees an exit up to a poll interval
    /// late (Docker is polled), and a heartbeat can be read after that. Taken as a sign of life it
    /// would hide the exit, and a node whose container and volume are gone would wait out
    /// `dead_voter_removal_delay_s` as if it had merely gone silent. Two heartbeat intervals
    /// after the exit report, or after the registry started the node again, reports count again
    /// (a node restarted from outside is alive from its next heartbeat on).
    func sentBeforeItsExit(_ id: String, at now: Double) -> Bool {
        guard let exited = detector.exitedAt(node: id), now >= exited,
              now - exited < 2 * settings.detector.heartbeatIntervalS else { return false }
        return !(lastActionAt[id].map { $0 >= exited } ?? false)
    }

    /// The answer of a probe the core asked for (`.probe`).
    public mutating func probed(_ node: String, ok: Bool, at now: Double) {
        _ = detector.observeProbe(node: node, ok: ok, at: now)
    }

    /// The provider saw `node`'s process end; `deliberately` when stopped from outside on purpose.
    public mutating func processExited(_ node: String, status: Int32, deliberately: Bool, at now: Double) -> [RegistryEffect] {
        // A copy told it was superseded stops by itself: the node's current copy runs elsewhere,
        // so this exit is no failure of the node (restarting this copy would fence out the current one).
        if status == Fencing.supersededExitStatus {
            return [.record(kind: .nodeExited, node: node, message: "\(node) exited with status \(status): this copy was "
                + "superseded by a newer incarnation; not restarted")]
        }
        _ = detector.observeProcessExit(node: node, at: now)
        guard !isDraining(node) else { return [] }
        guard deliberately else { return [.record(kind: .nodeExited, node: node, message: "\(node) exited with status \(status)")] }
        let holdS = decimal(settings.autoscaler.stoppedNodeHoldS, 0)
        return [.record(kind: .nodeExited, node: node, message: "\(node) exited with status \(status), stopped from outside the "
            + "registry: taken out, so it is replaced in \(holdS) s, not restarted (unless the quorum needs it back)")]
    }

    /// The membership as the shell verified it from the chain, up to block `height`, and the node
    /// keys of the members the chain removed (tombstoned).
    public mutating func membershipVerified(_ membership: ClusterMembership, height: UInt64, retiredKeys: Set<String> = []) {
        verified = membership
        verifiedHeight = height
        verifiedRetiredKeys = retiredKeys
    }

    /// A member reported that the cluster cannot commit (`POST /consensus-failure`).
    public mutating func consensusFailureReported(by node: String, reason: String, at now: Double) -> [RegistryEffect] {
        consensusFailureAt = now
        return [.record(kind: .consensusFailure, node: node, message: "consensus failure reported by \(node): \(reason.prefix(200))")]
    }

    /// The operator's node target (`POST /scale`), already range-checked by the shell.
    public mutating func scale(to target: Int) -> [RegistryEffect] {
        operatorTarget = target
        return [.record(kind: .scaleRequested, node: nil, message: "operator asked for \(target) nodes")]
    }

    /// `DELETE /nodes/{id}`: the node drains; each round's decision then moves leadership away,
    /// takes it out of the configuration and retires it. `hasData`: the provider holds its data.
    public mutating func retireRequested(_ id: String, hasData: Bool) throws(RegistryRefusal) -> [RegistryEffect] {
        guard nodes[id] != nil || hasData, !retired.contains(id) else { throw .unknownNode(id) }
        drainRequested.insert(id)
        return [.record(kind: .retireRequested, node: id, message: "operator retires \(id): drain, leave the configuration, stop")]
    }
}
