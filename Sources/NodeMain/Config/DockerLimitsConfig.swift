import Chain
import FoundationEssentials
import Membership

/// The `[docker]` section: the resources of the node containers the registry's Docker provider
/// creates, and how long it waits for the engine. Environment variables (DOCKER_NODE_MEMORY_MB,
/// DOCKER_NODE_PIDS_LIMIT: how docker-compose.yml hands the registry the limits it gives its own
/// nodes; DOCKER_ENGINE_REQUEST_TIMEOUT_MS) override the file.
enum DockerLimitsConfig {
    static let keys: Set<String> = ["node_memory_mb", "node_pids_limit", "engine_request_timeout_ms"]

    /// What `[docker]` sets.
    struct Section: Sendable, Equatable {
        var limits = DockerNodeLimits()
        /// One Engine API call's timeout (`DockerEngine.requestTimeoutMs`).
        var engineRequestTimeoutMs = DockerEngine.defaultRequestTimeoutMs
    }

    static func load(file: String?, environment env: [String: String]) throws(CLIError) -> Section {
        var section = Section()
        do {
            if let file, let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8),
               let d = try TOML.parse(text, file: ConfigLoader.fileName(file)).table("docker") {
                try d.rejectUnknownKeys(known: keys)
                if let v = try d.int("node_memory_mb") { section.limits.memoryMiB = try RegistryConfig.range(d, "node_memory_mb", v, DockerNodeLimits.memoryMiBRange) }
                if let v = try d.int("node_pids_limit") { section.limits.pids = try RegistryConfig.range(d, "node_pids_limit", v, DockerNodeLimits.pidsRange) }
                if let v = try d.int("engine_request_timeout_ms") {
                    section.engineRequestTimeoutMs = try RegistryConfig.range(d, "engine_request_timeout_ms", v, DockerEngine.requestTimeoutMsRange)
                }
            }
        } catch {
            throw .usage("\(error)")
        }
        if let v = env["DOCKER_NODE_MEMORY_MB"], !v.isEmpty {
            section.limits.memoryMiB = try variable("DOCKER_NODE_MEMORY_MB", v, DockerNodeLimits.memoryMiBRange)
        }
        if let v = env["DOCKER_NODE_PIDS_LIMIT"], !v.isEmpty {
            section.limits.pids = try variable("DOCKER_NODE_PIDS_LIMIT", v, DockerNodeLimits.pidsRange)
        }
        if let v = env["DOCKER_ENGINE_REQUEST_TIMEOUT_MS"], !v.isEmpty {
            section.engineRequestTimeoutMs = try variable("DOCKER_ENGINE_REQUEST_TIMEOUT_MS", v, DockerEngine.requestTimeoutMsRange)
        }
        return section
    }

    private static func variable(_ name: String, _ text: String, _ range: ClosedRange<Int>) throws(CLIError) -> Int {
        guard let v = Int(text), range.contains(v) else {
            throw .usage("\(name) must be a whole number between \(range.lowerBound) and \(range.upperBound), got '\(text.prefix(40))'")
        }
        return v
    }
}
