import Chain
import Consensus
import FoundationEssentials
import Membership
import P2P

/// `autochain registry` and `autochain up`: the membership service with the process provider.
enum RegistryCommand {
    static let spec = CommandSpec(name: "registry", summary: "Run the registry: discovery, health checks, autoscaler, node spawning.", options: [
        .init(name: "config", valueName: "FILE", help: "configuration file ([registry], [autoscale], and the nodes' settings)"),
        .init(name: "addr", valueName: "HOST:PORT", help: "REST API and dashboard address (default 127.0.0.1:9090)"),
        .init(name: "base-dir", valueName: "DIR", help: "where the process provider keeps node data (default ./data/cluster)"),
        .init(name: "min-nodes", valueName: "N", help: "fewest nodes the autoscaler keeps"),
        .init(name: "max-nodes", valueName: "N", help: "most nodes the autoscaler runs"),
        .init(name: "log-level", valueName: "LEVEL", help: "debug, info, warn or error"),
        .init(name: "token-file", valueName: "FILE",
              help: "file holding the cluster credential (env AUTOCHAIN_CLUSTER_TOKEN_FILE; default: <base-dir>/cluster-credential, made when missing)"),
    ] + RegistryProviderOption.options)

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        let service = try start(parsed, nodes: nil, baseDir: parsed.string("base-dir"))
        NodeCommand.waitForTerminationSignal()
        service.shutdown()
    }

    /// A started registry and its provider, stopped together.
    struct Running {
        let registry: RegistryService
        let provider: any NodeProvider
        let url: String
        func shutdown() {
            registry.stop()
            RegistryProviderOption.shutdown(provider)
        }
    }

    static func start(_ parsed: ParsedArguments, nodes: Int?, baseDir: String?) throws(CLIError) -> Running {
        let file = parsed.string("config")
        var settings = try RegistryConfig.load(file: file, environment: ProcessInfo.processInfo.environment)
        if let addr = parsed.string("addr") { settings.addr = addr }
        if let n = try parsed.uint("min-nodes", max: 64) { settings.autoscaler.minNodes = Int(n) }
        if let n = try parsed.uint("max-nodes", max: 64) { settings.autoscaler.maxNodes = Int(n) }
        if let nodes {
            settings.autoscaler.minNodes = nodes
            settings.autoscaler.maxNodes = max(settings.autoscaler.maxNodes, nodes)
            settings.autoscaler.targetVoters = min(settings.autoscaler.targetVoters, nodes % 2 == 1 ? nodes : nodes - 1)
        }
        do { try settings.autoscaler.validate() } catch { throw .usage("autoscaler settings: \(error)") }
        if let level = parsed.string("log-level") {
            do { Logger.level = try LogLevel(parsing: level) } catch { throw .usage("\(error)") }
        }
        let base = baseDir ?? CredentialOption.defaultDataDir
        settings.clusterToken = try credential(settings.clusterToken, parsed, baseDir: base).secret
        // Nodes are told the registry's URL when they start, so settle its port before anything runs.
        do {
            settings.addr = "\(try Socket.concretePort(try SocketAddress(parsing: settings.addr)))"
        } catch {
            throw .usage("registry address \(settings.addr): \(error)")
        }
        let url = "http://\(settings.addr)"
        let provider = try RegistryProviderOption.make(parsed, environment: ProcessInfo.processInfo.environment, baseDir: base,
                                                       configPath: file, registryURL: url, clusterToken: settings.clusterToken,
                                                       logLevel: parsed.string("log-level") ?? ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info",
                                                       nodeStopGraceS: settings.nodeStopGraceS)
        let registry = RegistryService(settings: settings, provider: provider)
        do { _ = try registry.start() } catch { throw .failed("registry cannot listen on \(settings.addr): \(error)") }
        let resumed = RegistryProviderOption.resume(provider, registry: registry)
        if !resumed.isEmpty { print("resumed \(resumed.joined(separator: ", ")) on their data in \(base)") }
        return Running(registry: registry, provider: provider, url: url)
    }
}

