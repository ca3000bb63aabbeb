import Chain
import Foundation
import Testing
@testable import Membership

/// What the registry's GET /metrics says about the actions it carries out (the alert rules of
/// deploy/prometheus read these).
@Suite("RegistryMetrics") struct RegistryMetricsTests {
    @Test func everyActionKindIsExportedAtZeroFromTheStart() {
        let text = RegistryMetrics().registry.render()
        for kind in RegistryMetrics.actionKinds {
            #expect(text.contains("autochain_registry_actions_total{kind=\"\(kind)\"} 0\n"), "\(kind)")
            #expect(text.contains("autochain_registry_actions_failed_total{kind=\"\(kind)\"} 0\n"), "\(kind)")
        }
        for kind in RegistryMetrics.alertKinds {
            #expect(text.contains("autochain_registry_actions_total{kind=\"\(kind)\"} 0\n"), "\(kind)")
        }
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
        #expect(registry.state.withLock { $0.events.contains { $0.kind == "action_failed" } })
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
