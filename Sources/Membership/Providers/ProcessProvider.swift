import Chain
import Dispatch
import FoundationEssentials
import Glibc
import P2P
import Synchronization

/// Nodes as child processes of the registry on loopback, each with its own data directory under
/// `baseDir` and ports it keeps across restarts (recorded in `<dataDir>/ports`). Every path made
/// from a node ID goes through `ContainedPath`: an ID that would leave `baseDir` is refused, never
/// acted on. A destroyed node's directory is set aside under `baseDir/.retired/<id>-<unix s>`
/// (a name no node ID can take) and deleted by `purgeSetAside` once kept long enough.
public final class ProcessProvider: NodeProvider {
    public let name = "process"
    let baseDir: String
    let binary: String
    let configPath: String?
    let registryURL: String
    let clusterToken: String
    let logLevel: String
    private let children = Mutex<[String: ChildProcess]>([:])
    /// Set by `stopAll`: a registry shutting down starts nothing more.
    private let starting = Mutex<Bool>(false)
    private let exitHandler = Mutex<(@Sendable (String, Int32) -> Void)?>(nil)
    private let log = Logger(component: "provider")
    /// Ports handed to a node by this provider: a port the kernel called free a moment ago may be
    /// called free again before its node binds it, so no port is handed out twice (bounded by the
    /// 64k TCP ports).
    private let handedOut = Mutex<Set<String>>([])
    /// Seconds a node gets to stop after SIGTERM before SIGKILL (`NodeStopGrace`).
    public let stopGraceS: Int
    /// Tries for a port not yet handed out, before giving up.
    static let maxPortTries = 64

    public init(baseDir: String, binary: String, configPath: String?, registryURL: String, clusterToken: String, logLevel: String,
                stopGraceS: Int = NodeStopGrace.defaultS) {
        self.baseDir = baseDir
        self.stopGraceS = stopGraceS
        self.binary = binary
        self.configPath = configPath
        self.registryURL = registryURL
        self.clusterToken = clusterToken
        self.logLevel = logLevel
        try? FileManager.default.createDirectory(atPath: baseDir, withIntermediateDirectories: true)
    }

    /// `baseDir/<id>`, or nil when `id` is not a node ID or the path would leave `baseDir`.
    func dataDir(_ id: String) -> String? { ContainedPath.child(of: baseDir, named: id) }

    /// Where destroyed nodes' directories wait before they are deleted.
    var setAsideDir: String { baseDir + "/" + Self.setAsideName }
    /// Not a node ID (IDs hold no `.`), so no node's directory is ever taken for it.
    static let setAsideName = ".retired"

    public func onExit(_ handler: @escaping @Sendable (String, Int32) -> Void) { exitHandler.withLock { $0 = handler } }

    public func hasData(_ id: String) -> Bool {
        guard let dir = dataDir(id) else { return false }
        return FileManager.default.fileExists(atPath: dir + "/chain.db")
    }

    /// Its process is alive: a child of ours, or one whose recorded API port is still taken.
    public func isRunning(_ id: String) -> Bool {
        if children.withLock({ $0[id]?.isRunning ?? false }) { return true }
        guard let ports = recordedPorts(id) else { return false }
        return !Self.isFree(ports.api)
    }

