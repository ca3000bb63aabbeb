import Chain
import FoundationEssentials
import Glibc
import Synchronization

/// Nodes as Docker Swarm services, through the Engine API on a manager's Unix socket (the
/// Docker provider's client). One service per node (`SwarmNodeSpec`): one replica, its own
/// volume, pinned to one host. A fresh node goes to the usable host with the fewest of the
/// cluster's nodes (zones first); a restart is a new task of the same service on the same host
/// and volume (same identity); a node whose host is down or gone has no reachable data, so the
/// registry replaces it with a new node (new ID, fresh volume) that this provider places on a
/// live host. Swarm never restarts a node by itself (restart policy none): exits are seen by
/// polling and reported, and the registry decides. Only services labelled
/// `autochain.cluster=<cluster>` and `autochain.node=<id>` are ever changed or removed.
public final class SwarmProvider: NodeProvider {
    public let name = "swarm"
    public let spec: SwarmNodeSpec
    let engine: DockerEngine
    let pollIntervalMs: Int
    let secretID: String?
    private let snapshot = Mutex(Snapshot())
    private let exitHandler = Mutex<(@Sendable (String, Int32) -> Void)?>(nil)
    private let stopping = Atomic<Bool>(false)
    /// Held from choosing a fresh node's host until its service is in the snapshot, so nodes
    /// spawned at once see each other and spread.
    private let placing = Mutex<Void>(())
    private let log = Logger(component: "provider")

    struct Snapshot: Sendable {
        var services: [String: SwarmService] = [:]  // by node ID, retired ones included
        var tasks: [String: SwarmTask] = [:]        // newest, by service ID
        var hosts: [String: SwarmHost] = [:]        // by Swarm node ID
        /// Nodes this provider scaled to zero itself: not an operator's stop. Bounded by the services.
        var stoppedByUs: Set<String> = []

        /// Its newest task runs, on a host the managers do not report down.
        func running(_ id: String) -> Bool {
            guard let s = services[id], s.retiredAt == nil, !(hosts[s.host]?.down ?? true) else { return false }
            return tasks[s.id]?.running ?? false
        }

        /// Running, or on its way (Swarm holds a task with a health check in `starting` until
        /// its first check passes, 5 s after the container starts): a task that ends from either
        /// is an exit to report.
        func up(_ id: String) -> Bool {
            guard let s = services[id], s.retiredAt == nil, !(hosts[s.host]?.down ?? true), let t = tasks[s.id] else { return false }
            return t.running || t.starting
        }
    }

    /// Connects to the engine, checks that it is a swarm manager, finds the credential's secret
    /// (when one is named) and the network, takes a first snapshot (adopting the cluster's
    /// services) and starts the poller.
    public init(spec: SwarmNodeSpec, socketPath: String = "/var/run/docker.sock", pollIntervalMs: Int = DockerEngine.defaultPollIntervalMs,
                requestTimeoutMs: Int = DockerEngine.defaultRequestTimeoutMs) throws(DockerError) {
        self.spec = spec
        let bounds = DockerEngine.pollIntervalMsRange
        self.pollIntervalMs = max(bounds.lowerBound, min(pollIntervalMs, bounds.upperBound))
        engine = try DockerEngine(socketPath: socketPath, requestTimeoutMs: requestTimeoutMs)
        let info = try engine.expect(SwarmNodeSpec.info).json
        guard info?["Swarm"]?["LocalNodeState"]?.stringValue == "active", info?["Swarm"]?["ControlAvailable"]?.boolValue == true else {
            throw .unreachable("the engine at \(socketPath) is not a swarm manager (docker swarm init, or run the registry on a manager)")
        }
        secretID = try Self.findSecret(engine, spec.secretName)
        let network = try engine.send(SwarmNodeSpec.inspectNetwork(spec.node.network)).json
        try refresh(reportExits: false)
        let s = snapshot.withLock { $0 }
        log.info("swarm provider ready", [
            "api": engine.apiVersion, "cluster": spec.node.cluster, "image": spec.node.image, "network": spec.node.network,
            "network_driver": network?["Driver"]?.stringValue ?? "missing",
            "encrypted": network?["Options"]?["encrypted"] != nil ? "yes" : "no (traffic between hosts is sealed by the node channel only)",
            "hosts": s.hosts.values.filter(\.usable).count, "secret": spec.secretName.isEmpty ? "none (credential in the environment)" : spec.secretName,
            "adopted": s.services.values.filter { $0.retiredAt == nil }.map(\.node).sorted().joined(separator: ","),
        ])
        PosixThread.start(name: "swarm-poll") { [self] in pollLoop() }
    }

