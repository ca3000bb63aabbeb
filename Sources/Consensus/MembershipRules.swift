// Single-step membership changes with invariant checks, after etcd-io/raft's confchange.

extension RaftMembership {
    public func isVoter(_ id: NodeID) -> Bool { voters.contains(id) }
    public func isLearner(_ id: NodeID) -> Bool { learners.contains(id) }

    /// Why `change` cannot be applied to this membership, or nil when it can.
    public func rejection(of change: ConfChange) -> String? {
        assert(voters.isDisjoint(with: learners))
        switch change {
        case .addLearner(let id):
            if id.isEmpty { return "empty node id" }
            if voters.contains(id) { return "\(id) is already a voter" }
            if learners.contains(id) { return "\(id) is already a learner" }
        case .promote(let id):
            if !learners.contains(id) { return "\(id) is not a learner" }
        case .remove(let id):
            if !all.contains(id) { return "\(id) is not a member" }
            if voters == [id] { return "cannot remove the last voter" }
        }
        // A node that has not yet replayed the bootstrap block starts from an empty membership.
        return nil
    }

    /// The membership after `change`; unchanged when the change is invalid (every node
    /// applies the same committed entry, so every node ignores it alike).
    public func applying(_ change: ConfChange) -> RaftMembership {
        guard rejection(of: change) == nil else { return self }
        var next = self
        switch change {
        case .addLearner(let id): next.learners.insert(id)
        case .promote(let id):
            next.learners.remove(id)
            next.voters.insert(id)
        case .remove(let id):
            next.learners.remove(id)
            next.voters.remove(id)
        }
        precondition(next.voters.isDisjoint(with: next.learners))
        precondition(!next.voters.isEmpty || voters.isEmpty, "a change never removes the last voter")
        assert(next != self, "a valid change always changes the membership")
        return next
    }
}
