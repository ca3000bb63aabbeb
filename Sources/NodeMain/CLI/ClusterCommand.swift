import Chain
import Consensus
import FoundationEssentials
import Glibc
import P2P

/// `autochain cluster`: N node processes on free loopback ports with one genesis. The first
/// starts the cluster; the others join it and the leader promotes them up to `[consensus] voters`.
enum ClusterCommand {
    static let spec = CommandSpec(name: "cluster", summary: "Run a local N-node cluster as child processes (Ctrl-C stops them all).", options: [
        .init(name: "nodes", valueName: "N", help: "number of nodes (default 3)"),
        .init(name: "base-dir", valueName: "DIR", help: "parent of the nodes' data directories (default ./data/cluster)"),
        .init(name: "config", valueName: "FILE", help: "configuration file every node reads (genesis, timeouts)"),
        .init(name: "log-level", valueName: "LEVEL", help: "log level of the nodes"),
        .init(name: "token-file", valueName: "FILE", help: "file holding the cluster credential (default: <base-dir>/cluster-credential, made when missing)"),
    ])

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        let count = try parsed.int("nodes", default: 3, range: 1...32)
        let base = parsed.string("base-dir") ?? "./data/cluster"
        do { try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true) } catch {
            throw .failed("cannot create \(base): \(FileErrorText.reason(error))")
        }
        let credentialFile = try credentialFile(parsed, base: base)
        let binary = selfExecutablePath()
        var children: [ChildProcess] = []
        var p2p: [String] = []
        var apis: [(id: String, url: String)] = []
        for i in 1...count {
            let api = try freeLoopbackAddress()
            let peer = try freeLoopbackAddress()
            var args = ["node", "--node-id", "node\(i)", "--data-dir", "\(base)/node\(i)", "--api-addr", api, "--p2p-addr", peer]
            if let c = parsed.string("config") { args += ["--config", c] }
            if let l = parsed.string("log-level") { args += ["--log-level", l] }
            let fresh = !FileManager.default.fileExists(atPath: "\(base)/node\(i)/chain.db")
            if !p2p.isEmpty { args += ["--peers", p2p.joined(separator: ",")] + (fresh ? ["--join"] : []) }
            let log = "\(base)/node\(i).log"
            do {
                children.append(try ChildProcess.spawn(executable: binary, arguments: args + ["--token-file", credentialFile],
                                                       environment: ProcessInfo.processInfo.environment,
                                                       output: .file(path: log, truncate: true)))
            } catch {
                throw .failed("cannot start node\(i): \(error)")
            }
            p2p.append(peer)
            apis.append(("node\(i)", "http://\(api)"))
            print("node\(i)  http://\(api)  (p2p \(peer), log \(log))")
            if i == 1 { PosixThread.sleep(seconds: Self.bootstrapHeadStartS) }
        }
        print("cluster of \(count) node(s) started; Ctrl-C stops it. Waiting until it runs:")
        let targetVoters = try Self.targetVoters(configFile: parsed.string("config"))
        let watched = apis
        PosixThread.start(name: "cluster-watch") { watch(watched, targetVoters: targetVoters) }
        NodeCommand.waitForTerminationSignal()
        for p in children { p.signal(SIGTERM) }
        for p in children { p.waitUntilExit() }
    }

    /// The first node (which bootstraps the chain) starts this long before the others (0.5 s: they
    /// would only retry their dials until it listens; this keeps their logs quiet).
    static let bootstrapHeadStartS = 0.5
    /// How long the readiness watch waits for one node's `/status` (1 s, on loopback) and how
    /// often it looks again (250 ms).
    static let watchStatusTimeout: Duration = .seconds(1)
    static let watchIntervalS = 0.25

    /// `[consensus] voters` of the nodes' configuration (the nodes' default without one).
    static func targetVoters(configFile: String?) throws(CLIError) -> Int {
        guard let configFile else { return NodeSettings().consensus.voters }
        do {
            let entry = try ConfigLoader.readFile(configFile).first { $0.path == "consensus.voters" }
            guard case .int(let n)? = entry?.value, n >= 1, n <= 99 else { return NodeSettings().consensus.voters }
            return Int(n)
        } catch {
            throw .usage("\(error)")
        }
    }

    /// Prints the cluster's readiness as it changes (`ClusterReadiness`), from the nodes' own
    /// `/status`: the members are what the leader says, the nodes that answer are alive.
    static func watch(_ nodes: [(id: String, url: String)], targetVoters: Int) {
        var readiness = ClusterReadiness()
        while true {  // until the process exits
            var answers: [String: JSON] = [:]
            for node in nodes {
                guard let client = try? HTTPClient(baseURL: node.url),
                      let r = try? client.request(method: "GET", path: "/status", timeout: Self.watchStatusTimeout), r.status == 200,
                      let st = try? JSON.parse(r.body) else { continue }
                answers[node.id] = st
            }
            let leader = answers.values.compactMap { $0["role"]?.stringValue.flatMap(Role.init(rawValue:)) == .leader ? $0["nodeId"]?.stringValue : nil }.first
            if let view = leader.flatMap({ answers[$0] }) ?? answers.values.first {
                let observation = ClusterReadiness.Observation(
                    expectedNodes: nodes.count, targetVoters: targetVoters,
                    voters: view["voters"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                    learners: view["learners"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                    aliveMembers: Set(answers.keys), leader: leader,
                    committedHeight: UInt64(max(0, leader.flatMap { answers[$0]?["height"]?.intValue } ?? 0)))
                if let line = readiness.observe(observation) { print(line) }
            }
            PosixThread.sleep(seconds: Self.watchIntervalS)
        }
    }

    /// The file every node of the cluster reads its credential from: `--token-file`, else the one
    /// kept in the base directory (made on first start).
    static func credentialFile(_ parsed: ParsedArguments, base: String) throws(CLIError) -> String {
        if let given = parsed.string("token-file") {
            do { _ = try ClusterCredential.load(path: given) } catch { throw .failed("\(error)") }
            return given
        }
        do {
            let made = try ClusterCredential.loadOrCreate(directory: base)
            print(CredentialOption.announce(made.path, created: made.created))
            return made.path
        } catch {
            throw .failed("\(error)")
        }
    }

    /// A loopback address with a port the OS just handed out and released.
    static func freeLoopbackAddress() throws(CLIError) -> String {
        do {
            return "\(try Socket.concretePort(try SocketAddress(parsing: "127.0.0.1:0")))"
        } catch {
            throw .failed("no free port: \(error)")
        }
    }
}

/// `autochain members`: list and change the cluster's membership through a node.
enum MembersCommand {
    static let spec = CommandSpec(name: "members", summary: "members list|add-learner|promote|remove|transfer-leader --node URL", options: [
        .init(name: "node", valueName: "URL", help: "any node's API URL (changes go to the leader)"),
        .init(name: "id", valueName: "NODE_ID", help: "the node to add, promote or remove"),
        .init(name: "key", valueName: "HEX", help: "the node's public key, for add-learner (its /status nodeKey)"),
        .init(name: "json", valueName: nil, help: "print raw JSON"),
    ] + CredentialOption.clientOptions)

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        guard let verb = args.first, !verb.hasPrefix("-") else {
            if args.contains("--help") || args.contains("-h") { throw .help(spec.usage()) }
            throw .usage("members: say list, add-learner, promote, remove or transfer-leader")
        }
        let parsed = try spec.parse(Array(args.dropFirst()))
        var client = try NodeClient(parsed.required("node"))
        if verb == "list" {
            let m = try client.get("/members")
            if parsed.flag("json") { print(m.serializedPretty()); return }
            print("leader \(m["leader"]?.stringValue ?? "-") term \(m["term"]?.intValue ?? 0) commit \(m["commitIndex"]?.intValue ?? 0)")
            for group in ["voters", "learners"] {
                for item in m[group]?.arrayValue ?? [] {
                    print("  \(item["id"]?.stringValue ?? "?")  \(item["role"]?.stringValue ?? "?")  match \(item["match"]?.intValue.map(String.init) ?? "-")  api \(item["apiAddr"]?.stringValue ?? "-")")
                }
            }
            return
        }
        let path: String
        var body: JSONObject = JSONObject()
        switch verb {
        case "add-learner":
            path = "/members/add-learner"
            body["nodeId"] = .string(try parsed.required("id"))
            body["nodeKey"] = .string(try parsed.required("key"))
        case "promote", "remove":
            path = "/members/\(verb)"
            body["nodeId"] = .string(try parsed.required("id"))
        case "transfer-leader":
            path = "/leadership/transfer"
            if let id = parsed.string("id") { body["to"] = .string(id) }
        default:
            throw .usage("members: unknown action '\(verb)'")
        }
        let token = try CredentialOption.forClient(parsed).secret
        // Follow the leader once when the node we asked does not lead.
        for attempt in 0..<2 {
            do {
                let answer = try client.post(path, .object(body), token: token)
                print(parsed.flag("json") ? answer.serializedPretty() : "\(verb) \(body["nodeId"]?.stringValue ?? ""): \(answer["status"]?.stringValue ?? "ok")\(answer["height"]?.intValue.map { " at height \($0)" } ?? "")")
                return
            } catch {
                guard attempt == 0, case .failed(let why) = error, why.contains("not_leader"),
                      let leaderApi = client.lastErrorBody?["error"]?["leaderApi"]?.stringValue else { throw error }
                client = try NodeClient(leaderApi)
            }
        }
    }
}
