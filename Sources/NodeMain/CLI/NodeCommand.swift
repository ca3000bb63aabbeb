import Chain
import Dispatch
import FoundationEssentials
import Glibc
import Membership
import P2P

/// `autochain node`: open the store, start consensus and the REST API, run until SIGINT/SIGTERM.
enum NodeCommand {
    static let spec = CommandSpec(name: "node", summary: "Run a ledger node: SQLite store, consensus, REST API.", options: [
        .init(name: "config", valueName: "FILE", help: "configuration file (default: none, built-in defaults)"),
        .init(name: "data-dir", valueName: "DIR", help: "data directory (env DATA_DIR)"),
        .init(name: "node-id", valueName: "ID", help: "node ID (env NODE_ID)"),
        .init(name: "api-addr", valueName: "HOST:PORT", help: "REST API listen address (env API_ADDR)"),
        .init(name: "p2p-addr", valueName: "HOST:PORT", help: "peer protocol listen address (env P2P_ADDR)"),
        .init(name: "peers", valueName: "HOST:PORT,...", help: "static peers to dial (env PEERS)"),
        .init(name: "registry", valueName: "URL,...", help: "registry URLs (env REGISTRY_URL)"),
        .init(name: "join", valueName: nil, help: "ask the cluster to add this fresh node instead of starting a new cluster (env JOIN=true)"),
        .init(name: "log-level", valueName: "LEVEL", help: "debug, info, warn or error (env LOG_LEVEL)"),
        .init(name: "token-file", valueName: "FILE",
              help: "file holding the cluster credential (env AUTOCHAIN_CLUSTER_TOKEN_FILE; or AUTOCHAIN_CLUSTER_TOKEN)"),
    ])

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        var settings = try ConfigLoader.load(file: parsed.string("config"), environment: ProcessInfo.processInfo.environment,
                                             flags: parsed)
        if parsed.flag("join") { settings.p2p.join = true }
        settings.p2p.clusterToken = try credential(for: settings, parsed).secret
        let signals = TerminationSignals()
        let node = try RunningNode.start(settings)
        let banner = "autochain node \(settings.node.id) serving http://\(node.apiAddress) (chain \(settings.genesis.chainId), height \(node.state.head.header.height))\n"
        StandardStream.output.write(banner)
        waitForTerminationSignal(orSuperseded: node.supersession.signal, caughtBy: signals)
        node.stop()
        if let reason = node.supersession.reason {
            // Not a success (no restart policy may take it for one), and not a crash to repair:
            // a newer copy of this node runs elsewhere, or it was retired (docs/OPERATIONS.md,
            // superseded).
            let line = "autochain node \(settings.node.id) incarnation \(settings.node.incarnation) stopped, fenced out (\(reason))\n"
            StandardStream.error.write(line)
            exit(Fencing.supersededExitStatus)
        }
    }

    /// The node's cluster credential: given (config, env, `--token-file`), else the one in its
    /// data directory, else — only for a node that starts a new cluster of its own — a fresh one
    /// kept there. A node that joins others must be given theirs: it cannot guess it.
    static func credential(for settings: NodeSettings, _ parsed: ParsedArguments) throws(CLIError) -> ClusterCredential {
        let env = ProcessInfo.processInfo.environment
        if !settings.p2p.clusterToken.isEmpty {
            do { return try ClusterCredential(settings.p2p.clusterToken) } catch { throw .usage("p2p.cluster_token: \(error)") }
        }
        if let given = try CredentialOption.explicit(parsed, environment: env) { return given }
        let kept = URL(fileURLWithPath: settings.node.dataDir).appendingPathComponent(ClusterCredential.fileName).path
        if FileManager.default.fileExists(atPath: kept) {
            do { return try ClusterCredential.load(path: kept) } catch { throw .failed("\(error)") }
        }
        guard !settings.p2p.join, settings.p2p.peers.isEmpty, settings.registry.urls.isEmpty else {
            throw .usage("this node joins a cluster and needs the cluster's credential: pass --token-file FILE (e.g. the first "
                + "node's \(ClusterCredential.fileName)) or set AUTOCHAIN_CLUSTER_TOKEN")
        }
        do {
            let made = try ClusterCredential.loadOrCreate(directory: settings.node.dataDir)
            StandardStream.output.write(CredentialOption.announce(made.path, created: made.created) + "\n")
            return made.credential
        } catch {
            throw .failed("\(error)")
        }
    }

    /// Blocks until SIGINT or SIGTERM arrives (caught by `signals`, or from now on when none is
    /// given), or `superseded` (when given) is signalled.
    static func waitForTerminationSignal(orSuperseded superseded: DispatchSemaphore? = nil,
                                         caughtBy signals: TerminationSignals = TerminationSignals()) {
        if let superseded {
            DispatchQueue.global().async {
                superseded.wait()
                signals.stopRequested()
            }
        }
        signals.wait()
    }
}

