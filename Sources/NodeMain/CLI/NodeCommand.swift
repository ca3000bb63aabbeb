import Chain
import Dispatch
import Foundation
import P2P

/// `autochain node`: open the store, start consensus and the REST API, run until SIGINT/SIGTERM.
enum NodeCommand {
    static let spec = CommandSpec(name: "node", summary: "Run a ledger node: SQLite store, consensus, REST API.", options: [
        .init(name: "config", valueName: "FILE", help: "configuration file (default: none, built-in defaults)"),
        .init(name: "data-dir", valueName: "DIR", help: "data directory (env DATA_DIR)"),
        .init(name: "node-id", valueName: "ID", help: "node ID (env NODE_ID)"),
        .init(name: "api-addr", valueName: "HOST:PORT", help: "REST API listen address (env API_ADDR)"),
        .init(name: "p2p-addr", valueName: "HOST:PORT", help: "peer protocol listen address (env P2P_ADDR)"),
        .init(name: "log-level", valueName: "LEVEL", help: "debug, info, warn or error (env LOG_LEVEL)"),
    ])

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        let settings = try ConfigLoader.load(file: parsed.string("config"), environment: ProcessInfo.processInfo.environment,
                                             flags: parsed)
        let node = try RunningNode.start(settings)
        let banner = "autochain node \(settings.node.id) serving http://\(node.apiAddress) (chain \(settings.genesis.chainId), height \(node.state.head.header.height))\n"
        FileHandle.standardOutput.write(Data(banner.utf8))
        waitForTerminationSignal()
        node.stop()
    }

    /// Blocks until SIGINT or SIGTERM arrives.
    static func waitForTerminationSignal() {
        let done = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { done.signal() }
            source.resume()
            sources.append(source)
        }
        done.wait()
        withExtendedLifetime(sources) {}
    }
}

/// A started node: the pieces wired together, and a clean way to stop them.
final class RunningNode: Sendable {
    let state: NodeState
    let runtime: NodeRuntime
    let server: HTTPServer
    let apiAddress: String
    private let log = Logger(component: "node")

    private init(state: NodeState, runtime: NodeRuntime, server: HTTPServer, apiAddress: String) {
        self.state = state
        self.runtime = runtime
        self.server = server
        self.apiAddress = apiAddress
    }

    static func start(_ settings: NodeSettings) throws(CLIError) -> RunningNode {
        let log = Logger(component: "node")
        do {
            try FileManager.default.createDirectory(atPath: settings.node.dataDir, withIntermediateDirectories: true)
        } catch {
            throw .failed("cannot create data directory \(settings.node.dataDir): \(error.localizedDescription)")
        }
        let nodeKey = try KeyFile.loadOrCreateNodeKey(dataDir: settings.node.dataDir)
        let dbPath = settings.node.dataDir + "/chain.db"
        do {
            let store = try ChainStore(path: dbPath, genesis: settings.genesis, synchronous: settings.storage.synchronous)
            guard let headBlock = try store.block(at: store.headHeight) else { throw CLIError.failed("head block missing from \(dbPath)") }
            let genesisHash = settings.genesis.block().hash
            let head = HeadInfo(header: headBlock.header, hash: headBlock.hash,
                                headBody: NodeAPI.headBody(chainId: settings.genesis.chainId, block: headBlock))
            let state = NodeState(chainId: settings.genesis.chainId, genesisHash: genesisHash, accounts: try store.loadAccounts(),
                                  mempool: Mempool(settings: settings.mempool), head: head)
            let metrics = NodeMetrics()
            metrics.height.set(Double(store.headHeight))
            let runtime = try NodeRuntime(settings: settings, store: store, nodeKey: nodeKey, state: state, metrics: metrics)
            let reader = try ChainReader(path: dbPath)
            let api = NodeAPI(settings: settings, state: state, runtime: runtime, reader: reader, metrics: metrics,
                              nodeKey: nodeKey.publicKey)
            var http = HTTPServerSettings()
            http.loopThreads = settings.api.threads
            http.maxBodyBytesOverride = { method, path in api.maxBodyBytes(method: method, path: path) }
            let server = HTTPServer(settings: http, handler: { request, responder in api.handle(request, responder) })
            runtime.start()
            let bound = try server.start(bindTo: try SocketAddress(parsing: settings.api.addr))
            log.info("node started", ["node": settings.node.id, "api": "\(bound)", "height": store.headHeight,
                                      "chain": settings.genesis.chainId, "data": settings.node.dataDir])
            return RunningNode(state: state, runtime: runtime, server: server, apiAddress: "\(bound)")
        } catch let e as CLIError {
            throw e
        } catch {
            throw .failed("\(error)")
        }
    }

    func stop() {
        log.info("stopping", ["height": state.head.header.height])
        server.stop()
        runtime.stop()
    }
}
