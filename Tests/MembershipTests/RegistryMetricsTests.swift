import Chain
import Foundation
import Testing
@testable import Membership

/// What the registry's GET /metrics says about the actions it carries out (the alert rules of
/// deploy/prometheus read these).
@Suite("RegistryMetrics") struct RegistryMetricsTests {
    @Test func everyActionKindIsExportedAtZeroFromTheStart() {
        let text = RegistryMetrics().registry.render()
        for kind in ScalingActionKind.allCases.map(\.rawValue) {
            #expect(text.contains("autochain_registry_actions_total{kind=\"\(kind)\"} 0\n"), "\(kind)")
        }
        for kind in ScalingActionKind.carriedOut.map(\.rawValue) {
            #expect(text.contains("autochain_registry_actions_failed_total{kind=\"\(kind)\"} 0\n"), "\(kind)")
        }
    }

    /// Event kinds are one closed list whose names are the labels and the `GET /events` kinds:
    /// no two kinds share a name, and an action's event is named as its metric label.
    @Test func everyEventKindHasItsOwnName() {
        let names = RegistryEventKind.allCases.map(\.name)
        #expect(Set(names).count == names.count)
        for kind in ScalingActionKind.allCases { #expect(RegistryEventKind.action(kind).name == kind.rawValue) }
        #expect(names.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isLowercase || $0 == "_" || $0 == "-" } })
    }

    /// docs/OPERATIONS.md's table of event kinds has exactly one row per kind, and no other row.
    @Test func theOperationsGuideListsEveryEventKindOnce() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/OPERATIONS.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## The registry's events").dropFirst().first?
            .components(separatedBy: "\n## ").first)
        let rows = section.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `") else { return nil }
            return line.dropFirst(3).split(separator: "`").first.map(String.init)
        }
        #expect(rows.sorted() == RegistryEventKind.allCases.map(\.name).sorted())
    }

    @Test func aFailedActionIsCountedByItsKind() throws {
        let registry = RegistryService(settings: RegistrySettings(), provider: NoProvider())
        // A restart the core issued; NoProvider cannot start anything, so it fails.
        let ticket = registry.state.withLock { $0.core.issue(.restart("node9")) }
        registry.perform([.restart(ticket: ticket, node: "node9", peers: [])])
        let deadline = Date().addingTimeInterval(30)
        while registry.metrics.actionsFailed.value("restart") == 0, Date() < deadline { usleep(5_000) }
        #expect(registry.metrics.actionsFailed.value("restart") == 1)
        #expect(registry.metrics.actionsFailed.value("spawn") == 0)
        #expect(registry.state.withLock { $0.events.contains { $0.kind == .actionFailed } })
    }

    @Test func theLoadIsTheAutoscalersMetricAveragedOverAliveServingNodes() {
        let metrics = RegistryMetrics()
        var settings = AutoscalerSettings()
        settings.targetValue = 0.6
        let observed = cluster(3, cpu: 0.5)
            .with(node("n2", cpu: 0.9))
            .adding(node("n4", .dead, cpu: 5))
            .adding(node("n5", cpu: 7, draining: true))
        metrics.updateAutoscaler(observed, settings: settings, desired: 4)
        #expect(abs(metrics.load.value("cpu") - (0.5 + 0.9 + 0.5) / 3) < 1e-9)
        #expect(metrics.loadTarget.value("cpu") == 0.6)
        #expect(metrics.desiredNodes.value() == 4)
        #expect(metrics.minNodes.value() == 3)
        #expect(metrics.maxNodes.value() == 7)
    }

    @Test func withoutFiguresOrADecisionTheGaugesAreNotANumberRatherThanZero() {
        let metrics = RegistryMetrics()
        metrics.updateAutoscaler(cluster(3, cpu: nil), settings: AutoscalerSettings(), desired: nil)
        #expect(metrics.load.value("cpu").isNaN)
        #expect(metrics.desiredNodes.value().isNaN)
    }
}
