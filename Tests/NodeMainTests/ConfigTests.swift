import Chain
import Foundation
import Membership
import NodeCore
import Testing
@testable import NodeMain

@Suite("Config") struct ConfigTests {
    func write(_ text: String) -> String {
        let path = TestDirs.make("config") + "/config.toml"
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func flags(_ args: [String] = []) throws -> ParsedArguments { try NodeCommand.spec.parse(args) }

    func load(_ text: String, env: [String: String] = [:], args: [String] = []) throws(CLIError) -> NodeSettings {
        let path = write(text)
        let parsed: ParsedArguments
        do { parsed = try flags(args) } catch { throw .usage("\(error)") }
        return try ConfigLoader.load(file: path, environment: env, flags: parsed)
    }

    func reason(_ body: () throws -> Void) -> String {
        do { try body() } catch let e as CLIError {
            if case .usage(let r) = e { return r }
            return "\(e)"
        } catch { return "\(error)" }
        return "(no error)"
    }

    /// Messages name a configuration file by its last path component, as `NSString` did.
    @Test func configurationFilesAreNamedByTheirLastPathComponent() {
        for path in ["/etc/autochain/node.toml", "node.toml", "conf/", "/", "", "a//b.toml"] {
            #expect(ConfigLoader.fileName(path) == (path as NSString).lastPathComponent, "\(path)")
        }
    }

    /// `[registry] heartbeat_ms` is read by both sides: the registry detects failures against it
    /// and tells registering nodes that period; a bad value is refused with its key.
    @Test func registryHeartbeatPeriodReachesTheFailureDetector() throws {
        let s = try RegistryConfig.load(file: write("[registry]\nheartbeat_ms = 2000\n"), environment: [:])
        #expect(s.heartbeatIntervalMs == 2000)
        #expect(s.detector.heartbeatIntervalS == 2.0)
        #expect(s.detector.suspectAfterS == 6.0)
        let why = reason { _ = try RegistryConfig.load(file: write("[registry]\nheartbeat_ms = 5\n"), environment: [:]) }
        #expect(why.contains("heartbeat_ms"), "\(why)")
    }

    /// The registry's trust limits are read from `[registry]`, range-checked, and config.toml's
    /// values are the built-in defaults.
    @Test func registryTrustLimitsAreReadAndRangeChecked() throws {
        let s = try RegistryConfig.load(file: write("[registry]\nmax_node_slots = 5\nsigned_clock_skew_s = 7\nretired_data_keep_s = 60\n"),
                                        environment: [:])
        #expect(s.maxNodes == 5 && s.signedClockSkewS == 7 && s.retiredDataKeepS == 60)
        for bad in ["max_node_slots = 0", "signed_clock_skew_s = 0", "retired_data_keep_s = -1", "max_node_slots = 99999999999"] {
            let why = reason { _ = try RegistryConfig.load(file: write("[registry]\n\(bad)\n"), environment: [:]) }
            #expect(why.contains(String(bad.prefix { $0 != " " })), "\(bad): \(why)")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let committed = try RegistryConfig.load(file: root.appendingPathComponent("config.toml").path, environment: [:])
        let d = RegistrySettings()
        #expect(committed.maxNodes == d.maxNodes && committed.signedClockSkewS == d.signedClockSkewS
                && committed.retiredDataKeepS == d.retiredDataKeepS)
    }

    /// The dashboard's series bounds are read from `[registry]`, range-checked, and config.toml's
    /// values are the built-in defaults.
    @Test func registrySeriesBoundsAreReadAndRangeChecked() throws {
        let s = try RegistryConfig.load(file: write("[registry]\nseries_interval_s = 2\nseries_points = 30\nseries_max_marks = 40\n"),
                                        environment: [:])
        #expect(s.seriesIntervalS == 2 && s.seriesPoints == 30 && s.seriesMaxMarks == 40)
        for bad in ["series_interval_s = 0", "series_points = 9", "series_max_marks = 100001"] {
            let why = reason { _ = try RegistryConfig.load(file: write("[registry]\n\(bad)\n"), environment: [:]) }
            #expect(why.contains(String(bad.prefix { $0 != " " })), "\(bad): \(why)")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let committed = try RegistryConfig.load(file: root.appendingPathComponent("config.toml").path, environment: [:])
        let d = RegistrySettings()
        #expect(committed.seriesIntervalS == d.seriesIntervalS && committed.seriesPoints == d.seriesPoints
                && committed.seriesMaxMarks == d.seriesMaxMarks)
    }

    /// The registry's timeouts and event intervals are read from `[registry]`, range-checked, reach
    /// the core, and config.toml's commented lines give the built-in defaults.
    @Test func registryTimeoutsAreReadRangeCheckedAndReachTheCore() throws {
        let keys = ["in_flight_timeout_s", "retire_removal_wait_s", "evidence_event_interval_s", "node_call_timeout_ms",
                    "chain_fetch_timeout_ms"]
        let s = try RegistryConfig.load(file: write("[registry]\nin_flight_timeout_s = 7\nretire_removal_wait_s = 3\n"
                                                    + "evidence_event_interval_s = 0\nnode_call_timeout_ms = 900\nchain_fetch_timeout_ms = 800\n"),
                                        environment: [:])
        #expect(s.inFlightTimeoutS == 7 && s.retireRemovalWaitS == 3 && s.evidenceEventIntervalS == 0)
        #expect(s.nodeCallTimeoutMs == 900 && s.chainFetchTimeoutMs == 800)
        let core = s.coreSettings
        #expect(core.inFlightTimeoutS == 7 && core.retireRemovalWaitS == 3 && core.evidenceEventIntervalS == 0)
        for bad in ["in_flight_timeout_s = 0", "retire_removal_wait_s = 3601", "evidence_event_interval_s = -1",
                    "node_call_timeout_ms = 99", "chain_fetch_timeout_ms = 600001"] {
            let why = reason { _ = try RegistryConfig.load(file: write("[registry]\n\(bad)\n"), environment: [:]) }
            #expect(why.contains(String(bad.prefix { $0 != " " })), "\(bad): \(why)")
        }
        let uncommented = try committedConfigUncommenting(keys)
        #expect(keys.allSatisfy { key in uncommented.contains("\n\(key) = ") }, "each key has its commented line")
        let d = RegistrySettings()
        let t = try RegistryConfig.load(file: write(uncommented), environment: [:])
        #expect(t.inFlightTimeoutS == d.inFlightTimeoutS && t.retireRemovalWaitS == d.retireRemovalWaitS
                && t.evidenceEventIntervalS == d.evidenceEventIntervalS && t.nodeCallTimeoutMs == d.nodeCallTimeoutMs
                && t.chainFetchTimeoutMs == d.chainFetchTimeoutMs)
        #expect(d.coreSettings.inFlightTimeoutS == RegistryCore.Settings().inFlightTimeoutS
                && d.coreSettings.retireRemovalWaitS == RegistryCore.Settings().retireRemovalWaitS
                && d.coreSettings.evidenceEventIntervalS == RegistryCore.Settings().evidenceEventIntervalS)
    }

    /// `[gateway]` is read by the gateway only (nodes skip it), range-checked, and config.toml's
    /// values are the built-in defaults.
    @Test func gatewayBoundsAreReadRangeCheckedAndSkippedByNodes() throws {
        let s = try GatewayConfig.load(file: write("[gateway]\naddr = \"127.0.0.1:1\"\nmax_in_flight = 7\nmax_attempts = 2\n"))
        #expect(s.addr == "127.0.0.1:1" && s.maxInFlight == 7 && s.maxAttempts == 2)
        for bad in ["max_in_flight = 0", "max_attempts = 17", "request_timeout_ms = 5", "max_body_bytes = 1", "surprise = 1",
                    "discover_timeout_ms = 49"] {
            let why = reason { _ = try GatewayConfig.load(file: write("[gateway]\n\(bad)\n")) }
            #expect(why.contains(String(bad.prefix { $0 != " " })), "\(bad): \(why)")
        }
        _ = try load("[gateway]\nmax_in_flight = 7\n")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let committed = try GatewayConfig.load(file: root.appendingPathComponent("config.toml").path)
        let d = GatewaySettings()
        #expect(committed.addr == d.addr && committed.discoverIntervalMs == d.discoverIntervalMs && committed.maxNodes == d.maxNodes)
        #expect(committed.discoverTimeoutMs == d.discoverTimeoutMs)
        #expect(committed.maxConnections == d.maxConnections && committed.maxConnectionsPerAddress == d.maxConnectionsPerAddress)
        #expect(committed.maxBodyBytes == d.maxBodyBytes && committed.maxResponseBytes == d.maxResponseBytes)
        #expect(committed.maxInFlight == d.maxInFlight && committed.requestTimeoutMs == d.requestTimeoutMs)
        #expect(committed.maxAttempts == d.maxAttempts && committed.failureCooldownMs == d.failureCooldownMs)
        #expect(committed.maxIdleConnectionsPerNode == d.maxIdleConnectionsPerNode && committed.maxPipelineDepth == d.maxPipelineDepth)
    }

    @Test func committedConfigLoadsAndEqualsTheBuiltInDefaults() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let s = try ConfigLoader.load(file: root.appendingPathComponent("config.toml").path, environment: [:], flags: flags())
        let d = NodeSettings()
        #expect(s.node.id == d.node.id)
        #expect(s.api.addr == d.api.addr)
        #expect(s.consensus.blockIntervalMs == d.consensus.blockIntervalMs)
        #expect(s.consensus.maxBlockTxs == d.consensus.maxBlockTxs)
        #expect(s.mempool.maxTxs == d.mempool.maxTxs)
        #expect(s.api.maxQueuedRequests == d.api.maxQueuedRequests)
        #expect(s.api.maxConnectionsPerAddress == d.api.maxConnectionsPerAddress)
        #expect(s.api.maxBodyBytesInFlight == d.api.maxBodyBytesInFlight)
        #expect(s.p2p.maxHandshakesPerAddress == d.p2p.maxHandshakesPerAddress)
        #expect(s.p2p.maxPreAuthBytes == d.p2p.maxPreAuthBytes)
        #expect(s.p2p.maxPendingPeerRequests == d.p2p.maxPendingPeerRequests)
        #expect(s.genesis.block().hash == GenesisSpec.development.block().hash, "config.toml's genesis is the development genesis")
    }

    /// The runtime's timings (`[p2p] join_retry_ms`, `[consensus] stop_transfer_wait_ms`,
    /// `[mempool] eviction_interval_ms`) are read from the file and reach the runtime core.
    @Test func runtimeTimingsAreReadAndReachTheCore() throws {
        let s = try load("[p2p]\njoin_retry_ms = 2500\n[consensus]\nstop_transfer_wait_ms = 100\n[mempool]\neviction_interval_ms = 250\n")
        #expect(s.p2p.joinRetryMs == 2_500 && s.consensus.stopTransferWaitMs == 100 && s.mempool.evictionIntervalMs == 250)
        let core = RuntimeCoreSettings(node: s)
        #expect(core.joinRetryMs == 2_500 && core.mempoolEvictionIntervalMs == 250)
    }

    /// `[consensus] leader_link_closed_election_min_ms` / `_max_ms` are read and reach the runtime
    /// core; config.toml gives the built-in defaults (10 and 210 ms), also the core's own.
    @Test func leaderLinkElectionDelayIsReadAndReachesTheCore() throws {
        let s = try load("[consensus]\nleader_link_closed_election_min_ms = 0\nleader_link_closed_election_max_ms = 40\n")
        let core = RuntimeCoreSettings(node: s)
        #expect(core.leaderLinkClosedElectionMinMs == 0 && core.leaderLinkClosedElectionMaxMs == 40)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let committed = try ConfigLoader.load(file: root.appendingPathComponent("config.toml").path, environment: [:], flags: flags())
        let d = NodeSettings()
        #expect(committed.consensus.leaderLinkClosedElectionMinMs == d.consensus.leaderLinkClosedElectionMinMs)
        #expect(committed.consensus.leaderLinkClosedElectionMaxMs == d.consensus.leaderLinkClosedElectionMaxMs)
        let bare = RuntimeCoreSettings(nodeId: "n", blockIntervalMs: 1, maxBlockTxs: 1, maxInflightBlocks: 1, voters: 1,
                                       promotionStabilizationMs: 0, electionTimeoutMs: 1, syncRequestTimeoutMs: 1,
                                       syncIgnorePeerMs: 0, mempoolFutureTtlS: 1)
        #expect((d.consensus.leaderLinkClosedElectionMinMs, d.consensus.leaderLinkClosedElectionMaxMs) == (10, 210))
        #expect(RuntimeCoreSettings(node: d).leaderLinkClosedElectionMaxMs == bare.leaderLinkClosedElectionMaxMs)
        #expect(RuntimeCoreSettings(node: d).leaderLinkClosedElectionMinMs == bare.leaderLinkClosedElectionMinMs)
    }

    /// The delay range out of bounds, empty, or not below the election timeout is a config error
    /// naming its key.
    @Test func badLeaderLinkElectionDelaysAreConfigErrors() {
        let key = "consensus.leader_link_closed_election_"
        for (bad, named) in [("min_ms = -1", "min_ms"), ("min_ms = 60001", "min_ms"), ("max_ms = 0", "max_ms"),
                             ("min_ms = 50\nleader_link_closed_election_max_ms = 50", "max_ms"),
                             ("max_ms = 1000", "max_ms"), ("max_ms = \"50ms\"", "max_ms")] {
            let why = reason { _ = try load("[consensus]\nleader_link_closed_election_\(bad)\n") }
            #expect(why.contains(key + named), "\(bad): \(why)")
        }
    }

    /// A runtime timing out of its range, or not an integer, is a config error naming its key.
    @Test func badRuntimeTimingsAreConfigErrors() {
        for (section, bad) in [("p2p", "join_retry_ms = 99"), ("p2p", "join_retry_ms = 60001"), ("p2p", "join_retry_ms = \"1s\""),
                               ("consensus", "stop_transfer_wait_ms = 0"), ("consensus", "stop_transfer_wait_ms = 600001"),
                               ("mempool", "eviction_interval_ms = 9"), ("mempool", "eviction_interval_ms = 99999999999999")] {
            let why = reason { _ = try load("[\(section)]\n\(bad)\n") }
            #expect(why.contains("\(section).\(bad.prefix { $0 != " " })"), "\(bad): \(why)")
        }
    }

    /// config.toml's commented lines for the runtime timings give the built-in defaults, and the
    /// runtime core's own defaults (for tests and simulators) are the same.
    @Test func runtimeTimingDefaultsAreConfigTomlsAndTheCores() throws {
        let keys = ["join_retry_ms", "stop_transfer_wait_ms", "eviction_interval_ms"]
        let uncommented = try committedConfigUncommenting(keys)
        #expect(keys.allSatisfy { key in uncommented.contains("\n\(key) = ") }, "each key has its commented line")
        let t = try load(uncommented)
        let d = NodeSettings()
        #expect(t.p2p.joinRetryMs == d.p2p.joinRetryMs && t.consensus.stopTransferWaitMs == d.consensus.stopTransferWaitMs
                && t.mempool.evictionIntervalMs == d.mempool.evictionIntervalMs)
        let node = RuntimeCoreSettings(node: d)
        let bare = RuntimeCoreSettings(nodeId: "n", blockIntervalMs: 1, maxBlockTxs: 1, maxInflightBlocks: 1, voters: 1,
                                       promotionStabilizationMs: 0, electionTimeoutMs: 1, syncRequestTimeoutMs: 1,
                                       syncIgnorePeerMs: 0, mempoolFutureTtlS: 1)
        #expect(node.joinRetryMs == bare.joinRetryMs && node.mempoolEvictionIntervalMs == bare.mempoolEvictionIntervalMs)
    }

    @Test func environmentOverridesFileAndFlagsOverrideBoth() throws {
        let text = "[node]\nid = \"from-file\"\ndata_dir = \"/tmp/a\"\n"
        let s1 = try load(text, env: ["NODE_ID": "from-env"])
        #expect(s1.node.id == "from-env")
        #expect(s1.node.dataDir == "/tmp/a")
        let s2 = try load(text, env: ["NODE_ID": "from-env"], args: ["--node-id", "from-flag"])
        #expect(s2.node.id == "from-flag")
    }

    @Test func wrongTypeNamesFileLineAndKey() {
        let r = reason { _ = try load("[node]\nid = \"n\"\n\n[api]\nthreads = \"two\"\n") }
        #expect(r.contains("config.toml:5"), "\(r)")
        #expect(r.contains("api.threads"), "\(r)")
        #expect(r.contains("expected integer"), "\(r)")
    }

    @Test func unknownKeyNamesFileLineAndKey() {
        let r = reason { _ = try load("[consensus]\nheartbeat_ms = 100\nelection_timout_ms = 5\n") }
        #expect(r.contains("config.toml:3"), "\(r)")
        #expect(r.contains("consensus.election_timout_ms"), "\(r)")
        #expect(r.contains("unknown key"), "\(r)")
    }

    @Test func outOfRangeValueIsRefused() {
        let r = reason { _ = try load("[consensus]\nmax_block_txs = 0\n") }
        #expect(r.contains("consensus.max_block_txs") && r.contains("between"), "\(r)")
    }

    /// Regression: `--node-id Node1` passed the old check (letters of any case) and then trapped
    /// in the peer layer, which holds the one grammar. Every source of a bad ID is a ConfigError.
    @Test func nodeIdOutsideTheGrammarIsAConfigError() {
        for bad in ["Node1", "n_1", "-a", "a.b", "é", String(repeating: "a", count: 64), ""] {
            let r = reason { _ = try load("", args: ["--node-id", bad]) }
            #expect(r.contains("node.id"), "\(bad.debugDescription): \(r)")
            guard !bad.isEmpty else { continue }  // an empty variable counts as unset
            let e = reason { _ = try load("", env: ["NODE_ID": bad]) }
            #expect(e.contains("node.id"), "\(bad.debugDescription): \(e)")
        }
        #expect(reason { _ = try load("", args: ["--node-id", "n-1"]) } == "(no error)")
    }

    @Test func tooManyStaticPeersIsAConfigError() {
        let peers = (0..<1_001).map { "127.0.0.1:\($0 + 1)" }.joined(separator: ",")
        let r = reason { _ = try load("", args: ["--peers", peers]) }
        #expect(r.contains("p2p.peers"), "\(r)")
    }

    @Test func syntaxErrorNamesLine() {
        let r = reason { _ = try load("[api]\naddr = \"127.0.0.1:1\n") }
        #expect(r.contains("config.toml:2"), "\(r)")
    }

    @Test func badEnvironmentValueNamesTheVariable() {
        let r = reason { _ = try load("", env: ["LOG_LEVEL": "loud"]) }
        #expect(r.contains("loud"), "\(r)")
    }

    @Test func badGenesisIsRefused() {
        let r = reason { _ = try load("[genesis]\nallocations = [{ address = \"0x12\", balance = 5 }]\n") }
        #expect(r.contains("genesis.allocations[0].address"), "\(r)")
        let r2 = reason { _ = try load("[genesis]\nallocations = [{ address = \"0x01df5e5600306eabcf9afef2d216a293324ef9f2\", balance = 9007199254740992 }]\n") }
        #expect(r2.contains("genesis"), "\(r2)")
    }

    /// "normal" and "off" may lose acknowledged commits on power loss: only an explicit unsafe
    /// flag (benchmarks) lets a node run so.
    @Test func weakSynchronousIsRefusedWithoutTheUnsafeFlag() throws {
        for mode in ["normal", "off"] {
            let r = reason { _ = try load("[storage]\nsynchronous = \"\(mode)\"\n") }
            #expect(r.contains("storage.synchronous") && r.contains("allow_unsafe_synchronous"), "\(r)")
            let s = try load("[storage]\nsynchronous = \"\(mode)\"\nallow_unsafe_synchronous = true\n")
            #expect(s.storage.synchronous.rawValue == mode.uppercased())
        }
        #expect(try load("[storage]\nsynchronous = \"full\"\n").storage.synchronous == .full)
    }

    /// Block sync verifies every synced transfer unless told to trust leader-signed blocks
    /// (file or `SYNC_TRANSFER_SIGNATURES`); anything else is refused with the key.
    @Test func syncTransferSignaturesDefaultsToVerify_andTrustIsChosenByName() throws {
        #expect(NodeSettings().p2p.syncTransferSignatures == .verify)
        #expect(RuntimeCoreSettings(node: NodeSettings()).syncTransferSignatures == .verify)
        let trusting = try load("[p2p]\nsync_transfer_signatures = \"trust_leader_signed\"\n")
        #expect(trusting.p2p.syncTransferSignatures == .trustLeaderSigned)
        #expect(RuntimeCoreSettings(node: trusting).syncTransferSignatures == .trustLeaderSigned)
        #expect(try load("", env: ["SYNC_TRANSFER_SIGNATURES": "trust_leader_signed"]).p2p.syncTransferSignatures == .trustLeaderSigned)
        let r = reason { _ = try load("[p2p]\nsync_transfer_signatures = \"trust\"\n") }
        #expect(r.contains("p2p.sync_transfer_signatures") && r.contains("trust_leader_signed"), "\(r)")
    }

    /// Followers verify every replicated transfer unless told to trust blocks their term's leader
    /// signed (file or `REPLICATED_TRANSFER_SIGNATURES`); anything else is refused with the key.
    @Test func replicatedTransferSignaturesDefaultsToVerify_andTrustIsChosenByName() throws {
        #expect(NodeSettings().consensus.replicatedTransferSignatures == .verify)
        #expect(RuntimeCoreSettings(node: NodeSettings()).replicatedTransferSignatures == .verify)
        let trusting = try load("[consensus]\nreplicated_transfer_signatures = \"trust_leader_signed\"\n")
        #expect(trusting.consensus.replicatedTransferSignatures == .trustLeaderSigned)
        #expect(RuntimeCoreSettings(node: trusting).replicatedTransferSignatures == .trustLeaderSigned)
        #expect(trusting.p2p.syncTransferSignatures == .verify, "block sync keeps its own setting")
        #expect(try load("", env: ["REPLICATED_TRANSFER_SIGNATURES": "trust_leader_signed"]).consensus.replicatedTransferSignatures
                == .trustLeaderSigned)
        let r = reason { _ = try load("[consensus]\nreplicated_transfer_signatures = \"trust\"\n") }
        #expect(r.contains("consensus.replicated_transfer_signatures") && r.contains("trust_leader_signed"), "\(r)")
    }

    @Test func storageCheckSettingsComeFromTheFile() throws {
        let s = try load("[storage]\ncheck_tail_blocks = 5\ncheck_budget_ms = 0\n")
        #expect(s.storage.check == StoreCheckSettings(tailBlocks: 5, quickCheckBudgetMs: 0))
        #expect(NodeSettings().storage.check == StoreCheckSettings(tailBlocks: 64, quickCheckBudgetMs: 10_000))
    }

    @Test func unknownFlagIsAUsageError() {
        #expect(throws: CLIError.self) { try NodeCommand.spec.parse(["--nope"]) }
    }
}