/// SIGINT and SIGTERM, caught from the moment this is made until the process ends. Make it before
/// starting what a signal must stop: the dispatch sources start listening asynchronously, and a
/// signal that arrives after its default action is replaced by "ignore" but before its source
/// listens is lost. (A gateway sent SIGTERM as soon as it answered, on a loaded machine, ran on
/// for good.) Commands that spawn child processes make it after spawning, as before.
final class TerminationSignals: @unchecked Sendable {  // lets only, set in init
    private let arrived = DispatchSemaphore(value: 0)
    private let sources: [DispatchSourceSignal]

    init() {
        let arrived = arrived
        sources = [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { arrived.signal() }
            source.resume()
            return source
        }
    }

    /// As if a signal had arrived.
    func stopRequested() { arrived.signal() }

    /// Blocks until a signal arrives (or arrived since `init`).
    func wait() {
        arrived.wait()
        withExtendedLifetime(sources) {}
    }
}

/// A started node: the pieces wired together, and a clean way to stop them.
final class RunningNode: Sendable {
    let state: NodeState
    let runtime: NodeRuntime
    let server: HTTPServer
    let transport: PeerTransport
    let registry: RegistryClient?
    let supersession: Supersession
    let api: NodeAPI
    let apiAddress: String
    let p2pAddress: String
    private let log = Logger(component: "node")

    private init(state: NodeState, runtime: NodeRuntime, server: HTTPServer, transport: PeerTransport, registry: RegistryClient?,
                 supersession: Supersession, api: NodeAPI, apiAddress: String, p2pAddress: String) {
        self.registry = registry
        self.supersession = supersession
        self.api = api
        self.state = state
        self.runtime = runtime
        self.server = server
        self.transport = transport
        self.apiAddress = apiAddress
        self.p2pAddress = p2pAddress
    }

    static func start(_ settings: NodeSettings) throws(CLIError) -> RunningNode {
        let log = Logger(component: "node")
        if !PeerFrameEncryption.isOn {
            log.warn("UNSAFE: benchmark build, peer message frames are not encrypted (AUTOCHAIN_BENCH_PLAINTEXT_FRAMES)")
        }
        do {
            try FileManager.default.createDirectory(atPath: settings.node.dataDir, withIntermediateDirectories: true)
        } catch {
            throw .failed("cannot create data directory \(settings.node.dataDir): \(FileErrorText.reason(error))")
        }
        let nodeKey = try KeyFile.loadOrCreateNodeKey(dataDir: settings.node.dataDir)
        let dbPath = settings.node.dataDir + "/chain.db"
        do {
            let store = try ChainStore(path: dbPath, genesis: settings.genesis, synchronous: settings.storage.synchronous)
            let checked = try store.verifyOnOpen(settings.storage.check)
            log.info("database checked", ["database": dbPath, "pages": checked.pagesChecked ? "all" : "partly (time budget spent)",
                                          "tail_blocks": checked.tailBlocksChecked, "log_tail": checked.logTailEntries])
            if settings.storage.synchronous != .full {
                log.warn("UNSAFE: synchronous is not full; acknowledged commits may be lost on power loss (benchmarks only)",
                         ["synchronous": settings.storage.synchronous.rawValue])
            }
            guard let headBlock = try store.block(at: store.headHeight) else { throw CLIError.failed("head block missing from \(dbPath)") }
            let genesisHash = settings.genesis.block().hash
            let head = HeadInfo(header: headBlock.header, hash: headBlock.hash,
                                headBody: NodeAPI.headBody(chainId: settings.genesis.chainId, block: headBlock))
            let state = NodeState(chainId: settings.genesis.chainId, genesisHash: genesisHash, accounts: try store.loadAccounts(),
                                  mempool: Mempool(settings: settings.mempool), head: head, membership: store.membership)
            let metrics = NodeMetrics()
            metrics.height.set(Double(store.headHeight))
            let runtime = try NodeRuntime(settings: settings, store: store, nodeKey: nodeKey, state: state, metrics: metrics,
                                          joining: settings.p2p.join)
            let reader = try ChainReader(path: dbPath)
            let api = NodeAPI(settings: settings, state: state, runtime: runtime, reader: reader, metrics: metrics,
                              nodeKey: nodeKey.publicKey)
            var http = HTTPServerSettings()
            http.loopThreads = settings.api.threads
            http.maxConnectionsPerAddress = settings.api.maxConnectionsPerAddress
            http.maxBodyBytesInFlight = settings.api.maxBodyBytesInFlight
            http.maxBodyBytesOverride = { method, path in api.maxBodyBytes(method: method, path: path) }
            let server = HTTPServer(settings: http, handler: { request, responder in api.handle(request, responder) })
            let bound = try server.start(bindTo: try SocketAddress(parsing: settings.api.addr))
            metrics.sampleHTTPServer(server, api: api)
            metrics.sampleStorage(dataDir: settings.node.dataDir)
            let advertisedAPI = settings.api.advertise.isEmpty ? "\(bound)" : settings.api.advertise
            let supersession = Supersession()
            let (transport, p2pBound) = try startPeers(settings, nodeKey: nodeKey, genesisHash: genesisHash, api: advertisedAPI,
                                                       runtime: runtime, state: state, reader: reader, supersession: supersession)
            api.attach(transport)
            runtime.start()
            api.startMempoolHandover()
            let registry = startRegistryClient(settings, nodeKey: nodeKey, api: advertisedAPI, p2p: transport.identity.advertisedP2PAddr,
                                               runtime: runtime, state: state, api: api, network: transport, supersession: supersession)
            log.info("node started", ["node": settings.node.id, "api": "\(bound)", "p2p": "\(p2pBound)", "height": store.headHeight,
                                      "chain": settings.genesis.chainId, "data": settings.node.dataDir,
                                      "mode": store.headHeight > 0 ? "member" : (settings.p2p.join ? "joining" : "bootstrap")])
            return RunningNode(state: state, runtime: runtime, server: server, transport: transport, registry: registry,
                               supersession: supersession, api: api, apiAddress: "\(bound)", p2pAddress: "\(p2pBound)")
        } catch let e as CLIError {
            throw e
        } catch {
            throw .failed("\(error)")
        }
    }

