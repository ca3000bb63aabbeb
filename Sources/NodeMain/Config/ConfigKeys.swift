import Chain
import FoundationEssentials
import Membership
import NodeCore

/// One configuration key: its path in config.toml, the environment variable and flag that
/// override it, and how a value is checked and stored.
struct ConfigKey: Sendable {
    let path: String
    let env: String?
    let flag: String?
    let apply: @Sendable (inout NodeSettings, ConfigValue, ConfigOrigin) throws -> Void
    /// How a string from the environment or a flag becomes a value of this key's type.
    let parseText: @Sendable (String, ConfigOrigin) throws -> ConfigValue
}

/// Every key the node understands. config.toml documents each, with the same defaults as
/// `NodeSettings`.
enum ConfigKeys {
    static let all: [ConfigKey] = [
        string("node.id", env: "NODE_ID", flag: "node-id") { $0.node.id = $1 },
        string("node.data_dir", env: "DATA_DIR", flag: "data-dir") { $0.node.dataDir = $1 },
        string("node.log_level", env: nil, flag: nil) { $0.node.logLevel = $1 },
        int("node.incarnation", 0...Int.max, env: Fencing.incarnationEnvironmentVariable) { $0.node.incarnation = UInt64($1) },
        string("api.addr", env: "API_ADDR", flag: "api-addr") { $0.api.addr = $1 },
        string("api.advertise", env: "API_ADVERTISE", flag: nil) { $0.api.advertise = $1 },
        int("api.max_body_bytes", 1_024...(64 << 20)) { $0.api.maxBodyBytes = $1 },
        int("api.max_batch_body_bytes", 1_024...(256 << 20)) { $0.api.maxBatchBodyBytes = $1 },
        int("api.max_batch_txs", 1...100_000) { $0.api.maxBatchTxs = $1 },
        int("api.commit_wait_ms", 1...600_000) { $0.api.commitWaitMs = $1 },
        int("api.leader_wait_ms", 1...600_000) { $0.api.leaderWaitMs = $1 },
        int("api.forward_timeout_ms", 1...600_000) { $0.api.forwardTimeoutMs = $1 },
        int("api.max_forwards_in_flight", 1...1_000_000) { $0.api.maxForwardsInFlight = $1 },
        int("api.threads", 1...64) { $0.api.threads = $1 },
        int("api.max_queued_requests", 1...1_000_000) { $0.api.maxQueuedRequests = $1 },
        int("api.max_connections_per_address", 1...1_000_000) { $0.api.maxConnectionsPerAddress = $1 },
        int("api.max_body_bytes_in_flight", 1_024...(64 << 30)) { $0.api.maxBodyBytesInFlight = $1 },
        string("p2p.addr", env: "P2P_ADDR", flag: "p2p-addr") { $0.p2p.addr = $1 },
        stringList("p2p.peers", env: "PEERS", flag: "peers") { $0.p2p.peers = $1 },
        string("p2p.advertise", env: "P2P_ADVERTISE", flag: nil) { $0.p2p.advertise = $1 },
        bool("p2p.join", env: "JOIN", flag: nil) { $0.p2p.join = $1 },
        string("p2p.cluster_token", env: "AUTOCHAIN_CLUSTER_TOKEN", flag: nil) { $0.p2p.clusterToken = $1 },
        int("p2p.max_handshakes_per_address", 1...100_000) { $0.p2p.maxHandshakesPerAddress = $1 },
        int("p2p.max_pre_auth_bytes", 64...(16 << 20)) { $0.p2p.maxPreAuthBytes = $1 },
        int("p2p.max_pending_peer_requests", 1...100_000) { $0.p2p.maxPendingPeerRequests = $1 },
        int("p2p.max_pending_requests_per_peer", 1...100_000) { $0.p2p.maxPendingRequestsPerPeer = $1 },
        int("p2p.max_queued_raft_per_peer", 1...1_000_000) { $0.p2p.maxQueuedRaftPerPeer = $1 },
        int("p2p.max_known_addresses", 1...100_000) { $0.p2p.maxKnownAddresses = $1 },
        int("p2p.join_only_timeout_ms", 100...86_400_000) { $0.p2p.joinOnlyTimeoutMs = $1 },
        int("p2p.min_join_interval_ms", 0...3_600_000) { $0.p2p.minJoinIntervalMs = $1 },
        int("p2p.sync_request_timeout_ms", 100...600_000) { $0.p2p.syncRequestTimeoutMs = $1 },
        int("p2p.sync_ignore_peer_ms", 0...86_400_000) { $0.p2p.syncIgnorePeerMs = $1 },
        string("p2p.sync_transfer_signatures", env: "SYNC_TRANSFER_SIGNATURES", flag: nil) { s, v, origin in
            guard let mode = SyncTransferSignatures(rawValue: v) else {
                let allowed = SyncTransferSignatures.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
                throw ConfigError(origin: origin, key: "p2p.sync_transfer_signatures", message: "expected \(allowed), got \"\(v.prefix(64))\"")
            }
            s.p2p.syncTransferSignatures = mode
        },
        int("p2p.max_forwarded_txs_per_peer", 1...10_000_000) { $0.p2p.maxForwardedTxsPerPeer = $1 },
        int("p2p.join_retry_ms", 100...60_000) { $0.p2p.joinRetryMs = $1 },
        int("consensus.promotion_stabilization_ms", 0...600_000) { $0.consensus.promotionStabilizationMs = $1 },
        stringList("registry.urls", env: "REGISTRY_URL", flag: "registry") { $0.registry.urls = $1 },
        string("registry.strategy", env: "REGISTRY_STRATEGY", flag: nil) { s, v, origin in
            guard RegistryStrategy(rawValue: v) != nil else {
                throw ConfigError(origin: origin, key: "registry.strategy", message: "expected round_robin, least_loaded, priority or random, got \"\(v)\"")
            }
            s.registry.strategy = v
        },
        int("registry.heartbeat_ms", RegistrySettings.heartbeatIntervalMsRange) { $0.registry.heartbeatMs = $1 },
        int("consensus.heartbeat_ms", 10...10_000) { $0.consensus.heartbeatMs = $1 },
        int("consensus.election_timeout_ms", 20...120_000) { $0.consensus.electionTimeoutMs = $1 },
        int("consensus.leader_link_closed_election_min_ms", 0...60_000) { $0.consensus.leaderLinkClosedElectionMinMs = $1 },
        int("consensus.leader_link_closed_election_max_ms", 1...60_000) { $0.consensus.leaderLinkClosedElectionMaxMs = $1 },
        int("consensus.block_interval_ms", 1...60_000) { $0.consensus.blockIntervalMs = $1 },
        int("consensus.max_block_txs", 1...100_000) { $0.consensus.maxBlockTxs = $1 },
        int("consensus.max_inflight_blocks", 1...1_024) { $0.consensus.maxInflightBlocks = $1 },
        int("consensus.voters", 1...99) { $0.consensus.voters = $1 },
        int("consensus.stop_transfer_wait_ms", 100...600_000) { $0.consensus.stopTransferWaitMs = $1 },
        string("consensus.replicated_transfer_signatures", env: "REPLICATED_TRANSFER_SIGNATURES", flag: nil) { s, v, origin in
            guard let mode = ReplicatedTransferSignatures(rawValue: v) else {
                let allowed = ReplicatedTransferSignatures.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
                throw ConfigError(origin: origin, key: "consensus.replicated_transfer_signatures",
                                  message: "expected \(allowed), got \"\(v.prefix(64))\"")
            }
            s.consensus.replicatedTransferSignatures = mode
        },
        int("mempool.max_txs", 1...10_000_000) { $0.mempool.maxTxs = $1 },
        int("mempool.max_per_sender", 1...1_000_000) { $0.mempool.maxPerSender = $1 },
        int("mempool.future_nonce_window", 0...100_000) { $0.mempool.futureNonceWindow = UInt64($1) },
        int("mempool.future_ttl_s", 1...86_400) { $0.mempool.futureTtlS = $1 },
        int("mempool.eviction_interval_ms", 10...3_600_000) { $0.mempool.evictionIntervalMs = $1 },
        string("storage.synchronous", env: nil, flag: nil) { s, v, origin in
            guard let mode = DatabaseOptions.Synchronous(rawValue: v.uppercased()) else {
                throw ConfigError(origin: origin, key: "storage.synchronous", message: "expected \"full\", \"normal\" or \"off\", got \"\(v)\"")
            }
            s.storage.synchronous = mode
        },
        bool("storage.allow_unsafe_synchronous", env: nil, flag: nil) { $0.storage.allowUnsafeSynchronous = $1 },
        int("storage.check_tail_blocks", 0...1_000_000) { $0.storage.check.tailBlocks = $1 },
        int("storage.check_budget_ms", 0...3_600_000) { $0.storage.check.quickCheckBudgetMs = $1 },
        string("genesis.chain_id", env: "CHAIN_ID", flag: nil) { $0.genesis.chainId = $1 },
        int("genesis.timestamp", 0...Int(Int64.max)) { $0.genesis.timestamp = UInt64($1) },
        ConfigKey(path: "genesis.allocations", env: nil, flag: nil, apply: { s, v, origin in
            s.genesis.allocations = try allocations(v, origin)
        }, parseText: { _, origin in
            throw ConfigError(origin: origin, key: "genesis.allocations", message: "can only be set in the configuration file")
        }),
    ]

