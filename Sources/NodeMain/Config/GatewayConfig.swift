import Chain
import FoundationEssentials
import Membership

/// Loads the gateway's bounds from config.toml's `[gateway]` section (nodes skip the section).
/// Each key is range-checked; an unknown key or a value out of range names file, line and key.
enum GatewayConfig {
    /// Keys of `[gateway]`, with the range each accepts and where it goes.
    static let intKeys: [(key: String, range: ClosedRange<Int>, set: @Sendable (inout GatewaySettings, Int) -> Void)] = [
        ("discover_interval_ms", 50...60_000, { $0.discoverIntervalMs = $1 }),
        ("discover_timeout_ms", 50...60_000, { $0.discoverTimeoutMs = $1 }),
        ("max_nodes", 1...4_096, { $0.maxNodes = $1 }),
        ("max_connections", 1...1_000_000, { $0.maxConnections = $1 }),
        ("max_connections_per_address", 1...1_000_000, { $0.maxConnectionsPerAddress = $1 }),
        ("max_body_bytes", 1_024...(256 << 20), { $0.maxBodyBytes = $1 }),
        ("max_response_bytes", 1_024...(1 << 30), { $0.maxResponseBytes = $1 }),
        ("max_in_flight", 1...100_000, { $0.maxInFlight = $1 }),
        ("request_timeout_ms", 100...600_000, { $0.requestTimeoutMs = $1 }),
        ("connect_timeout_ms", 50...600_000, { $0.connectTimeoutMs = $1 }),
        ("max_attempts", 1...16, { $0.maxAttempts = $1 }),
        ("failure_cooldown_ms", 0...600_000, { $0.failureCooldownMs = $1 }),
        ("max_idle_connections_per_node", 0...10_000, { $0.maxIdleConnectionsPerNode = $1 }),
        ("max_pipeline_depth", 1...1_024, { $0.maxPipelineDepth = $1 }),
    ]

    static func load(file: String?) throws(CLIError) -> GatewaySettings {
        var s = GatewaySettings()
        guard let file else { return s }
        do {
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                throw CLIError.usage("cannot read configuration file \(file)")
            }
            let root = try TOML.parse(text, file: ConfigLoader.fileName(file))
            guard let g = try root.table("gateway") else { return s }
            try g.rejectUnknownKeys(known: Set(intKeys.map(\.key)).union(["addr"]))
            if let v = try g.string("addr") { s.addr = v }
            for entry in intKeys {
                if let v = try g.int(entry.key) { entry.set(&s, try RegistryConfig.range(g, entry.key, v, entry.range)) }
            }
        } catch {
            throw RegistryConfig.cliError(error)
        }
        return s
    }
}
