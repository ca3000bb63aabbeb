import Chain
import FoundationEssentials
import Glibc
import Synchronization

/// Nodes as Docker containers, through the Engine API on the engine's Unix socket: one container
/// and one named volume per node (`<cluster>-<id>`, `<cluster>-<id>-data`), on the cluster's
/// network, from the configured image. It only ever starts, stops or removes containers and
/// volumes labelled `autochain.cluster=<cluster>` and `autochain.node=<id>`, and it adopts the ones
/// it finds (docker-compose.yml's nodes carry the same labels), so a restarted registry takes
/// over a running cluster. A container that someone else stopped cleanly (`docker-compose stop`)
/// is reported as `stoppedDeliberately`: the autoscaler takes it out rather than restarting it.
/// Exits are seen by polling (every `pollIntervalMs`); the poll also
/// keeps the snapshot that `isRunning`, `hasData` and `knownNodes` answer from, so the registry's
/// decide loop never waits on the engine.
public final class DockerProvider: NodeProvider {
    public let name = "docker"
    public let spec: DockerNodeSpec
    let engine: DockerEngine
    let pollIntervalMs: Int
    private let snapshot = Mutex(Snapshot())
    private let exitHandler = Mutex<(@Sendable (String, Int32) -> Void)?>(nil)
    private let stopping = Atomic<Bool>(false)
    private let log = Logger(component: "provider")

    struct Snapshot: Sendable {
        var containers: [String: DockerContainer] = [:]  // by node ID
        var volumes: [String: String] = [:]              // node ID -> volume name, of nodes not set aside
        /// Placeholders keeping retired nodes' volumes aside, by node ID.
        var setAside: [String: DockerContainer] = [:]
        /// Every volume of the cluster, set aside or not (node ID -> volume name).
        var allVolumes: [String: String] = [:]
        /// Containers this provider stopped itself (retirements): their clean exits are not an
        /// operator's. Pruned to the listed containers on every poll, so bounded by them.
        var stoppedByUs: Set<String> = []
        var polled = false
    }

    /// Connects to the engine (negotiating its API version), takes a first snapshot (adopting
    /// the cluster's existing containers) and starts the exit poller.
    public init(spec: DockerNodeSpec, socketPath: String = "/var/run/docker.sock", pollIntervalMs: Int = DockerEngine.defaultPollIntervalMs,
                requestTimeoutMs: Int = DockerEngine.defaultRequestTimeoutMs) throws(DockerError) {
        self.spec = spec
        let bounds = DockerEngine.pollIntervalMsRange
        self.pollIntervalMs = max(bounds.lowerBound, min(pollIntervalMs, bounds.upperBound))
        engine = try DockerEngine(socketPath: socketPath, requestTimeoutMs: requestTimeoutMs)
        try refresh(reportExits: false)
        let s = snapshot.withLock { $0 }
        log.info("docker provider ready", ["api": engine.apiVersion, "cluster": spec.cluster, "image": spec.image,
                                          "network": spec.network, "adopted": s.containers.keys.sorted().joined(separator: ",")])
        PosixThread.start(name: "docker-poll") { [self] in pollLoop() }
    }

    /// Stops the poller (the containers keep running: they outlive the registry).
    public func close() { stopping.store(true, ordering: .sequentiallyConsistent) }

    public func onExit(_ handler: @escaping @Sendable (String, Int32) -> Void) { exitHandler.withLock { $0 = handler } }

    public func isRunning(_ id: String) -> Bool { snapshot.withLock { $0.containers[id]?.running ?? false } }

    /// The node's volume exists (its chain.db is in it unless it was never started).
    public func hasData(_ id: String) -> Bool { snapshot.withLock { $0.volumes[id] != nil } }

    /// Its container's address on the cluster network (the container's alias is its ID).
    public func apiURL(_ id: String) -> String? {
        snapshot.withLock { $0.containers[id] != nil } ? "http://\(id):8080" : nil
    }

    public func knownNodes() -> [String] { snapshot.withLock { $0.volumes.keys.sorted() } }

    /// Its container exited cleanly (status 0, so on a SIGTERM) and this provider did not stop it.
    public func stoppedDeliberately(_ id: String) -> Bool {
        snapshot.withLock { s in
            guard let c = s.containers[id] else { return false }
            return c.exitedCleanly && !s.stoppedByUs.contains(c.id)
        }
    }

    public func start(_ id: String, bootstrap: Bool, peers: [String]) throws -> ProvidedNode {
        try start(id, bootstrap: bootstrap, peers: peers, incarnation: 0)
    }

    public func start(_ id: String, bootstrap: Bool, peers: [String], incarnation: UInt64) throws -> ProvidedNode {
        let node = ProvidedNode(id: id, apiUrl: "http://\(id):8080", p2pAddr: "\(id):6000")
        try refresh(reportExits: true)
        let (existing, fresh, asideAlready) = snapshot.withLock { ($0.containers[id], $0.volumes[id] == nil, $0.setAside[id] != nil) }
        if asideAlready { throw ProviderError.startFailed(id: id, reason: "its volume is set aside (retired node)") }
        if let existing, existing.running { return node }
        if fresh { try engine.expect(spec.createVolume(id)) }
        let container: String
        if let existing {
            container = existing.id  // a restart: same container, same volume, same identity
        } else {
            let created = try engine.expect(spec.createContainer(id, bootstrap: bootstrap, fresh: fresh, peers: peers, incarnation: incarnation))
            guard let cid = created.json?["Id"]?.stringValue else { throw ProviderError.startFailed(id: id, reason: "create answered without an Id") }
            container = cid
        }
        try checkOwned(container, id)
        try engine.expect(DockerNodeSpec.start(container), accept: [304])
        try refresh(reportExits: false)
        log.info("node container started", ["node": id, "container": String(container.prefix(12)),
                                            "mode": fresh ? (bootstrap ? "bootstrap" : "join") : "restart"])
        return node
    }