    /// The peer network, dialling the static peers; the runtime sends through it.
    static func startPeers(_ settings: NodeSettings, nodeKey: KeyPair, genesisHash: Hash32, api: String, runtime: NodeRuntime,
                           state: NodeState, reader: ChainReader, supersession: Supersession) throws -> (PeerTransport, SocketAddress) {
        // Peers must be told a dialable port before the network starts.
        let listen = try Socket.concretePort(try SocketAddress(parsing: settings.p2p.addr))
        var peerSettings = PeerSettings(listenAddress: listen)
        peerSettings.maxHandshakesPerAddress = settings.p2p.maxHandshakesPerAddress
        peerSettings.maxPreAuthBytes = settings.p2p.maxPreAuthBytes
        peerSettings.maxKnownAddresses = settings.p2p.maxKnownAddresses
        peerSettings.joinOnlyTimeout = .milliseconds(settings.p2p.joinOnlyTimeoutMs)
        peerSettings.minJoinInterval = .milliseconds(settings.p2p.minJoinIntervalMs)
        let identity = PeerIdentity(nodeId: settings.node.id, key: nodeKey, chainId: settings.genesis.chainId, genesisHash: genesisHash,
                                    advertisedP2PAddr: settings.p2p.advertise.isEmpty ? "\(listen)" : settings.p2p.advertise,
                                    apiAddr: api,
                                    clusterToken: settings.p2p.clusterToken.isEmpty ? nil : settings.p2p.clusterToken,
                                    incarnation: settings.node.incarnation)
        let transport = PeerTransport(runtime: runtime, state: state, reader: reader, identity: identity,
                                      maxPendingRequests: settings.p2p.maxPendingPeerRequests,
                                      maxPendingRequestsPerPeer: settings.p2p.maxPendingRequestsPerPeer,
                                      maxQueuedRaftPerPeer: settings.p2p.maxQueuedRaftPerPeer)
        let network = PeerNetwork(settings: peerSettings, identity: identity, delegate: transport)
        transport.attach(network)
        transport.attachSupersession { reason in supersession.superseded(reason) }
        runtime.attach(transport)
        let bound = try network.start()
        addStaticPeers(settings.p2p.peers, to: network)
        runtime.metrics.registry.counter("autochain_p2p_refused_handshakes_total",
                                         "Inbound strangers refused by a pre-auth bound (handshakes per address, pre-auth bytes).")
            .sample { Double(network.refusedHandshakes) }
        runtime.metrics.registry.counter("autochain_p2p_evicted_addresses_total",
                                         "Learned peer addresses forgotten to make room for new ones (p2p max_known_addresses).")
            .sample { Double(network.evictedAddresses) }
        runtime.metrics.registry.counter("autochain_p2p_dropped_requests_total",
                                         "Peer getBlocks/join requests ignored because max_pending_peer_requests were waiting.")
            .sample { Double(transport.servingGate.refusedCount) }
        return (transport, bound)
    }