extension RegistryCommand {
    /// The cluster credential the registry checks and hands to the nodes it starts: given (config,
    /// env, `--token-file`), else the one kept in the base directory, made there on first start.
    static func credential(_ configured: String, _ parsed: ParsedArguments, baseDir: String) throws(CLIError) -> ClusterCredential {
        if !configured.isEmpty {
            do { return try ClusterCredential(configured) } catch { throw .usage("cluster credential: \(error)") }
        }
        if let given = try CredentialOption.explicit(parsed, environment: ProcessInfo.processInfo.environment) { return given }
        do {
            let made = try ClusterCredential.loadOrCreate(directory: baseDir)
            print(CredentialOption.announce(made.path, created: made.created))
            return made.credential
        } catch {
            throw .failed("\(error)")
        }
    }
}

/// `autochain up`: the embedded default — a registry with the process provider that brings up a
/// cluster and keeps it at strength; on the same data directory it resumes the same chain.
enum UpCommand {
    static let spec = CommandSpec(name: "up", summary: "Run a self-healing local cluster: a registry that spawns N node processes.", options: [
        .init(name: "nodes", valueName: "N", help: "nodes to keep running (default 3)"),
        .init(name: "data-dir", valueName: "DIR", help: "where the nodes keep their data (default ./data/cluster)"),
        .init(name: "config", valueName: "FILE", help: "configuration file (genesis, timeouts, [registry], [autoscale])"),
        .init(name: "addr", valueName: "HOST:PORT", help: "registry address (default 127.0.0.1:9090)"),
        .init(name: "gateway-addr", valueName: "HOST:PORT",
              help: "the gateway's address, one REST address for every node (default [gateway] addr, 127.0.0.1:8080; a free port when taken)"),
        .init(name: "log-level", valueName: "LEVEL", help: "log level"),
        .init(name: "token-file", valueName: "FILE", help: "file holding the cluster credential (default: <data-dir>/cluster-credential, made when missing)"),
    ])

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        let n = try parsed.int("nodes", default: 3, range: 1...32)
        var gatewaySettings = try GatewayConfig.load(file: parsed.string("config"))
        if let addr = parsed.string("gateway-addr") { gatewaySettings.addr = addr }
        let running = try RegistryCommand.start(parsed, nodes: n, baseDir: parsed.string("data-dir"))
        gatewaySettings.registryURL = running.url
        let gateway: Gateway
        let gatewayAddress: SocketAddress
        do { (gateway, gatewayAddress) = try GatewayCommand.start(gatewaySettings, fallBackWhenTaken: true) } catch {
            running.shutdown()
            throw error
        }
        print("registry and dashboard: \(running.url)/")
        print("gateway, one REST address for the whole cluster: http://\(gatewayAddress)")
        print("keeping \(n) node(s) running; node URLs appear below as they start (also: autochain nodes --registry \(running.url))")
        let url = running.url
        let targetVoters = running.registry.settings.autoscaler.targetVoters
        PosixThread.start(name: "up-watch") { watch(registryURL: url, nodes: n, targetVoters: targetVoters) }
        NodeCommand.waitForTerminationSignal()
        print("stopping the cluster")
        gateway.stop()
        running.shutdown()
    }

    /// Prints each node's URL once as it appears, and the cluster's readiness as it changes:
    /// "running" only when it is (`ClusterReadiness`), "repaired: running" after a repair.
    /// How long the watch waits for a `/status` (2 s: a stalled registry or leader must not hold
    /// up what is printed) and how often it asks again (250 ms: a change shows at once to a human).
    static let watchStatusTimeout: Duration = .seconds(2)
    static let watchIntervalS = 0.25

    static func watch(registryURL: String, nodes: Int, targetVoters: Int) {
        var shown = Set<String>()
        var readiness = ClusterReadiness()
        while true {  // until the process exits
            // Short timeouts: a stalled registry or leader must not hold up what is printed.
            if let client = try? NodeClient(registryURL), let st = try? client.call("GET", "/status", nil, timeout: watchStatusTimeout) {
                let list = st["nodes"]?.arrayValue ?? []
                for node in list {
                    guard let id = node["id"]?.stringValue, let api = node["apiUrl"]?.stringValue, !shown.contains(id) else { continue }
                    shown.insert(id)
                    print("node \(id): \(api)")
                }
                let alive = Set(list.filter { $0["state"]?.stringValue == "alive" }.compactMap { $0["id"]?.stringValue })
                // The registry's word on the leader is checked with the leader itself: it must
                // say it leads, and its height is what it committed.
                let leaderURL = st["leader"]?.stringValue.flatMap { id in list.first { $0["id"]?.stringValue == id }?["apiUrl"]?.stringValue }
                let leaderStatus = leaderURL.flatMap { try? NodeClient($0) }.flatMap { try? $0.call("GET", "/status", nil, timeout: watchStatusTimeout) }
                let leads = leaderStatus?["role"]?.stringValue.flatMap(Role.init(rawValue:)) == .leader
                let observation = ClusterReadiness.Observation(
                    expectedNodes: st["targetNodes"]?.intValue.map { Int($0) } ?? nodes, targetVoters: targetVoters,
                    voters: st["voters"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                    learners: st["learners"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                    aliveMembers: alive, leader: leads ? leaderStatus?["nodeId"]?.stringValue : nil,
                    committedHeight: UInt64(max(0, leaderStatus?["height"]?.intValue ?? 0)))
                if let line = readiness.observe(observation) { print(line) }
            }
            PosixThread.sleep(seconds: watchIntervalS)
        }
    }
}

/// `autochain nodes|scale|events --registry URL`: the registry from the command line.
enum RegistryClientCommands {
    static let nodesSpec = CommandSpec(name: "nodes", summary: "List the nodes the registry knows.", options: [
        .init(name: "registry", valueName: "URL", help: "registry URL, e.g. http://127.0.0.1:9090"),
        .init(name: "json", valueName: nil, help: "print raw JSON"),
    ])
    static let scaleSpec = CommandSpec(name: "scale", summary: "autochain scale --registry URL N: ask for N nodes.", options: [
        .init(name: "registry", valueName: "URL", help: "registry URL"),
    ] + CredentialOption.clientOptions)
    static let eventsSpec = CommandSpec(name: "events", summary: "Show the registry's scaling events.", options: [
        .init(name: "registry", valueName: "URL", help: "registry URL"),
        .init(name: "json", valueName: nil, help: "print raw JSON"),
    ])

    @Sendable static func nodes(_ args: [String]) throws(CLIError) {
        let parsed = try nodesSpec.parse(args)
        let st = try NodeClient(try parsed.required("registry")).get("/status")
        if parsed.flag("json") { print(st.serializedPretty()); return }
        print("leader \(st["leader"]?.stringValue ?? "-")  quorum \(st["quorum"]?.stringValue ?? "?")  provider \(st["provider"]?.stringValue ?? "?")")
        for n in st["nodes"]?.arrayValue ?? [] {
            let id = n["id"]?.stringValue ?? "?"
            print("  \(id.padded(toLength: 8)) \((n["state"]?.stringValue ?? "?").padded(toLength: 8)) \((n["role"]?.stringValue ?? "?").padded(toLength: 9)) height \(n["height"]?.intValue ?? 0)  \(n["apiUrl"]?.stringValue ?? "")")
        }
    }

    @Sendable static func scale(_ args: [String]) throws(CLIError) {
        let positional = args.filter { !$0.hasPrefix("-") && Int($0) != nil }
        let rest = args.filter { !positional.contains($0) }
        let parsed = try scaleSpec.parse(rest)
        guard let n = positional.first.flatMap(Int.init) else { throw .usage("scale: give the number of nodes, e.g. autochain scale --registry URL 5") }
        let credential = try CredentialOption.forClient(parsed)
        let answer = try NodeClient(try parsed.required("registry")).post("/scale", ["target_nodes": .int(n)], token: credential.secret)
        print("scale to \(n): \(answer["status"]?.stringValue ?? "?")")
    }

    @Sendable static func events(_ args: [String]) throws(CLIError) {
        let parsed = try eventsSpec.parse(args)
        let ev = try NodeClient(try parsed.required("registry")).get("/events")
        if parsed.flag("json") { print(ev.serializedPretty()); return }
        for e in ev["events"]?.arrayValue ?? [] {
            let at = e["at"]?.doubleValue ?? 0
            let seconds = NumberText.fixed(at, places: 1)
            let kind = e["kind"]?.stringValue ?? "?"
            // "%8.1f" and "%-20@": right-aligned in 8, left-aligned in at least 20.
            print("+" + String(repeating: " ", count: max(0, 8 - seconds.count)) + seconds + "s  "
                + (kind.count < 20 ? kind.padded(toLength: 20) : kind) + " " + (e["message"]?.stringValue ?? ""))
        }
    }
}

