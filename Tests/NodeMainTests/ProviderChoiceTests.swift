import Foundation
import Chain
import Membership
@testable import NodeMain
import Synchronization
import Testing

/// How the registry picks its provider and lets go of it: from one table, and through the
/// `NodeProvider` protocol alone, so that a new provider (docs/KUBERNETES.md) is one more
/// conforming type and one more row, with nothing that names concrete provider types.
@Suite struct ProviderChoiceTests {
    /// A provider the CLI has never heard of: it only counts how often it was closed.
    final class CountingProvider: NodeProvider {
        let name = "counting"
        let closes = Atomic<Int>(0)
        func start(_ id: String, bootstrap: Bool, peers: [String]) throws -> ProvidedNode {
            throw ProviderError.startFailed(id: id, reason: "test provider")
        }
        func stop(_ id: String) {}
        func destroy(_ id: String) {}
        func isRunning(_ id: String) -> Bool { false }
        func hasData(_ id: String) -> Bool { false }
        func knownNodes() -> [String] { [] }
        func onExit(_ handler: @escaping @Sendable (String, Int32) -> Void) {}
        func close() { closes.add(1, ordering: .sequentiallyConsistent) }
    }

    func make(_ env: [String: String]) throws(CLIError) -> any NodeProvider {
        try RegistryProviderOption.make(ParsedArguments(command: "registry", values: [:], flags: []), environment: env,
                                        baseDir: "/tmp", configPath: nil, registryURL: "", clusterToken: "", logLevel: "info")
    }

    @Test func shutdownClosesWhicheverProviderRuns_throughTheProtocol() {
        let provider = CountingProvider()
        RegistryProviderOption.shutdown(provider)
        #expect(provider.closes.load(ordering: .sequentiallyConsistent) == 1)
    }

    @Test func theProcessProvidersNodesStopWithTheRegistry_soItStartsNoneAfterClose() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("provider-close-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let provider = ProcessProvider(baseDir: dir, binary: "/nonexistent/autochain", configPath: nil, registryURL: "",
                                       clusterToken: "", logLevel: "info")
        RegistryProviderOption.shutdown(provider)
        #expect { try provider.start("node1", bootstrap: true, peers: []) } throws: { "\($0)".contains("shutting down") }
    }

    @Test func everyKindInTheTableIsAChoice_namedInTheHelpAndTheUsageError() throws {
        let names = RegistryProviderOption.kinds.map(\.name)
        #expect(names == ["process", "docker", "swarm", "none"])
        #expect(Set(names).count == names.count)
        let help = try #require(RegistryProviderOption.options.first { $0.name == "provider" }).help
        #expect { try make(["AUTOCHAIN_PROVIDER": "kubernetes"]) } throws: { error in
            guard case CLIError.usage(let message) = error else { return false }
            return names.allSatisfy { message.contains($0) } && message.contains("'kubernetes'")
        }
        for name in names { #expect(help.contains(name)) }
    }

    @Test func theDefaultIsTheTablesFirstRow_theProcessProvider() throws {
        #expect(try make([:]).name == "process")
        #expect(try make(["AUTOCHAIN_PROVIDER": "none"]).name == "none")
    }
}
