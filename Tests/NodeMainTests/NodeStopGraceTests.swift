import Foundation
import Membership
@testable import NodeMain
import Testing

/// The registry's provider gives a stopping node `[registry] node_stop_grace_s` before it kills
/// it; a stopping leader needs its leadership transfer and then the hand-over of its stranded
/// transfers (`NodeSettings.worstCaseStopMs`). The grace must cover that, or the provider kills a
/// leader mid-hand-over and what it accepted is lost until clients retry.
@Suite struct NodeStopGraceTests {
    /// What the grace must exceed a node's worst-case stop by: closing its listeners, transport
    /// and storage after the hand-over, on a loaded host.
    static let requiredMarginMs = 2_000

    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func write(_ text: String) -> String {
        let path = TestDirs.make("stop-grace") + "/config.toml"
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    @Test func theDefaultGrace_coversADefaultNodesWorstCaseStop_withMargin() {
        let budgetMs = NodeSettings().worstCaseStopMs
        #expect(RegistrySettings().nodeStopGraceS * 1_000 >= budgetMs + Self.requiredMarginMs, "node stop budget \(budgetMs) ms")
        #expect(DockerNodeSpec().stopTimeoutS == RegistrySettings().nodeStopGraceS, "docker stop -t is the same grace")
    }

    @Test func theCommittedConfig_givesItsNodesAGraceCoveringTheirWorstCaseStop() throws {
        let file = Self.repoRoot.appendingPathComponent("config.toml").path
        let node = try ConfigLoader.load(file: file, environment: [:], flags: ParsedArguments(command: "node", values: [:], flags: []))
        let registry = try RegistryConfig.load(file: file, environment: [:])
        #expect(registry.nodeStopGraceS * 1_000 >= node.worstCaseStopMs + Self.requiredMarginMs)
        #expect(registry.nodeStopGraceS == RegistrySettings().nodeStopGraceS, "config.toml states the default")
    }

    @Test func nodeStopGrace_isReadFromTheRegistrySection_andRangeChecked() throws {
        #expect(try RegistryConfig.load(file: write("[registry]\nnode_stop_grace_s = 42\n"), environment: [:]).nodeStopGraceS == 42)
        for bad in ["0", "3601", "-5"] {
            #expect { try RegistryConfig.load(file: write("[registry]\nnode_stop_grace_s = \(bad)\n"), environment: [:]) } throws: { error in
                guard case CLIError.usage(let message) = error else { return false }
                return message.contains("node_stop_grace_s")
            }
        }
    }

    @Test func aNodeReadingTheSharedConfig_skipsTheRegistrysStopGraceKey() throws {
        let file = write("[registry]\nnode_stop_grace_s = 42\n")
        _ = try ConfigLoader.load(file: file, environment: [:], flags: ParsedArguments(command: "node", values: [:], flags: []))
    }

    @Test func theGrace_reachesTheProcessProvider_andTheDockerNodeSpec() throws {
        let parsed = ParsedArguments(command: "registry", values: [:], flags: [])
        let dir = TestDirs.make("stop-grace")
        let provider = try RegistryProviderOption.make(parsed, environment: [:], baseDir: dir, configPath: nil, registryURL: "",
                                                       clusterToken: "", logLevel: "info", nodeStopGraceS: 42)
        #expect((provider as? ProcessProvider)?.stopGraceS == 42)
        let context = RegistryProviderOption.Context(parsed: parsed, environment: [:], baseDir: dir, configPath: nil, registryURL: "",
                                                     clusterToken: "", logLevel: "info", nodeStopGraceS: 42)
        #expect(try RegistryProviderOption.dockerNodeSpec(context).stopTimeoutS == 42)
    }
}
