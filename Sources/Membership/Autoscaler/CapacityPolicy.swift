// Bringing the node count to the target: spawn learners when short (a replacement is just a
// spawn while a node is lost), retire when over — learners first, most behind first; a voter
// only when no learner is left, via removeMember (and a leadership transfer for the leader).

extension Autoscaler {
    func planCapacity(_ view: ClusterView, target: NodeTarget, into plan: inout Plan) {
        precondition(!plan.changedVoters, "capacity changes never share a round with a voter change")
        let capacity = view.capacity
        if capacity < target.nodes {
            planSpawns(view, count: target.nodes - capacity, capacity: capacity, target: target, into: &plan)
        } else if capacity > target.nodes {
            planScaleDown(view, excess: capacity - target.nodes, target: target, into: &plan)
        }
    }

    func planSpawns(_ view: ClusterView, count: Int, capacity: Int, target: NodeTarget, into plan: inout Plan) {
        precondition(count > 0 && capacity + count <= view.settings.maxNodes)
        let lost = zip(view.nodes, view.states).filter { n, s in s == .lost && !n.draining }
            .map { "\($0.0.id) (\(lostBecause($0.0, view)))" }.sorted()
        let why = lost.isEmpty ? target.why : "replace lost \(lost.joined(separator: ", "))"
        for i in 1...count {
            plan.add(.spawn(reason: "\(why): spawn a learner (\(i) of \(count); \(capacity) of \(target.nodes) nodes serving or starting)"))
        }
    }

    /// Retires the most behind learners; a voter only when none is left, and only when every node
    /// is alive (a suspect, dead or unknown node, or a spawn under way, holds scale-down).
    func planScaleDown(_ view: ClusterView, excess: Int, target: NodeTarget, into plan: inout Plan) {
        precondition(excess > 0)
        guard view.pendingSpawns == 0 else { return }
        let present = zip(view.nodes, view.states).filter { n, _ in !n.draining && !view.isRetiring(n.id) }
        guard present.allSatisfy({ $0.1 == .alive }) else { return }
        let byHeight: (NodeObservation, NodeObservation) -> Bool = { a, b in
            a.height != b.height ? a.height < b.height : a.id < b.id
        }
        let nonVoters = present.map(\.0).filter { !view.isVoter($0.id) }.sorted(by: byHeight)
        for node in nonVoters.prefix(excess) {
            let what = view.learners.contains(node.id) ? "learner" : "non-member"
            plan.add(.retire(node: node.id, reason: "\(target.why); \(excess) over: retire \(what) \(node.id) (height \(node.height), most behind first)"))
        }
        guard nonVoters.isEmpty, !view.voterChangeInFlight, view.voters.count > view.settings.targetVoters else { return }
        // Non-leaders first: a leadership transfer costs an election.
        let voters = present.map(\.0).filter { view.isVoter($0.id) }
            .sorted { a, b in (a.id == view.leader) != (b.id == view.leader) ? b.id == view.leader : byHeight(a, b) }
        guard let victim = voters.first,
              let step = leaveVoters(victim, view, because: "\(target.why); no learner left") else { return }
        plan.addVoterChange(step)
    }
}
