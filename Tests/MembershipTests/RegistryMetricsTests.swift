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
    }

    @Test func aFailedActionIsCountedByItsKind() throws {
        let registry = RegistryService(settings: RegistrySettings(), provider: NoProvider())
        // NoProvider has no data for node9: the restart fails (never a fresh node under its ID).
        registry.carryOut(.restart(node: "node9", reason: "test"), observed: cluster(3))
        let deadline = Date().addingTimeInterval(10)
        while registry.metrics.actionsFailed.value("restart") == 0, Date() < deadline { usleep(5_000) }
        #expect(registry.metrics.actionsFailed.value("restart") == 1)
        #expect(registry.metrics.actions.value("restart") == 1)
        #expect(registry.metrics.actionsFailed.value("spawn") == 0)
        #expect(registry.state.withLock { $0.events.contains { $0.kind == "action_failed" } })
    }
}
