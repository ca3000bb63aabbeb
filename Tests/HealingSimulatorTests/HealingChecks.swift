// The healing invariants, on top of the shared safety ones (SimulationSupport/CoreSimulation.swift): no action costs
// quorum, membership changes go one at a time, and the cluster heals once the faults stop.
import Chain
@testable import Consensus
@testable import Membership
@testable import SimulationSupport

extension HealingSimulation {
    /// The voters of `config` that are up still form a majority of it.
    func hasQuorum(_ config: ClusterMembership) -> Bool {
        let up = config.voters.count { hosts[$0]?.isUp == true }
        return up >= Quorum.size(voterCount: config.voters.count)
    }

    func upVoters(_ config: ClusterMembership) -> String {
        let up = config.voters.filter { hosts[$0]?.isUp == true }.sorted()
        return "\(up.count) of \(config.voters.count) voters up (\(up.joined(separator: ", ")) of \(config.voters.sorted().joined(separator: ", ")))"
    }

    /// The first time a replica stores a block: its membership change takes effect for the
    /// checks. It must not cost quorum: if the up voters were a majority before, they still are.
    func noteCommitted(_ change: MembershipChange, height: UInt64, term: UInt64) {
        let before = committedConfig
        let after = before.applying(change)
        committedConfig = after
        let what = "\(change.kind.name) \(change.nodeId)"
        trace("conf change \(what) at \(height) term \(term) committed: voters \(after.voters.sorted()) learners \(after.learners.sorted()); \(upVoters(after))")
        if change.kind == .remove { removedIds.insert(change.nodeId) }
        if hasQuorum(before) && !hasQuorum(after) {
            let origin = confOrigin["\(term)/\(height)"] ?? "the leader's own rules (a join or a promotion)"
            violate("conf change \(what) committed at \(height) cost quorum: \(upVoters(after)) afterwards; by \(origin)")
        }
    }

    /// A registry action is about to stop `id`'s process: it must not be a voter of the committed
    /// configuration, nor may stopping it lose the quorum.
    func checkStopByRegistry(_ id: NodeID, action: String) {
        if committedConfig.voters.contains(id) {
            violate("\(action) stops \(id), a voter of the committed configuration \(committedConfig.voters.sorted())")
        }
        guard hasQuorum(committedConfig), hosts[id]?.isUp == true else { return }
        hosts[id]!.process = .down
        let lost = !hasQuorum(committedConfig)
        hosts[id]!.process = .running
        if lost { violate("\(action) stopping \(id) costs quorum: \(upVoters(committedConfig)) before") }
    }

    /// Never two uncommitted membership changes in any node's log: changes go one at a time.
    func checkOneConfChangeAtATime() {
        for id in ids {
            guard let store = hosts[id]?.storage, live[id] != nil else { continue }
            let changes = store.logTail.filter { $0.index > maxStoredHeight && $0.conf != nil }
            if changes.count > 1 {
                let listed = changes.map { "\($0.conf!) at \($0.index) term \($0.term)" }.joined(separator: ", ")
                violate("\(id) holds \(changes.count) uncommitted membership changes beyond commit \(maxStoredHeight): \(listed)")
                return
            }
        }
    }

    /// Healed: an up leader whose configuration has the target voters and the autoscaler's
    /// target node count, every member up, no other node running, and every member holds a block
    /// committed after the faults stopped.
    func isHealed(beyond heightBefore: UInt64) -> Bool {
        healingGaps(beyond: heightBefore).isEmpty
    }

    func healingGaps(beyond heightBefore: UInt64) -> [String] {
        guard let leader = leader else { return ["no up leader"] }
        var gaps: [String] = []
        let m = leader.store.membership
        let target = registry.core.autoscaler.desiredNodes ?? settings.autoscaler.minNodes
        if m.voters.count != settings.targetVoters { gaps.append("\(m.voters.count) voters, target \(settings.targetVoters)") }
        if m.members.count != target { gaps.append("\(m.members.count) members, target \(target)") }
        let down = m.members.filter { hosts[$0]?.isUp != true }
        if !down.isEmpty { gaps.append("members not up: \(down.joined(separator: ", "))") }
        let strays = ids.filter { hosts[$0]!.process != .down && !m.contains($0) }
        if !strays.isEmpty { gaps.append("running non-members: \(strays.joined(separator: ", "))") }
        let behind = m.members.filter { (hosts[$0]?.storage?.headHeight ?? 0) <= heightBefore }
        if !behind.isEmpty { gaps.append("no block committed after the faults on \(behind.joined(separator: ", "))") }
        return gaps
    }

    /// What the cluster looks like when it failed to heal.
    func healingReport() -> String {
        let nodes = ids.map { id -> String in
            let h = hosts[id]!
            let what = h.retired ? "retired" : h.storage == nil ? "data gone" : "\(h.process)"
            guard let node = live[id] else { return "\(id) \(what)" }
            let st = node.core.status
            return "\(id) \(what) \(st.role) term \(st.term) head \(node.store.headHeight) learners \(node.store.membership.learners)"
        }
        let leader = leader?.store.membership
        let m = leader.map { "voters \($0.voters.sorted()) learners \($0.learners.sorted())" } ?? "no leader"
        return "\(healingGaps(beyond: heightAtHealStart).joined(separator: "; ")); \(m); nodes: \(nodes.joined(separator: "; ")); "
            + "registry: target \(registry.core.autoscaler.desiredNodes.map(String.init) ?? "-") operator \(registry.core.operatorTarget.map(String.init) ?? "-") "
            + "inFlight [\(registry.core.inFlight.map { "\($0.action.kind.rawValue) \($0.action.node ?? "")" }.joined(separator: ", "))] "
            + "last actions: \(registry.recentEvents.suffix(8).joined(separator: " | "))"
    }
}