    static func findSecret(_ engine: DockerEngine, _ name: String) throws(DockerError) -> String? {
        guard !name.isEmpty else { return nil }
        let found = (try engine.expect(SwarmNodeSpec.findSecret(name)).json?.arrayValue ?? [])
            .first { $0["Spec"]?["Name"]?.stringValue == name }
        guard let id = found?["ID"]?.stringValue, SwarmHost.isObjectId(id) else {
            throw .unreachable("no swarm secret named \(name) (docker secret create \(name) FILE)")
        }
        return id
    }

    /// Stops the poller (the services keep running: they outlive the registry).
    public func close() { stopping.store(true, ordering: .sequentiallyConsistent) }

    public func onExit(_ handler: @escaping @Sendable (String, Int32) -> Void) { exitHandler.withLock { $0 = handler } }

    public func isRunning(_ id: String) -> Bool { snapshot.withLock { $0.running(id) } }

    /// Its service exists and is not retired, and the host holding its volume is in the swarm,
    /// not down and not drained (a drained host's nodes are replaced elsewhere).
    public func hasData(_ id: String) -> Bool {
        snapshot.withLock { s in
            guard let svc = s.services[id], svc.retiredAt == nil, let host = s.hosts[svc.host] else { return false }
            return !host.down && !host.drained
        }
    }

    /// Its address on the overlay network (the task's alias is the node ID).
    public func apiURL(_ id: String) -> String? {
        snapshot.withLock { $0.services[id].map { $0.retiredAt == nil } ?? false } ? "http://\(id):8080" : nil
    }

    public func knownNodes() -> [String] { snapshot.withLock { $0.services.values.filter { $0.retiredAt == nil }.map(\.node).sorted() } }

    /// Someone else scaled its service to zero (`docker service scale x=0`), or its container
    /// shut down cleanly on a SIGTERM this provider did not send (`docker stop`).
    public func stoppedDeliberately(_ id: String) -> Bool {
        snapshot.withLock { s in
            guard let svc = s.services[id], svc.retiredAt == nil, !s.stoppedByUs.contains(id) else { return false }
            if svc.replicas == 0 { return true }
            guard let t = s.tasks[svc.id] else { return false }
            return t.state == "complete" && t.exitCode == 0
        }
    }

    public func start(_ id: String, bootstrap: Bool, peers: [String]) throws -> ProvidedNode {
        try start(id, bootstrap: bootstrap, peers: peers, incarnation: 0)
    }

    /// A fresh node's service is created with `incarnation` in its environment; a restart's new
    /// task gets it through the forced update, so an old copy still running on a cut-off host
    /// reports a lower number and is refused (fencing).
    public func start(_ id: String, bootstrap: Bool, peers: [String], incarnation: UInt64) throws -> ProvidedNode {
        let node = ProvidedNode(id: id, apiUrl: "http://\(id):8080", p2pAddr: "\(id):6000")
        try refresh(reportExits: true)
        let (existing, running, starting) = snapshot.withLock { s in
            (s.services[id], s.running(id), s.services[id].flatMap { s.tasks[$0.id]?.starting } ?? false)
        }
        guard let existing else {
            try createFresh(id, bootstrap: bootstrap, peers: peers, incarnation: incarnation)
            return node
        }
        if existing.retiredAt != nil { throw ProviderError.startFailed(id: id, reason: "its service is retired") }
        // Swarm starts tasks asynchronously: one on its way is left to start, not forced again;
        // so is an update under way whose new task does not run yet (an operator's `docker
        // service update --image` stops the old task first: its end is no failure to repair).
        if (starting && existing.replicas == 1) || (existing.updating && !running) { return node }
        if running, try !taskEnds(id, withinMs: Self.taskEndWaitMs) { return node }
        try update(existing, id) { SwarmNodeSpec.rescaled($0, replicas: 1, forceRestart: true, incarnation: incarnation) }
        _ = snapshot.withLock { $0.stoppedByUs.remove(id) }
        log.info("node service restarted", ["node": id, "service": String(existing.id.prefix(12)), "host": existing.host])
        try refresh(reportExits: false)
        return node
    }