    static let byPath: [String: ConfigKey] = Dictionary(uniqueKeysWithValues: all.map { ($0.path, $0) })

    static func string(_ path: String, env: String?, flag: String?,
                       _ set: @escaping @Sendable (inout NodeSettings, String, ConfigOrigin) throws -> Void) -> ConfigKey {
        ConfigKey(path: path, env: env, flag: flag, apply: { s, v, origin in
            guard case .string(let text) = v else { throw mismatch(path, v, "string", origin) }
            try set(&s, text, origin)
        }, parseText: { raw, _ in .string(raw) })
    }

    static func string(_ path: String, env: String?, flag: String?,
                       _ set: @escaping @Sendable (inout NodeSettings, String) -> Void) -> ConfigKey {
        string(path, env: env, flag: flag) { s, v, _ in set(&s, v) }
    }

    static func int(_ path: String, _ range: ClosedRange<Int>, env: String? = nil,
                    _ set: @escaping @Sendable (inout NodeSettings, Int) -> Void) -> ConfigKey {
        ConfigKey(path: path, env: env, flag: nil, apply: { s, v, origin in
            guard case .int(let n) = v else { throw mismatch(path, v, "integer", origin) }
            guard let i = Int(exactly: n), range.contains(i) else {
                throw ConfigError(origin: origin, key: path, message: "must be between \(range.lowerBound) and \(range.upperBound), got \(n)")
            }
            set(&s, i)
        }, parseText: { raw, origin in
            guard let n = Int64(raw.replacing("_", with: "")) else {
                throw ConfigError(origin: origin, key: path, message: "expected integer, got '\(raw)'")
            }
            return .int(n)
        })
    }

