import Foundation
import Membership
import Testing
@testable import NodeMain

/// deploy/autoscale-demo.toml, the configuration docs/OPERATIONS.md starts the autoscaler
/// demonstration with: it loads, and it asks for what the text says.
@Suite("DemoConfig") struct DemoConfigTests {
    @Test func theAutoscaleDemoConfigScalesOnRequestRateWithinSeconds() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let s = try RegistryConfig.load(file: root.appendingPathComponent("deploy/autoscale-demo.toml").path, environment: [:])
        #expect(s.autoscaler.metric == .requestRate)
        #expect(s.autoscaler.targetValue == 60)
        #expect(s.autoscaler.minNodes == 3 && s.autoscaler.maxNodes == 6)
        #expect(s.autoscaler.scaleUpPeriodS == 10 && s.autoscaler.downStabilizationS == 20)
    }
}
