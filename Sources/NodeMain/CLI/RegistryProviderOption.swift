import Chain
import FoundationEssentials
import Membership

/// `autochain registry --provider process|docker|swarm|none`: which provider spawns the nodes, and
/// its settings. Every option has an environment variable, so a container is configured by env alone.
enum RegistryProviderOption {
    /// What a provider is made from: the command line, the environment and the registry's settings.
    struct Context: Sendable {
        var parsed: ParsedArguments
        var environment: [String: String]
        var baseDir: String
        var configPath: String?
        var registryURL: String
        var clusterToken: String
        var logLevel: String
        /// Seconds a node gets to stop before it is killed (`[registry] node_stop_grace_s`).
        var nodeStopGraceS = NodeStopGrace.defaultS
    }

    /// One way of running nodes: its `--provider` name, what it is, and how it is made.
    struct Kind: Sendable {
        var name: String
        var help: String
        var make: @Sendable (Context) throws(CLIError) -> any NodeProvider
    }

    /// Every provider the registry can run, the default first. A new provider (docs/KUBERNETES.md)
    /// is one more conforming type in Membership/Providers and one more row here.
    static let kinds: [Kind] = [
        Kind(name: "process", help: "child processes, the default", make: makeProcess),
        Kind(name: "docker", help: "containers on one Docker engine", make: makeDocker),
        Kind(name: "swarm", help: "services on a Docker Swarm", make: makeSwarm),
        Kind(name: "none", help: "observe only", make: { _ in NoProvider() }),
    ]

    /// "process, docker, swarm or none".
    static var kindNames: String {
        let names = kinds.map(\.name)
        return names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + (names.last ?? "")
    }

    static let options: [CommandSpec.Option] = [
        .init(name: "provider", valueName: "NAME",
              help: kinds.map { "\($0.name) (\($0.help))" }.joined(separator: ", ") + " (env AUTOCHAIN_PROVIDER)"),
        .init(name: "docker-image", valueName: "IMAGE", help: "image of node containers (env DOCKER_IMAGE, default autochain:latest)"),
        .init(name: "docker-network", valueName: "NAME", help: "network node containers join (env DOCKER_NETWORK, default autochain)"),
        .init(name: "docker-cluster", valueName: "NAME", help: "label autochain.cluster of the containers it manages (env DOCKER_CLUSTER, default autochain)"),
        .init(name: "docker-socket", valueName: "PATH", help: "the engine's socket (env DOCKER_SOCKET, default /var/run/docker.sock)"),
        .init(name: "swarm-secret", valueName: "NAME", help: "swarm provider: the Swarm secret holding the cluster credential, mounted into each node (env SWARM_SECRET; default: none, the credential goes in the environment)"),
        .init(name: "swarm-spread-label", valueName: "LABEL", help: "swarm provider: the node label new nodes are spread over (env SWARM_SPREAD_LABEL, default zone)"),
        .init(name: "swarm-node-hosts", valueName: "any|workers", help: "swarm provider: the hosts ledger nodes go on; workers keeps them off the managers (env SWARM_NODE_HOSTS, default any)"),
        .init(name: "node-registry-url", valueName: "URL", help: "the registry URL as node containers reach it (env DOCKER_REGISTRY_URL, default http://registry:9090)"),
    ]

    /// At registry start: the process provider starts the nodes it has data for; Docker
    /// containers outlive the registry, so there is nothing to resume (the decide loop restarts
    /// dead ones after the grace period).
    /// Each resumed node is a start like any other: it carries a fresh incarnation (fencing).
    static func resume(_ provider: any NodeProvider, registry: RegistryService) -> [String] {
        (provider as? ProcessProvider)?.resumeAll(incarnation: registry.issueIncarnation(for:)) ?? []
    }

    /// At registry shutdown, whichever provider runs: child processes stop with it; containers,
    /// services and pods keep running (`NodeProvider.close`).
    static func shutdown(_ provider: any NodeProvider) {
        provider.close()
    }

    /// An option's value, else its environment variable's, else the default.
    static func value(_ parsed: ParsedArguments, _ env: [String: String], _ option: String, _ variable: String, _ fallback: String) -> String {
        if let v = parsed.string(option), !v.isEmpty { return v }
        if let v = env[variable], !v.isEmpty { return v }
        return fallback
    }