    /// How long a restart asked for while Swarm still shows the node's task running waits for
    /// Swarm to see it end. Swarm hears of a container's death from the host's agent, a moment
    /// (up to a few seconds on a loaded host) after the engine; the registry, which found the
    /// node silent and its probe refused, may ask first. Taking "running" for an answer left the
    /// node down until the restart timed out (`in_flight_timeout_s`, 20 s: a leader killed on the
    /// lab came back after 24 s). A task still running after the wait is left alone: it may be a
    /// healthy copy the registry cannot hear.
    static let taskEndWaitMs = 3_000

    /// Polls (bounded by `withinMs`) until the node's task no longer runs; true when it ended.
    func taskEnds(_ id: String, withinMs: Int) throws -> Bool {
        let deadline = Date().addingTimeInterval(Double(withinMs) / 1000)
        while Date() < deadline {
            usleep(DockerEngine.stopPollIntervalUs)
            try refresh(reportExits: true)
            if !isRunning(id) { return true }
        }
        return false
    }

    /// Creates the service of a new node on the host `placeFresh` picks. One at a time, each
    /// seeing the services created before it.
    func createFresh(_ id: String, bootstrap: Bool, peers: [String], incarnation: UInt64) throws {
        try placing.withLock { _ in
            try refresh(reportExits: false)
            guard snapshot.withLock({ $0.services[id] == nil }) else { return }  // created meanwhile
            let host = try placeFresh(id)
            try engine.expect(spec.createService(id, bootstrap: bootstrap, fresh: true, peers: peers, host: host.id, secretID: secretID,
                                                 apiVersion: engine.apiVersion, incarnation: incarnation))
            log.info("node service created", ["node": id, "host": host.hostname, "host_id": host.id, "zone": host.zone,
                                              "mode": bootstrap ? "bootstrap" : "join"])
            try refresh(reportExits: false)
        }
    }

    /// The host for a fresh node (`SwarmPlacement`), given where the cluster's nodes are.
    func placeFresh(_ id: String) throws -> SwarmHost {
        let s = snapshot.withLock { $0 }
        var counts: [String: Int] = [:]
        for svc in s.services.values where svc.retiredAt == nil { counts[svc.host, default: 0] += 1 }
        let workersOnly = spec.nodeHosts == .workers
        guard let host = SwarmPlacement.choose(hosts: Array(s.hosts.values), nodesOnHost: counts, workersOnly: workersOnly) else {
            throw ProviderError.startFailed(id: id, reason: workersOnly ? "no swarm worker is ready and active (SWARM_NODE_HOSTS=workers)"
                                                                        : "no swarm host is ready and active")
        }
        return host
    }

    public func stop(_ id: String) {
        guard let svc = snapshot.withLock({ $0.services[id] }), svc.retiredAt == nil else { return }
        do {
            _ = snapshot.withLock { $0.stoppedByUs.insert(id) }
            try update(svc, id) { SwarmNodeSpec.rescaled($0, replicas: 0, forceRestart: false) }
            try waitUntilStopped(id, timeoutS: spec.node.stopTimeoutS + NodeStopGrace.engineStopMarginS)
        } catch {
            log.warn("cannot stop node service", ["node": id, "error": "\(error)"])
        }
    }

    /// Bounded: polls until the node's task no longer runs.
    func waitUntilStopped(_ id: String, timeoutS: Int) throws {
        let deadline = Date().addingTimeInterval(Double(timeoutS))
        while Date() < deadline {
            try refresh(reportExits: true)
            if !isRunning(id) { return }
            usleep(DockerEngine.stopPollIntervalUs)
        }
        log.warn("node service still running after its stop timeout", ["node": id, "timeout_s": timeoutS])
    }