    static func bool(_ path: String, env: String?, flag: String?, _ set: @escaping @Sendable (inout NodeSettings, Bool) -> Void) -> ConfigKey {
        ConfigKey(path: path, env: env, flag: flag, apply: { s, v, origin in
            guard case .bool(let b) = v else { throw mismatch(path, v, "boolean", origin) }
            set(&s, b)
        }, parseText: { raw, origin in
            switch raw.lowercased() {
            case "true", "1", "yes": return .bool(true)
            case "false", "0", "no": return .bool(false)
            default: throw ConfigError(origin: origin, key: path, message: "expected true or false, got '\(raw)'")
            }
        })
    }

    static func stringList(_ path: String, env: String?, flag: String? = nil, _ set: @escaping @Sendable (inout NodeSettings, [String]) -> Void) -> ConfigKey {
        ConfigKey(path: path, env: env, flag: flag, apply: { s, v, origin in
            guard case .array(let items) = v else { throw mismatch(path, v, "array of strings", origin) }
            var out: [String] = []
            for item in items {
                guard case .string(let text) = item else { throw mismatch(path, item, "array of strings", origin) }
                out.append(text)
            }
            set(&s, out)
        }, parseText: { raw, _ in
            .array(raw.split(separator: ",").map { .string($0.trimmingWhitespace) })
        })
    }

    static func mismatch(_ path: String, _ v: ConfigValue, _ expected: String, _ origin: ConfigOrigin) -> ConfigError {
        ConfigError(origin: origin, key: path, message: "expected \(expected), got \(v.typeName)")
    }

    /// `allocations = [{ address = "0x…", balance = N }, ...]`
    static func allocations(_ v: ConfigValue, _ origin: ConfigOrigin) throws -> [(Address, UInt64)] {
        let key = "genesis.allocations"
        guard case .array(let items) = v else { throw mismatch(key, v, "array of { address, balance } tables", origin) }
        return try items.enumerated().map { i, item in
            guard case .table(let pairs) = item else { throw mismatch("\(key)[\(i)]", item, "table { address, balance }", origin) }
            var address: Address?
            var balance: UInt64?
            for (k, value) in pairs {
                switch (k, value) {
                case ("address", .string(let text)):
                    guard text.hasPrefix("0x"), let a = Address(hex: text) else {
                        throw ConfigError(origin: origin, key: "\(key)[\(i)].address", message: "must be 0x followed by 40 hex digits")
                    }
                    address = a
                case ("balance", .int(let n)) where n > 0:
                    balance = UInt64(n)
                default:
                    throw ConfigError(origin: origin, key: "\(key)[\(i)].\(k)", message: "unexpected key or value (\(value.typeName))")
                }
            }
            guard let address, let balance else {
                throw ConfigError(origin: origin, key: "\(key)[\(i)]", message: "needs address and a positive balance")
            }
            return (address, balance)
        }
    }
}