    /// The static peers, dialled once their names resolve. Looked up off the start-up path: a
    /// name whose DNS does not answer (a Swarm service whose host is down) blocked the start for
    /// about ten seconds. One that does not resolve is skipped with a warning, not fatal: peers
    /// are also learned from the registry and from other peers, and a container restarted on its
    /// volume keeps the PEERS it was created with, some of which may have been retired since.
    static func addStaticPeers(_ peers: [String], to network: PeerNetwork) {
        let log = Logger(component: "p2p")
        for peer in peers {
            network.addPeerAddress(named: peer) { peer in
                log.warn("static peer skipped: it does not resolve (peers are also learned from the registry and other peers)",
                         ["peer": peer])
            }
        }
    }

    /// Registers with the registry (when configured) and heartbeats what it needs to decide.
    static func startRegistryClient(_ settings: NodeSettings, nodeKey: KeyPair, api: String, p2p: String, runtime: NodeRuntime,
                                    state: NodeState, api handler: NodeAPI, network: PeerTransport,
                                    supersession: Supersession) -> RegistryClient? {
        guard !settings.registry.urls.isEmpty else { return nil }
        var cs = RegistryClientSettings()
        cs.urls = settings.registry.urls.map { $0.hasPrefix("http") ? $0 : "http://\($0)" }
        cs.strategy = RegistryStrategy(rawValue: settings.registry.strategy) ?? .roundRobin
        cs.heartbeatIntervalMs = settings.registry.heartbeatMs
        cs.token = settings.p2p.clusterToken
        let sampler = LoadSampler()
        let client = RegistryClient(settings: cs, nodeId: settings.node.id, nodeKey: nodeKey, report: {
            let st = runtime.status
            let head = state.head
            let load = sampler.sample(requests: handler.requestsServed)
            var o = JSONObject([("apiUrl", .string("http://\(api)")), ("p2pAddr", .string(p2p)), ("nodeKey", .string(nodeKey.publicKey.hex)),
                                ("height", .uint(head.header.height)), ("commitIndex", .uint(st.commitIndex)), ("term", .uint(st.term)),
                                ("role", .string(st.role.rawValue)), ("leader", st.leader.map { .string($0) } ?? .null),
                                ("incarnation", .uint(settings.node.incarnation))])
            o["voters"] = .array(st.membership.voters.map { .string($0) })
            o["learners"] = .array(st.membership.learners.map { .string($0) })
            o["retired"] = .array(st.membership.retired.map { .string($0) })
            o["mempool"] = .int(state.withLock { $0.mempool.count })
            o["requestRate"] = .double(load.requestRate)
            o["cpu"] = .double(load.cpu)
            // Submit-to-commit p99 of the last 10 s (the dashboard's latency plot, the submit_latency metric).
            if let p99 = runtime.metrics.recentSubmitToCommit.p99Ms() { o["submitLatencyMs"] = .double(p99) }
            o["memoryBytes"] = .double(ProcessStats.read().residentBytes)
            if let fault = runtime.storage.fault { o["degraded"] = .string(fault.reason) }
            let evidence = runtime.evidence.withLock { $0 }
            if let e = evidence.latest, NodeIDGrammar.isValid(e.from) {
                o["evidence"] = .object(JSONObject([("count", .uint(evidence.count)), ("kind", .string(e.kind.rawValue)),
                                                    ("accused", .string(e.from)), ("term", .uint(e.term))]))
            }
            return o
        }, onPeers: { peers in network.learn(peers) }, onSuperseded: { reason in supersession.superseded(reason) })
        client.start()
        return client
    }

    /// Stops cleanly: no new submissions, leadership handed over, the mempool handed to the new
    /// leader (a drained node loses nothing it accepted), then the runtime and the network.
    func stop() {
        log.info("stopping", ["height": state.head.header.height])
        api.draining = true
        api.stranded.stop()
        registry?.stop()
        let wasLeader = runtime.status.role == .leader
        runtime.stop(transferFirst: true)
        // What it accepted and did not commit goes to the new leader (as after any loss of leadership).
        if wasLeader { api.handOverStranded(waitingUpTo: api.settings.api.strandedHandOverWaitMs) }
        transport.stop()
        server.stop()
    }
}
