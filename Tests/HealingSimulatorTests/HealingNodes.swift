// The healing simulator's nodes are the shared real-core harness's (SimulationSupport/
// CoreSimulation.swift): every decision (what to cut, whom to add, whom to promote, which
// membership change to refuse) is the real RuntimeCore's. This file adds what the registry asks
// of them: membership changes and leadership hand-overs on a named leader.
import Chain
@testable import Consensus
@testable import NodeCore
@testable import SimulationSupport

extension HealingSimulation {
    /// A membership change asked of `leaderId` (the registry's POST); true when it was proposed.
    func askMembership(_ change: MembershipChange, of leaderId: NodeID, origin: String) -> Bool {
        guard let node = upNode(leaderId), node.core.isLeader else { return false }
        let term = node.core.raft.currentTerm
        guard let height = askMembership(change, of: node) else { return false }
        confOrigin["\(term)/\(height)"] = "\(origin) (proposed at step \(tick) on \(leaderId), term \(term))"
        stats.confChanges += 1
        trace("\(origin): \(leaderId) proposes \(change.kind.name) \(change.nodeId) at \(height)")
        return true
    }

    /// POST /leadership/transfer on `from`: true when it leads and hands over.
    func transferLeadership(from: NodeID) -> Bool {
        guard let node = upNode(from), node.core.isLeader else { return false }
        perform(node.core.handle(.transferLeadership(to: nil, request: 1), now: time), on: node)
        return true
    }
}