    static func make(_ parsed: ParsedArguments, environment env: [String: String], baseDir: String, configPath: String?,
                     registryURL: String, clusterToken: String, logLevel: String,
                     nodeStopGraceS: Int = NodeStopGrace.defaultS) throws(CLIError) -> any NodeProvider {
        let name = value(parsed, env, "provider", "AUTOCHAIN_PROVIDER", kinds[0].name)
        guard let kind = kinds.first(where: { $0.name == name }) else {
            throw .usage("--provider must be \(kindNames), got '\(name)'")
        }
        return try kind.make(Context(parsed: parsed, environment: env, baseDir: baseDir, configPath: configPath,
                                     registryURL: registryURL, clusterToken: clusterToken, logLevel: logLevel,
                                     nodeStopGraceS: nodeStopGraceS))
    }

    static func makeProcess(_ c: Context) -> any NodeProvider {
        // Absolute, so each node's command line names its own cluster's directory: an operator's
        // `pgrep -f "node-id node2 --data-dir $PWD/data/cluster/"` finds this cluster's node2 only.
        let absolute = c.baseDir.hasPrefix("/") ? c.baseDir : FileManager.default.currentDirectoryPath + "/" + c.baseDir
        return ProcessProvider(baseDir: absolute, binary: selfExecutablePath(), configPath: c.configPath,
                               registryURL: c.registryURL, clusterToken: c.clusterToken, logLevel: c.logLevel,
                               stopGraceS: c.nodeStopGraceS)
    }

    static func makeDocker(_ c: Context) throws(CLIError) -> any NodeProvider {
        let spec = try dockerNodeSpec(c)
        let engine = try DockerLimitsConfig.load(file: c.configPath, environment: c.environment).engineRequestTimeoutMs
        do { return try DockerProvider(spec: spec, socketPath: dockerSocket(c), requestTimeoutMs: engine) } catch { throw .failed("docker provider: \(error)") }
    }

    static func makeSwarm(_ c: Context) throws(CLIError) -> any NodeProvider {
        let hostsText = value(c.parsed, c.environment, "swarm-node-hosts", "SWARM_NODE_HOSTS", SwarmNodeHosts.any.rawValue)
        guard let nodeHosts = SwarmNodeHosts(rawValue: hostsText) else {
            throw .usage("--swarm-node-hosts (SWARM_NODE_HOSTS) must be any or workers, not \(hostsText)")
        }
        let swarm = SwarmNodeSpec(node: try dockerNodeSpec(c),
                                  secretName: value(c.parsed, c.environment, "swarm-secret", "SWARM_SECRET", ""),
                                  spreadLabel: value(c.parsed, c.environment, "swarm-spread-label", "SWARM_SPREAD_LABEL", "zone"),
                                  nodeHosts: nodeHosts)
        let engine = try DockerLimitsConfig.load(file: c.configPath, environment: c.environment).engineRequestTimeoutMs
        do { return try SwarmProvider(spec: swarm, socketPath: dockerSocket(c), requestTimeoutMs: engine) } catch { throw .failed("swarm provider: \(error)") }
    }

    static func dockerSocket(_ c: Context) -> String {
        value(c.parsed, c.environment, "docker-socket", "DOCKER_SOCKET", "/var/run/docker.sock")
    }

    /// The node containers' settings, shared by the Docker and Swarm providers. Node containers get
    /// their settings as environment variables; `CHAIN_ID` and `REGISTRY_STRATEGY` pass through.
    static func dockerNodeSpec(_ c: Context) throws(CLIError) -> DockerNodeSpec {
        let env = c.environment
        var passed: [String] = []
        for key in ["CHAIN_ID", "REGISTRY_STRATEGY"] {
            if let v = env[key], !v.isEmpty { passed.append(key + "=" + v) }
        }
        var spec = DockerNodeSpec()
        spec.cluster = value(c.parsed, env, "docker-cluster", "DOCKER_CLUSTER", "autochain")
        spec.image = value(c.parsed, env, "docker-image", "DOCKER_IMAGE", "autochain:latest")
        spec.network = value(c.parsed, env, "docker-network", "DOCKER_NETWORK", "autochain")
        spec.registryURL = value(c.parsed, env, "node-registry-url", "DOCKER_REGISTRY_URL", "http://registry:9090")
        spec.clusterToken = c.clusterToken
        spec.logLevel = c.logLevel
        spec.extraEnv = passed
        spec.stopTimeoutS = c.nodeStopGraceS
        spec.limits = try DockerLimitsConfig.load(file: c.configPath, environment: env).limits
        return spec
    }
}
