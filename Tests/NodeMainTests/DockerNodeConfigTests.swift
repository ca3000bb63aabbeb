import Foundation
import Membership
@testable import NodeMain
import Testing

/// The node side of running in Docker: the limits a registry gives node containers, read from
/// config.toml's `[docker]` section and the environment, and a restarted container's static peers.
@Suite struct DockerNodeConfigTests {
    @Test func limitsComeFromTheDockerSectionAndTheEnvironment() throws {
        let file = TestDirs.make("docker") + "/config.toml"
        _ = FileManager.default.createFile(atPath: file, contents: Data("[docker]\nnode_memory_mb = 300\nnode_pids_limit = 64\n".utf8))
        #expect(try DockerLimitsConfig.load(file: nil, environment: [:]).limits == DockerNodeLimits(memoryMiB: 1_024, pids: 512))
        #expect(try DockerLimitsConfig.load(file: file, environment: [:]).limits == DockerNodeLimits(memoryMiB: 300, pids: 64))
        #expect(try DockerLimitsConfig.load(file: file, environment: ["DOCKER_NODE_MEMORY_MB": "2048"]).limits.memoryMiB == 2_048)
        #expect(throws: CLIError.self) { try DockerLimitsConfig.load(file: nil, environment: ["DOCKER_NODE_PIDS_LIMIT": "1"]) }
        #expect(throws: CLIError.self) { try DockerLimitsConfig.load(file: nil, environment: ["DOCKER_NODE_MEMORY_MB": "lots"]) }
        let bad = TestDirs.make("docker") + "/config.toml"
        _ = FileManager.default.createFile(atPath: bad, contents: Data("[docker]\nnode_memory = 300\n".utf8))
        #expect(throws: CLIError.self) { try DockerLimitsConfig.load(file: bad, environment: [:]) }
    }

    @Test func engineRequestTimeout_defaultsTo30s_andIsSetByTheDockerSectionOrTheEnvironment() throws {
        #expect(try DockerLimitsConfig.load(file: nil, environment: [:]).engineRequestTimeoutMs == 30_000)
        let file = TestDirs.make("docker") + "/config.toml"
        _ = FileManager.default.createFile(atPath: file, contents: Data("[docker]\nengine_request_timeout_ms = 1500\n".utf8))
        #expect(try DockerLimitsConfig.load(file: file, environment: [:]).engineRequestTimeoutMs == 1_500)
        let env = ["DOCKER_ENGINE_REQUEST_TIMEOUT_MS": "45000"]
        #expect(try DockerLimitsConfig.load(file: file, environment: env).engineRequestTimeoutMs == 45_000)
    }

    @Test func engineRequestTimeoutOutOfRange_isAConfigErrorNamingTheKey() throws {
        for bad in ["99", "600001", "-1"] {
            let file = TestDirs.make("docker") + "/config.toml"
            _ = FileManager.default.createFile(atPath: file, contents: Data("[docker]\nengine_request_timeout_ms = \(bad)\n".utf8))
            let error = #expect(throws: CLIError.self) { try DockerLimitsConfig.load(file: file, environment: [:]) }
            #expect("\(error.map { $0 } as Any)".contains("engine_request_timeout_ms"))
        }
        #expect(throws: CLIError.self) {
            try DockerLimitsConfig.load(file: nil, environment: ["DOCKER_ENGINE_REQUEST_TIMEOUT_MS": "0"])
        }
    }
}
