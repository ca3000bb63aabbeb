import Chain
import Foundation
import Membership

/// `autochain registry --provider process|docker|swarm`: which provider spawns the nodes, and its
/// settings. Every option has an environment variable, so a container is configured by env alone.
enum RegistryProviderOption {
    static let options: [CommandSpec.Option] = [
        .init(name: "provider", valueName: "NAME", help: "process (child processes, the default), docker, swarm (services on a Docker Swarm), or none (observe only) (env AUTOCHAIN_PROVIDER)"),
        .init(name: "docker-image", valueName: "IMAGE", help: "image of node containers (env DOCKER_IMAGE, default autochain:latest)"),
        .init(name: "docker-network", valueName: "NAME", help: "network node containers join (env DOCKER_NETWORK, default autochain)"),
        .init(name: "docker-cluster", valueName: "NAME", help: "label autochain.cluster of the containers it manages (env DOCKER_CLUSTER, default autochain)"),
        .init(name: "docker-socket", valueName: "PATH", help: "the engine's socket (env DOCKER_SOCKET, default /var/run/docker.sock)"),
        .init(name: "swarm-secret", valueName: "NAME", help: "swarm provider: the Swarm secret holding the cluster credential, mounted into each node (env SWARM_SECRET; default: none, the credential goes in the environment)"),
        .init(name: "swarm-spread-label", valueName: "LABEL", help: "swarm provider: the node label new nodes are spread over (env SWARM_SPREAD_LABEL, default zone)"),
        .init(name: "node-registry-url", valueName: "URL", help: "the registry URL as node containers reach it (env DOCKER_REGISTRY_URL, default http://registry:9090)"),
    ]

    /// At registry start: the process provider starts the nodes it has data for; Docker
    /// containers outlive the registry, so there is nothing to resume (the decide loop restarts
    /// dead ones after the grace period).
    /// Each resumed node is a start like any other: it carries a fresh incarnation (fencing).
    static func resume(_ provider: any NodeProvider, registry: RegistryService) -> [String] {
        (provider as? ProcessProvider)?.resumeAll(incarnation: registry.issueIncarnation(for:)) ?? []
    }

    /// At registry shutdown: child processes stop with it; containers keep running.
    static func shutdown(_ provider: any NodeProvider) {
        (provider as? ProcessProvider)?.stopAll()
        (provider as? DockerProvider)?.close()
        (provider as? SwarmProvider)?.close()
    }

    /// An option's value, else its environment variable's, else the default.
    static func value(_ parsed: ParsedArguments, _ env: [String: String], _ option: String, _ variable: String, _ fallback: String) -> String {
        if let v = parsed.string(option), !v.isEmpty { return v }
        if let v = env[variable], !v.isEmpty { return v }
        return fallback
    }

    static func make(_ parsed: ParsedArguments, environment env: [String: String], baseDir: String, configPath: String?,
                     registryURL: String, clusterToken: String, logLevel: String) throws(CLIError) -> any NodeProvider {
        let kind = value(parsed, env, "provider", "AUTOCHAIN_PROVIDER", "process")
        if kind == "process" {
            // Absolute, so each node's command line names its own cluster's directory: an operator's
            // `pgrep -f "node-id node2 --data-dir $PWD/data/cluster/"` finds this cluster's node2 only.
            let absolute = baseDir.hasPrefix("/") ? baseDir : FileManager.default.currentDirectoryPath + "/" + baseDir
            return ProcessProvider(baseDir: absolute, binary: selfExecutablePath(), configPath: configPath,
                                   registryURL: registryURL, clusterToken: clusterToken, logLevel: logLevel)
        }
        if kind == "none" { return NoProvider() }
        guard kind == "docker" || kind == "swarm" else { throw .usage("--provider must be process, docker, swarm or none, got '\(kind)'") }
        // Node containers get their settings as environment variables; these pass through.
        var passed: [String] = []
        for key in ["CHAIN_ID", "REGISTRY_STRATEGY"] {
            if let v = env[key], !v.isEmpty { passed.append(key + "=" + v) }
        }
        var spec = DockerNodeSpec()
        spec.cluster = value(parsed, env, "docker-cluster", "DOCKER_CLUSTER", "autochain")
        spec.image = value(parsed, env, "docker-image", "DOCKER_IMAGE", "autochain:latest")
        spec.network = value(parsed, env, "docker-network", "DOCKER_NETWORK", "autochain")
        spec.registryURL = value(parsed, env, "node-registry-url", "DOCKER_REGISTRY_URL", "http://registry:9090")
        spec.clusterToken = clusterToken
        spec.logLevel = logLevel
        spec.extraEnv = passed
        spec.limits = try DockerLimitsConfig.load(file: configPath, environment: env)
        let socket = value(parsed, env, "docker-socket", "DOCKER_SOCKET", "/var/run/docker.sock")
        if kind == "swarm" {
            let swarm = SwarmNodeSpec(node: spec, secretName: value(parsed, env, "swarm-secret", "SWARM_SECRET", ""),
                                      spreadLabel: value(parsed, env, "swarm-spread-label", "SWARM_SPREAD_LABEL", "zone"))
            do { return try SwarmProvider(spec: swarm, socketPath: socket) } catch { throw .failed("swarm provider: \(error)") }
        }
        do { return try DockerProvider(spec: spec, socketPath: socket) } catch { throw .failed("docker provider: \(error)") }
    }
}
