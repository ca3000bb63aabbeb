// The healing invariants, on top of the safety ones (SimInvariants.swift): no action costs
// quorum, membership changes go one at a time, and the cluster heals once the faults stop.
@testable import Consensus
@testable import Membership

extension HealingSimulation {
    /// The voters of `config` that are up still form a majority of it.
    func hasQuorum(_ config: RaftMembership) -> Bool {
        let up = config.voters.count { hosts[$0]?.isUp == true }
        return up >= Quorum.size(voterCount: config.voters.count)
    }

    func upVoters(_ config: RaftMembership) -> String {
        let up = config.voters.filter { hosts[$0]?.isUp == true }.sorted()
        return "\(up.count) of \(config.voters.count) voters up (\(up.joined(separator: ", ")) of \(config.voters.sorted().joined(separator: ", ")))"
    }

    /// The first time a replica applies an entry: a conf change takes effect for the checks.
    /// It must not cost quorum: if the up voters were a majority before, they still are.
    func noteCommitted(_ entry: Entry) {
        guard let change = entry.confChange else { return }
        let before = committedConfig
        let after = before.applying(change)
        committedConfig = after
        trace("conf change \(change) at \(entry.index) term \(entry.term) committed: voters \(after.voters.sorted()) learners \(after.learners.sorted()); \(upVoters(after))")
        if case .remove(let id) = change, after != before { removedIds.insert(id) }
        if hasQuorum(before) && !hasQuorum(after) {
            let origin = confOrigin["\(entry.term)/\(entry.index)"] ?? "unknown origin"
            violate("conf change \(change) committed at \(entry.index) cost quorum: \(upVoters(after)) afterwards; by \(origin)")
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

    /// Never two uncommitted conf changes in any log: changes go one at a time.
    func checkOneConfChangeAtATime() {
        let committed = checks.maxCommittedIndex
        for id in ids {
            guard let node = live[id] else { continue }
            let log = node.core.log
            guard log.lastIndex > committed else { continue }
            let tail = log.entries(from: committed + 1, to: log.lastIndex + 1, maxBytes: Int.max, maxCount: 4096)
            let changes = tail.filter { $0.confChange != nil }
            if changes.count > 1 {
                let listed = changes.map { "\($0.confChange!) at \($0.index) term \($0.term)" }.joined(separator: ", ")
                violate("\(id) holds \(changes.count) uncommitted conf changes beyond commit \(committed): \(listed)")
                return
            }
        }
    }

    /// Healed: an up leader whose configuration has the target voters and the autoscaler's
    /// target node count, every member up, no other node running, and a block proposed after the
    /// faults stopped committed.
    func isHealed(beyond proposalsBefore: UInt32) -> Bool {
        healingGaps(beyond: proposalsBefore).isEmpty
    }

    func healingGaps(beyond proposalsBefore: UInt32) -> [String] {
        guard let leader = leaderNode else { return ["no up leader"] }
        var gaps: [String] = []
        let m = leader.core.status.membership
        let target = registry.core.autoscaler.desiredNodes ?? settings.autoscaler.minNodes
        if m.voters.count != settings.targetVoters { gaps.append("\(m.voters.count) voters, target \(settings.targetVoters)") }
        if m.all.count != target { gaps.append("\(m.all.count) members, target \(target)") }
        let down = m.all.filter { hosts[$0]?.isUp != true }.sorted()
        if !down.isEmpty { gaps.append("members not up: \(down.joined(separator: ", "))") }
        let strays = ids.filter { hosts[$0]!.process != .down && !m.all.contains($0) }
        if !strays.isEmpty { gaps.append("running non-members: \(strays.joined(separator: ", "))") }
        if checks.maxAppliedProposal <= proposalsBefore { gaps.append("no block proposed after the faults committed") }
        return gaps
    }

    /// What the cluster looks like when it failed to heal.
    func healingReport() -> String {
        let nodes = ids.map { id -> String in
            let h = hosts[id]!
            let what = h.retired ? "retired" : h.storage == nil ? "data gone" : "\(h.process)"
            guard let node = live[id] else { return "\(id) \(what)" }
            let st = node.core.status
            return "\(id) \(what) \(st.role) term \(st.term) applied \(st.applied)"
        }
        let leader = leaderNode?.core.status
        let m = leader.map { "voters \($0.membership.voters.sorted()) learners \($0.membership.learners.sorted())" } ?? "no leader"
        return "\(healingGaps(beyond: healProposalsBefore).joined(separator: "; ")); \(m); nodes: \(nodes.joined(separator: "; ")); "
            + "registry: target \(registry.core.autoscaler.desiredNodes.map(String.init) ?? "-") operator \(registry.core.operatorTarget.map(String.init) ?? "-") "
            + "inFlight [\(registry.core.inFlight.map { "\($0.action.kind.rawValue) \($0.action.node ?? "")" }.joined(separator: ", "))] "
            + "last actions: \(registry.recentEvents.suffix(8).joined(separator: " | "))"
    }
}