    /// Stops the node and marks its service retired (kept at zero replicas, so its volume stays
    /// on its host); `purgeSetAside` removes the service later. Volumes on other hosts are out of
    /// a manager's reach: docs/OPERATIONS.md says how to delete them.
    public func destroy(_ id: String) {
        stop(id)
        guard let svc = snapshot.withLock({ $0.services[id] }), svc.retiredAt == nil else { return }
        let stamp = UInt64(max(0, Date().timeIntervalSince1970))
        do {
            try update(svc, id) { SwarmNodeSpec.markedRetired($0, unixSeconds: stamp) }
            log.info("node service retired, volume kept on its host", ["node": id, "host": svc.host, "volume": spec.node.volumeName(id)])
        } catch {
            log.warn("cannot mark the node service retired", ["node": id, "error": "\(error)"])
        }
        try? refresh(reportExits: false)
    }

    /// Removes the services of nodes retired at least `keepS` seconds ago.
    public func purgeSetAside(keepS: Double, nowUnixS: Double) -> [String] {
        let due = snapshot.withLock { s in
            s.services.values.filter { svc in svc.retiredAt.map { $0 != UInt64.max && nowUnixS - Double($0) >= keepS } ?? false }
        }
        var purged: [String] = []
        for svc in due.sorted(by: { $0.node < $1.node }) {
            do {
                _ = try owned(svc, svc.node)
                try engine.expect(SwarmNodeSpec.removeService(svc.id), accept: [404])
                purged.append(spec.serviceName(svc.node))
            } catch {
                log.warn("cannot remove retired node service", ["node": svc.node, "error": "\(error)"])
            }
        }
        if !purged.isEmpty { try? refresh(reportExits: false) }
        return purged
    }

    /// Reads the service's spec and version, checks its labels again, and writes `change(spec)`.
    func update(_ svc: SwarmService, _ id: String, _ change: (JSON) -> JSON?) throws {
        let (specJSON, version) = try owned(svc, id)
        guard let changed = change(specJSON) else { throw DockerError.notOurs("service \(svc.id) (not a replicated service)") }
        try engine.expect(SwarmNodeSpec.updateService(svc.id, version: version, spec: changed))
    }

    /// The service's current spec and version, after checking that its labels are this node's.
    func owned(_ svc: SwarmService, _ id: String) throws(DockerError) -> (spec: JSON, version: UInt64) {
        let a = try engine.expect(SwarmNodeSpec.inspectService(svc.id)).json
        guard let specJSON = a?["Spec"], spec.node.owns(specJSON["Labels"], node: id),
              let version = a?["Version"]?["Index"]?.intValue, version >= 0 else { throw .notOurs("service \(svc.id)") }
        return (specJSON, UInt64(version))
    }

    // MARK: polling

    func pollLoop() {
        while !stopping.load(ordering: .sequentiallyConsistent) {
            usleep(UInt32(pollIntervalMs) * 1000)
            do { try refresh(reportExits: true) } catch { log.warn("swarm poll failed", ["error": "\(error)"]) }
        }
    }

    /// Lists hosts, the cluster's services and their tasks; a node seen running or starting
    /// before and neither now has exited (its task's exit status, -1 when the engine gave none)
    /// and is reported.
    func refresh(reportExits: Bool) throws(DockerError) {
        let hosts = SwarmHost.parseList(try engine.expect(SwarmNodeSpec.listHosts).json ?? .null, spreadLabel: spec.spreadLabel)
        let services = SwarmService.parseList(try engine.expect(spec.listServices()).json ?? .null, spec: spec)
        let tasks = services.isEmpty ? [:]
            : SwarmTask.newestByService(try engine.expect(SwarmNodeSpec.listTasks(services: services.map(\.id))).json ?? .null)
        let exited = snapshot.withLock { s -> [(node: String, code: Int)] in
            let before = s
            s.hosts = Dictionary(hosts.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            s.services = Dictionary(services.map { ($0.node, $0) }, uniquingKeysWith: { a, b in a.retiredAt == nil ? a : b })
            s.tasks = tasks
            s.stoppedByUs.formIntersection(s.services.keys)
            return before.services.keys.filter { before.up($0) && !s.up($0) }
                .map { id in (id, s.services[id].flatMap { s.tasks[$0.id]?.exitCode } ?? -1) }
        }
        guard reportExits, !exited.isEmpty, let handler = exitHandler.withLock({ $0 }) else { return }
        for e in exited.sorted(by: { $0.node < $1.node }) {
            log.info("node service task ended", ["node": e.node, "status": e.code])
            handler(e.node, Int32(clamping: e.code))
        }
    }
}
