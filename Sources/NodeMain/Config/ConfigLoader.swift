import Chain
import FoundationEssentials

/// Where a setting came from, so an error can point at it.
enum ConfigOrigin: CustomStringConvertible, Sendable {
    case file(String, line: Int)
    case environment(String)
    case flag(String)

    var description: String {
        switch self {
        case .file(let f, let line): "\(f):\(line)"
        case .environment(let name): "environment variable \(name)"
        case .flag(let name): "flag --\(name)"
        }
    }
}

/// A raw setting value before it is checked against the key's expected type.
enum ConfigValue: Sendable {
    case string(String), int(Int64), double(Double), bool(Bool), array([ConfigValue]), table([(String, ConfigValue)])

    var typeName: String {
        switch self {
        case .string: "string"
        case .int: "integer"
        case .double: "float"
        case .bool: "boolean"
        case .array: "array"
        case .table: "table"
        }
    }
}

/// A bad setting, naming the file and line (or variable, or flag) and the key.
struct ConfigError: Error, CustomStringConvertible {
    let origin: ConfigOrigin
    let key: String
    let message: String
    var description: String { "\(origin): key '\(key)': \(message)" }
}

/// Loads `NodeSettings`: built-in defaults, then the TOML file, then environment variables, then
/// flags — each later source overrides the earlier. Unknown keys in the file are errors.
enum ConfigLoader {
    static func load(file: String?, environment: [String: String], flags: ParsedArguments) throws(CLIError) -> NodeSettings {
        var settings = NodeSettings()
        do {
            if let file {
                for entry in try readFile(file) {
                    // The registry's and the gateway's own keys share the file; they check them.
                    if entry.path.hasPrefix("autoscale.") || entry.path.hasPrefix("docker.") || entry.path.hasPrefix("gateway.")
                        || RegistryConfig.registrySideKeys.contains(entry.path) { continue }
                    guard let key = ConfigKeys.byPath[entry.path] else {
                        throw ConfigError(origin: entry.origin, key: entry.path, message: "unknown key (see config.toml for the keys there are)")
                    }
                    try key.apply(&settings, entry.value, entry.origin)
                }
            }
            for key in ConfigKeys.all {
                if let env = key.env, let raw = environment[env], !raw.isEmpty {
                    try key.apply(&settings, try key.parseText(raw, .environment(env)), .environment(env))
                }
            }
            for key in ConfigKeys.all {
                if let flag = key.flag, let raw = flags.string(flag) {
                    try key.apply(&settings, try key.parseText(raw, .flag(flag)), .flag(flag))
                }
            }
            if let level = flags.values["log-level"] ?? environment["LOG_LEVEL"].flatMap({ $0.isEmpty ? nil : $0 }) {
                settings.node.logLevel = level
            }
            try validate(settings)
            Logger.level = try LogLevel(parsing: settings.node.logLevel)
        } catch let e as ConfigError {
            throw .usage(e.description)
        } catch let e as CLIError {
            throw e
        } catch {
            throw .usage("\(error)")
        }
        return settings
    }

    struct Entry {
        let path: String
        let value: ConfigValue
        let origin: ConfigOrigin
    }

    static func readFile(_ path: String) throws -> [Entry] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError.usage("cannot read configuration file \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIError.usage("configuration file \(path) is not UTF-8")
        }
        let table = try TOML.parse(text, file: fileName(path))
        return flatten(table, file: fileName(path))
    }

    /// The last part of `path`, as messages name a configuration file: "/etc/a/node.toml" →
    /// "node.toml", "conf/" → "conf", "/" → "/" (what `NSString.lastPathComponent` gave).
    static func fileName(_ path: String) -> String {
        let parts = path.split(separator: "/")
        guard let last = parts.last else { return path.hasPrefix("/") ? "/" : "" }
        return String(last)
    }

    /// Most static peer addresses (`p2p.peers`, PEERS, --peers); a cluster lists a handful.
    static let maxStaticPeers = 1_000

    static func validate(_ s: NodeSettings) throws {
        func check(_ ok: Bool, _ key: String, _ message: String) throws {
            if !ok { throw ConfigError(origin: .flag("(final settings)"), key: key, message: message) }
        }
        try check(NodeIDGrammar.isValid(s.node.id), "node.id", "must match \(NodeIDGrammar.pattern), got '\(s.node.id.prefix(80))'")
        try check(s.p2p.peers.count <= Self.maxStaticPeers, "p2p.peers", "at most \(Self.maxStaticPeers) addresses, got \(s.p2p.peers.count)")
        try check(s.api.maxBodyBytesInFlight >= max(s.api.maxBodyBytes, s.api.maxBatchBodyBytes), "api.max_body_bytes_in_flight",
                  "must hold at least one largest body (max_body_bytes and max_batch_body_bytes)")
        try check(s.consensus.heartbeatMs >= 10, "consensus.heartbeat_ms", "must be at least 10")
        try check(s.consensus.electionTimeoutMs >= 2 * s.consensus.heartbeatMs, "consensus.election_timeout_ms",
                  "must be at least twice consensus.heartbeat_ms")
        try check(s.consensus.leaderLinkClosedElectionMaxMs > s.consensus.leaderLinkClosedElectionMinMs,
                  "consensus.leader_link_closed_election_max_ms", "must exceed consensus.leader_link_closed_election_min_ms")
        try check(s.consensus.leaderLinkClosedElectionMaxMs < s.consensus.electionTimeoutMs,
                  "consensus.leader_link_closed_election_max_ms", "must be below consensus.election_timeout_ms")
        try check(s.storage.synchronous == .full || s.storage.allowUnsafeSynchronous, "storage.synchronous",
                  "\"\(s.storage.synchronous.rawValue.lowercased())\" can lose acknowledged commits on power loss; "
                  + "use \"full\", or set [storage] allow_unsafe_synchronous = true to run so anyway (benchmarks only)")
        do { try s.genesis.validate() } catch {
            throw ConfigError(origin: .flag("(final settings)"), key: "genesis", message: "\(error)")
        }
    }
}

extension ConfigLoader {
    /// Every leaf key of the file as a dotted path ("api.addr") with its value and line; tables
    /// inside arrays stay values (`genesis.allocations` is an array of tables).
    static func flatten(_ table: TOMLTable, file: String) -> [Entry] {
        var out: [Entry] = []
        for (key, value) in table.entries {
            let path = table.keyPath(key)
            if case .table(let inner) = value.kind {
                out += flatten(inner, file: file)
            } else {
                out.append(Entry(path: path, value: convert(value), origin: .file(file, line: value.line)))
            }
        }
        return out
    }

    static func convert(_ v: TOMLValue) -> ConfigValue {
        switch v.kind {
        case .string(let s): .string(s)
        case .integer(let i): .int(i)
        case .float(let d): .double(d)
        case .boolean(let b): .bool(b)
        case .array(let items): .array(items.map(convert))
        case .table(let t): .table(t.entries.map { ($0.key, convert($0.value)) })
        }
    }
}