    public func knownNodes() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: baseDir)) ?? []
        return entries.filter { NodeIDGrammar.isValid($0) && hasData($0) }.sorted()
    }

    public func start(_ id: String, bootstrap: Bool, peers: [String]) throws -> ProvidedNode {
        try start(id, bootstrap: bootstrap, peers: peers, incarnation: 0)
    }

    public func start(_ id: String, bootstrap: Bool, peers: [String], incarnation: UInt64) throws -> ProvidedNode {
        // One start at a time: two concurrent starts of one ID must never share a data directory.
        try starting.withLock { closed in
            if closed { throw ProviderError.startFailed(id: id, reason: "the registry is shutting down") }
            return try startLocked(id, bootstrap: bootstrap, peers: peers, incarnation: incarnation)
        }
    }

    private func startLocked(_ id: String, bootstrap: Bool, peers: [String], incarnation: UInt64) throws -> ProvidedNode {
        guard let dir = dataDir(id) else { throw ProviderError.startFailed(id: String(id.prefix(64)), reason: "not a node ID") }
        // A child of ours that is still alive (perhaps not yet listening) is that node: never start
        // a second process on its data directory.
        if let ports = recordedPorts(id), children.withLock({ $0[id]?.isRunning ?? false }) {
            return ProvidedNode(id: id, apiUrl: "http://\(ports.api)", p2pAddr: ports.p2p)
        }
        if let ports = recordedPorts(id), !Self.isFree(ports.api) {
            // Still running (a child of this registry, or left behind by one that was killed).
            return ProvidedNode(id: id, apiUrl: "http://\(ports.api)", p2pAddr: ports.p2p)
        }
        let (api, p2p) = try ports(for: id)
        let fresh = !hasData(id)
        // The node's key is made here, before it runs: the registry pins the ID to it at once.
        _ = try NodeKeyFile.ensure(in: dir)
        var args = ["node", "--node-id", id, "--data-dir", dir, "--api-addr", api, "--p2p-addr", p2p, "--log-level", logLevel]
        if let configPath { args += ["--config", configPath] }
        let others = peers.filter { $0 != p2p }
        if !others.isEmpty { args += ["--peers", others.joined(separator: ",")] }
        if fresh && !bootstrap { args.append("--join") }
        var env = ProcessInfo.processInfo.environment
        env["REGISTRY_URL"] = registryURL
        // Always set: the registry's own environment must not hand a node some other incarnation.
        env[Fencing.incarnationEnvironmentVariable] = String(incarnation)
        if !clusterToken.isEmpty { env["AUTOCHAIN_CLUSTER_TOKEN"] = clusterToken }
        let handler = exitHandler.withLock { $0 }
        let p: ChildProcess
        do {
            // The node's log is appended to across restarts.
            p = try ChildProcess.spawn(executable: binary, arguments: args, environment: env,
                                       output: .file(path: "\(baseDir)/\(id).log", truncate: false),
                                       onExit: { status in handler?(id, status) })
        } catch {
            throw ProviderError.startFailed(id: id, reason: "\(error)")
        }
        children.withLock { $0[id] = p }
        log.info("node process started", ["node": id, "pid": p.pid, "api": api, "p2p": p2p, "incarnation": incarnation,
                                          "mode": fresh ? (bootstrap ? "bootstrap" : "join") : "restart"])
        return ProvidedNode(id: id, apiUrl: "http://\(api)", p2pAddr: p2p)
    }

    public func stop(_ id: String) {
        guard let p = children.withLock({ $0[id] }), p.isRunning else { return }
        p.signal(SIGTERM)
        if !p.waitUntilExit(seconds: Double(stopGraceS)) { p.signal(SIGKILL) }
        p.waitUntilExit()
    }

    /// Stops it and moves its directory (and log) aside to `.retired/<id>-<unix s>`; nothing is
    /// deleted here. An ID that is not contained under `baseDir` is refused: nothing is touched.
    public func destroy(_ id: String) {
        guard let dir = dataDir(id) else {
            log.warn("destroy refused: not a node ID", ["node": String(id.prefix(64))])
            return
        }
        stop(id)
        children.withLock { _ = $0.removeValue(forKey: id) }
        guard FileManager.default.fileExists(atPath: dir) else { return }
        let stamp = UInt64(max(0, Date().timeIntervalSince1970))
        let aside = setAsideDir + "/" + SetAsideName.make(node: id, unixSeconds: stamp)
        do {
            try FileManager.default.createDirectory(atPath: setAsideDir, withIntermediateDirectories: true)
            try FileManager.default.moveItem(atPath: dir, toPath: aside)
            if FileManager.default.fileExists(atPath: "\(baseDir)/\(id).log") {
                try? FileManager.default.moveItem(atPath: "\(baseDir)/\(id).log", toPath: aside + "/node.log")
            }
            log.info("node data set aside", ["node": id, "path": aside])
        } catch {
            log.warn("cannot set node data aside; left in place", ["node": id, "error": "\(error)"])
        }
    }

    /// Deletes set-aside directories older than `keepS` seconds (by the time in their name);
    /// entries whose name it cannot read are left alone. Returns the names deleted.
    @discardableResult
    public func purgeSetAside(keepS: Double, nowUnixS: Double = Date().timeIntervalSince1970) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: setAsideDir)) ?? []
        var purged: [String] = []
        for name in entries.sorted() {
            guard let setAsideAt = SetAsideName.unixSeconds(name), nowUnixS - Double(setAsideAt) >= keepS else { continue }
            if (try? FileManager.default.removeItem(atPath: setAsideDir + "/" + name)) != nil { purged.append(name) }
        }
        if !purged.isEmpty { log.info("set-aside node data deleted", ["entries": purged.joined(separator: ",")]) }
        return purged
    }

    /// At registry start: starts every node that has data but is not running (its recorded API
    /// port is free), each dialling the others. Nodes still running from before (a registry that
    /// was killed leaves its children behind) are left alone: their heartbeats will come.
    public func resumeAll(incarnation: (String) -> UInt64 = { _ in 0 }) -> [String] {
        let ids = knownNodes()
        let p2ps = ids.compactMap { recordedPorts($0)?.p2p }
        var started: [String] = []
        for id in ids {
            guard let ports = recordedPorts(id), Self.isFree(ports.api) else { continue }
            if (try? start(id, bootstrap: false, peers: p2ps, incarnation: incarnation(id))) != nil { started.append(id) }
        }
        return started
    }

    func recordedPorts(_ id: String) -> (api: String, p2p: String)? {
        guard let dir = dataDir(id), let text = try? String(contentsOfFile: dir + "/ports", encoding: .utf8) else { return nil }
        let parts = text.split(separator: "\n").map(String.init)
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    }

    /// Registry shutdown: its child processes stop with it (`stopAll`).
    public func close() { stopAll() }

    /// Stops every child (registry shutdown).
    public func stopAll() {
        starting.withLock { $0 = true }
        let ids = children.withLock { Array($0.keys) }
        let group = DispatchGroup()
        for id in ids {
            group.enter()
            DispatchQueue.global().async { self.stop(id); group.leave() }
        }
        _ = group.wait(timeout: .now() + .seconds(stopGraceS + NodeStopGrace.killMarginS))
    }

    public func nodeKey(_ id: String) -> PublicKey? { dataDir(id).flatMap { NodeKeyFile.publicKey(in: $0) } }

    public func apiURL(_ id: String) -> String? { recordedPorts(id).map { "http://\($0.api)" } }

    public func pid(_ id: String) -> Int32? { children.withLock { $0[id].map(\.pid) } }

    /// The node's ports: the ones it had (kept in `<dataDir>/ports`) when still free, else new ones.
    func ports(for id: String) throws -> (api: String, p2p: String) {
        guard let dir = dataDir(id) else { throw ProviderError.startFailed(id: String(id.prefix(64)), reason: "not a node ID") }
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/ports"
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            let parts = text.split(separator: "\n").map(String.init)
            if parts.count == 2, Self.isFree(parts[0]), Self.isFree(parts[1]) { return (parts[0], parts[1]) }
        }
        let chosen = (try unusedFreeAddress(), try unusedFreeAddress())
        precondition(chosen.0 != chosen.1, "API and P2P ports are distinct")
        try "\(chosen.0)\n\(chosen.1)\n".write(toFile: file, atomically: true, encoding: .utf8)
        return chosen
    }

    /// A free port that this provider has not handed out before (the API and P2P ports of one
    /// node came out equal once, and the node could not start).
    func unusedFreeAddress() throws -> String {
        for _ in 0..<Self.maxPortTries {
            let a = try Self.freeAddress()
            if handedOut.withLock({ $0.insert(a).inserted }) { return a }
        }
        throw ProviderError.startFailed(id: "-", reason: "no free port not yet handed out in \(Self.maxPortTries) tries")
    }

    static func freeAddress() throws -> String {
        "\(try Socket.concretePort(try SocketAddress(parsing: "127.0.0.1:0")))"
    }

    static func isFree(_ addr: String) -> Bool {
        guard let a = try? SocketAddress(parsing: addr) else { return false }
        return Socket.isFree(a)
    }
}