    public func stop(_ id: String) {
        guard let c = snapshot.withLock({ $0.containers[id] }) else { return }
        do {
            try checkOwned(c.id, id)
            _ = snapshot.withLock { $0.stoppedByUs.insert(c.id) }
            try engine.expect(DockerNodeSpec.stop(c.id, timeoutS: spec.stopTimeoutS), accept: [304],
                              timeoutMs: (spec.stopTimeoutS + NodeStopGrace.engineStopMarginS) * 1000)
        } catch {
            log.warn("cannot stop node container", ["node": id, "error": "\(error)"])
        }
        try? refresh(reportExits: true)
    }

    /// Stops and removes the node's container; its volume is kept aside (a placeholder container
    /// marks it, see `setAsideContainer`) and deleted by `purgeSetAside` later. Nothing is deleted
    /// when the mark cannot be made.
    public func destroy(_ id: String) {
        stop(id)
        let (c, volume) = snapshot.withLock { ($0.containers[id], $0.volumes[id]) }
        do {
            if let c {
                try checkOwned(c.id, id)
                try engine.expect(DockerNodeSpec.remove(c.id), accept: [404])
            }
            if let volume {
                let stamp = UInt64(max(0, Date().timeIntervalSince1970))
                try engine.expect(spec.setAsideContainer(id, volume: volume, unixSeconds: stamp))
                log.info("node container deleted, volume set aside", ["node": id, "volume": volume])
            }
        } catch {
            log.warn("cannot delete the node container or set its volume aside", ["node": id, "error": "\(error)"])
        }
        try? refresh(reportExits: false)
    }

    /// Deletes the placeholders and volumes of nodes set aside at least `keepS` seconds ago.
    public func purgeSetAside(keepS: Double, nowUnixS: Double) -> [String] {
        let due = snapshot.withLock { s in
            s.setAside.values.filter { c in c.setAsideAt.map { $0 != UInt64.max && nowUnixS - Double($0) >= keepS } ?? false }
                .map { (container: $0, volume: s.allVolumes[$0.node]) }
        }
        var purged: [String] = []
        for (c, volume) in due.sorted(by: { $0.container.node < $1.container.node }) {
            do {
                try checkOwned(c.id, c.node)
                try engine.expect(DockerNodeSpec.remove(c.id), accept: [404])
                if let volume { try engine.expect(DockerNodeSpec.removeVolume(volume), accept: [404]) }
                purged.append(volume ?? c.name)
            } catch {
                log.warn("cannot delete set-aside volume", ["node": c.node, "error": "\(error)"])
            }
        }
        if !purged.isEmpty { try? refresh(reportExits: false) }
        return purged
    }

    /// Re-reads the labels from the engine right before acting on a container.
    func checkOwned(_ container: String, _ id: String) throws {
        let a = try engine.expect(DockerNodeSpec.inspect(container))
        guard spec.owns(a.json?["Config"]?["Labels"], node: id) else { throw DockerError.notOurs("container \(container)") }
    }

    // MARK: polling

    func pollLoop() {
        while !stopping.load(ordering: .sequentiallyConsistent) {
            usleep(UInt32(pollIntervalMs) * 1000)
            do { try refresh(reportExits: true) } catch { log.warn("docker poll failed", ["error": "\(error)"]) }
        }
    }

    /// Lists the cluster's containers and volumes; a container seen running before and not now
    /// has exited (its exit code from an inspect) and is reported.
    func refresh(reportExits: Bool) throws(DockerError) {
        let listed = DockerContainer.parseList(try engine.expect(spec.listContainers()).json ?? .null, spec: spec)
        let volumes = DockerContainer.parseVolumes(try engine.expect(spec.listVolumes()).json ?? .null, spec: spec)
        let containers = listed.filter { $0.setAsideAt == nil }
        let aside = Dictionary(listed.filter { $0.setAsideAt != nil }.map { ($0.node, $0) }, uniquingKeysWith: { a, _ in a })
        let exited = snapshot.withLock { s -> [DockerContainer] in
            let before = s.containers
            s.containers = Dictionary(containers.map { ($0.node, $0) }, uniquingKeysWith: { a, b in a.running ? a : b })
            s.setAside = aside
            s.allVolumes = volumes
            s.volumes = volumes.filter { aside[$0.key] == nil }
            s.stoppedByUs.formIntersection(containers.map(\.id))
            s.polled = true
            return before.values.filter { old in old.running && !(s.containers[old.node].map { $0.running && $0.id == old.id } ?? false) }
        }
        guard reportExits, !exited.isEmpty, let handler = exitHandler.withLock({ $0 }) else { return }
        for c in exited {
            let code = (try? engine.send(DockerNodeSpec.inspect(c.id)))?.json?["State"]?["ExitCode"]?.intValue ?? -1
            log.info("node container exited", ["node": c.node, "container": String(c.id.prefix(12)), "status": code])
            handler(c.node, Int32(clamping: code))
        }
    }
}