@Suite("Route") struct RouteTests {
    @Test func matchesEveryRouteAndMethod() {
        #expect(Route.match(method: "GET", path: "/chain/head") == .chainHead)
        #expect(Route.match(method: "HEAD", path: "/chain/head") == .chainHead)
        #expect(Route.match(method: "GET", path: "/block/7") == .block("7"))
        #expect(Route.match(method: "GET", path: "/block/hash/0xab") == .blockByHash("0xab"))
        #expect(Route.match(method: "GET", path: "/tx/0xab") == .tx("0xab"))
        #expect(Route.match(method: "GET", path: "/balance/0xab") == .balance("0xab"))
        #expect(Route.match(method: "POST", path: "/submit-tx") == .submitTx)
        #expect(Route.match(method: "POST", path: "/submit-txs") == .submitTxs)
        #expect(Route.match(method: "GET", path: "/metrics") == .metrics)
        #expect(Route.match(method: "GET", path: "/health/live") == .healthLive)
        #expect(Route.match(method: "GET", path: "/health/ready") == .healthReady)
    }

    @Test func wrongMethodNamesTheAllowedOnes() {
        #expect(Route.match(method: "GET", path: "/submit-tx") == .methodNotAllowed(allowed: "POST"))
        #expect(Route.match(method: "PUT", path: "/status") == .methodNotAllowed(allowed: "GET, HEAD"))
    }

    @Test func unknownPathsAreNotFound() {
        for p in ["/", "", "/chain", "/chain/head/x", "/block/", "/block/hash", "/block/hash/", "/a/b/c/d", "//", "/tx/"] {
            #expect(Route.match(method: "GET", path: p) == .notFound, "\(p)")
        }
    }
}

/// The repository's config.toml with the commented default lines of `keys` (`# key = value`)
/// made live, so a test can load the defaults the file documents.
private func committedConfigUncommenting(_ keys: [String]) throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let committed = try String(contentsOf: root.appendingPathComponent("config.toml"), encoding: .utf8)
    return committed.split(separator: "\n", omittingEmptySubsequences: false).map { line in
        keys.contains { line.hasPrefix("# \($0) = ") } ? String(line.dropFirst(2)) : String(line)
    }.joined(separator: "\n")
}
