// A large made-up cluster for measuring `Autoscaler.decide` (`autochain bench-decide`) and for the
// speed test: pure, the same input every time.

import Consensus

/// Observed clusters of any size in the shapes the decide benchmark measures.
public enum SyntheticCluster {
    /// The load shapes measured: at the target, above it (scale-up), and below it (scale-down).
    public enum Shape: String, Sendable, CaseIterable {
        case steady, scaleUp = "scale-up", scaleDown = "scale-down"

        /// Every node's CPU figure (fraction of a core) for the default target of 0.7.
        var cpu: Double {
            switch self {
            case .steady: 0.7
            case .scaleUp: 0.9
            case .scaleDown: 0.2
            }
        }
    }

    /// The settings the benchmark decides with: room for `nodes`, 5 voters.
    public static func settings(nodes: Int) -> AutoscalerSettings {
        precondition(nodes >= 5 && nodes <= MembershipLimits.maxNodes)
        var s = AutoscalerSettings()
        s.maxNodes = min(MembershipLimits.maxNodes, nodes + nodes / 5)
        s.targetVoters = 5
        s.minNodes = 5
        return s
    }

    /// `nodes` nodes n1...nN seen at `now`: 5 voters led by n1, the rest learners; every 50th dead
    /// (heard from 20 s ago; every 100th has lost its data, so it is replaced, the others restarted,
    /// one restart already in flight); every 97th lacks the metric (except in scale-down, where
    /// every node reports it so the down path runs).
    public static func observed(nodes: Int, shape: Shape, now: Double) -> ObservedCluster {
        precondition(nodes >= 50 && nodes <= MembershipLimits.maxNodes, "50...maxNodes nodes")
        var all: [NodeObservation] = []
        all.reserveCapacity(nodes)
        for i in 1...nodes {
            let cpu: Double? = i % 97 == 0 && shape != .scaleDown ? nil : shape.cpu
            var n = NodeObservation(id: "n\(i)", role: i == 1 ? .leader : .follower, height: UInt64(1_000 + i % 37),
                                    load: NodeLoad(cpu: cpu), lastHeardAt: now - 0.2)
            if i % 50 == 0 {
                n.health = .dead
                n.lastHeardAt = now - 20
            }
            if i % 100 == 0 { n.hasData = false }
            all.append(n)
        }
        let ids = all.map(\.id)
        assert(all.count == nodes)
        return ObservedCluster(nodes: all, voters: Array(ids.prefix(5)), learners: Array(ids.dropFirst(5)), leader: "n1",
                               registryStartedAt: 0, inFlight: [.restart(node: "n50", reason: "earlier")])
    }
}
