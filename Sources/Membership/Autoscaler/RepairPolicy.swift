// Repairs, least disruptive first: restart on the node's own data; replace (spawn, then remove the
// dead voter once its replacement caught up, or once it joined when the dead voter is gone for good); and on quorum loss, restart voters and touch no
// membership, or tell the operator how to force a new cluster.

extension Autoscaler {
    /// Restarts, the round's voter change (alone), then retirement of lost or draining non-voters.
    func planRepairs(_ view: ClusterView, into plan: inout Plan) {
        for (n, s) in zip(view.nodes, view.states) where s == .restartable && !n.draining && restartDue(n, view) {
            let attempt = "attempt \(n.restartFailures + 1) of \(view.settings.maxRestartFailures)"
            plan.add(.restart(node: n.id, reason: "\(n.id) \(view.silence(n)), data intact: restart (\(attempt))"))
        }
        if !view.voterChangeInFlight, let change = lostVoterRemoval(view) ?? drainingVoterStep(view) {
            plan.addVoterChange(change)
            return
        }
        for (n, s) in zip(view.nodes, view.states) where s != .unknown && !view.isVoter(n.id) {
            if s == .lost {
                let what = view.learners.contains(n.id) ? "learner" : "non-member"
                plan.add(.retire(node: n.id, reason: "\(what) \(n.id) \(view.silence(n)), \(lostBecause(n, view)): retire"))
            } else if n.draining {
                plan.add(.retire(node: n.id, reason: "\(n.id) is draining and holds no vote: retire"))
            }
        }
    }

    /// Restart backoff: `restartBackoffS` doubled per failed restart, at most `restartBackoffMaxS`.
    func restartDue(_ n: NodeObservation, _ view: ClusterView) -> Bool {
        precondition(n.restartFailures >= 0)
        guard let last = n.lastActionAt else { return true }
        let s = view.settings
        var backoff = s.restartBackoffS
        for _ in 0..<min(n.restartFailures, 32) where backoff < s.restartBackoffMaxS { backoff *= 2 }
        return view.now - last >= min(backoff, s.restartBackoffMaxS)
    }

    func lostBecause(_ n: NodeObservation, _ view: ClusterView) -> String {
        if n.stoppedDeliberately { return "stopped from outside the registry (clean exit): taken out" }
        if view.isGone(n) { return "seen to exit, data gone" }
        if !n.managed { return n.hasData ? "not run by our provider" : "not run by our provider, data unknown" }
        if !n.hasData { return "data gone" }
        return "\(n.restartFailures) restarts failed"
    }

    /// Removes one lost voter while the alive voters stay a majority of the smaller configuration
    /// and no promotion is pending. A voter that only fell silent (a partition looks the same) is
    /// removed after `deadVoterRemovalDelayS` without a word and once a caught-up learner can take
    /// its place. A gone voter (seen to exit, data gone: it cannot come back) is removed as soon as
    /// its replacement joined as a learner, which then syncs while the removal commits: its vote
    /// only counts against the quorum. The replacement joins first so that the two membership
    /// changes (its addition, this removal) do not race at the leader.
    func lostVoterRemoval(_ view: ClusterView) -> ScalingAction? {
        let s = view.settings
        let lost = zip(view.nodes, view.states).lazy.filter { n, st in
            st == .lost && view.isVoter(n.id) && n.id != view.leader && !view.isRetiring(n.id)
                && (view.isGone(n) || n.lastHeardAt.map { view.now - $0 >= s.deadVoterRemovalDelayS } ?? true)
        }.map(\.0)
        guard let victim = lost.min(by: { $0.id < $1.id }) else { return nil }
        let v = view.voters.count, dead = view.voterCount(where: { $0.isDead }), alive = view.voterCount(where: { $0 == .alive })
        guard dead <= (v - 1) / 2, alive >= (v - 1) / 2 + 1 else { return nil }
        let learner = zip(view.nodes, view.states).first { n, st in
            st == .alive && n.caughtUp && view.learners.contains(n.id) && !n.draining && !view.isRetiring(n.id)
        }?.0
        let promotionPending = v < s.targetVoters && learner != nil
        guard !promotionPending else { return nil }
        let joined = view.isGone(victim) ? joinedLearner(view) : nil
        guard learner != nil || joined != nil || alive >= s.targetVoters else { return nil }
        let by = learner.map { "replacement \($0.id) is a caught-up learner" }
            ?? joined.map { "it is gone for good and replacement \($0.id) joined as a learner (it syncs meanwhile)" }
            ?? "\(alive) alive voters remain"
        return .removeMember(node: victim.id, reason: "remove dead voter \(victim.id) (\(view.silence(victim)), "
            + "\(lostBecause(victim, view))) from the configuration: \(by); \(dead) of \(v) voters dead, "
            + "at most \((v - 1) / 2) removable, one per round")
    }

    /// An alive learner, not leaving, caught up or not: a replacement under way.
    func joinedLearner(_ view: ClusterView) -> NodeObservation? {
        zip(view.nodes, view.states).first { n, st in
            st == .alive && view.learners.contains(n.id) && !n.draining && !view.isRetiring(n.id)
        }?.0
    }

    /// A draining voter leaves: the leader hands over first, any other is removed while the alive
    /// voters stay a majority without it.
    func drainingVoterStep(_ view: ClusterView) -> ScalingAction? {
        let draining = zip(view.nodes, view.states).lazy.filter { n, st in
            n.draining && st != .unknown && view.isVoter(n.id) && !view.isRetiring(n.id)
        }.map(\.0)
        guard let node = draining.min(by: { $0.id < $1.id }) else { return nil }
        return leaveVoters(node, view, because: "\(node.id) is draining")
    }

    /// The safe next step for voter `node` to leave: transfer if it leads, else remove if safe.
    func leaveVoters(_ node: NodeObservation, _ view: ClusterView, because why: String) -> ScalingAction? {
        precondition(view.isVoter(node.id))
        let v = view.voters.count
        guard v > 1 else { return nil }
        let othersAlive = zip(view.nodes, view.states).count { n, st in
            st == .alive && n.id != node.id && view.isVoter(n.id)
        }
        guard othersAlive >= (v - 1) / 2 + 1 else { return nil }
        if node.id == view.leader {
            return .transferLeadership(from: node.id, reason: "\(why) and leads: transfer leadership before removing it")
        }
        return .removeMember(node: node.id, reason: "\(why): remove voter \(node.id) from the configuration before retiring it")
    }

    /// Quorum lost: restart every dead voter that has its data (no failure limit: replacing would
    /// need a membership change, which cannot commit), restart other restartable nodes, change
    /// no membership, and alert when restarts cannot bring a majority back.
    func planQuorumLoss(_ view: ClusterView, why: String, into plan: inout Plan) {
        var restartableVoters = 0
        for (n, s) in zip(view.nodes, view.states) where s.isDead {
            if view.isVoter(n.id) {
                // A voter whose removal is already under way is not brought back: its return
                // would commit its own removal and could cost the quorum again.
                guard n.managed && n.hasData, !view.inFlightKeys.contains("remove:\(n.id)") else { continue }
                restartableVoters += 1
                if restartDue(n, view) {
                    let stopped = n.stoppedDeliberately
                        ? " (it was stopped from outside the registry, but the cluster cannot commit without it)" : ""
                    plan.add(.restart(node: n.id, reason: "quorum lost (\(why)): restart voter \(n.id) on its data\(stopped) "
                        + "(attempt \(n.restartFailures + 1), no limit while quorum is lost); no membership change"))
                }
            } else if s == .restartable && !n.draining && restartDue(n, view) {
                plan.add(.restart(node: n.id, reason: "\(n.id) \(view.silence(n)), data intact: restart "
                    + "(attempt \(n.restartFailures + 1) of \(view.settings.maxRestartFailures))"))
            }
        }
        let reachable = view.voterCount(where: { !$0.isDead }) + restartableVoters
        if reachable < view.majority {
            plan.add(.alert(kind: .quorumLost, message: quorumLostMessage(view, reachable: reachable)))
        } else if view.voterCount(where: { $0.isDead }) == 0 {
            plan.add(.alert(kind: .consensusFailure, message: "\(why): no voter is dead, so nothing to "
                + "restart; membership held until the leader commits again"))
        }
        assert(!plan.changedVoters)
    }

    func quorumLostMessage(_ view: ClusterView, reachable: Int) -> String {
        let gone = zip(view.nodes, view.states).filter { n, s in s.isDead && view.isVoter(n.id) && !(n.managed && n.hasData) }
            .map(\.0.id).sorted()
        let head = "quorum lost: \(view.voters.count - view.voterCount(where: { !$0.isDead })) of \(view.voters.count) voters dead, "
            + "\(gone.joined(separator: ", ")) cannot be restarted (data gone or not ours); at most \(reachable) of "
            + "\(view.majority) needed voters can come back, so no membership change can commit"
        guard let from = mostUpToDateSurvivor(view) else {
            return head + ". No member keeps its data: restore from a backup."
        }
        return head + ". Run `autochain recover --force-new-cluster --from \(from.id)` (the most up-to-date "
            + "survivor, height \(from.height)), then let the new cluster grow back."
    }

    /// The member with its data and the highest height; alive ones win ties, then the smaller ID.
    func mostUpToDateSurvivor(_ view: ClusterView) -> NodeObservation? {
        let members = view.voters.union(view.learners)
        let candidates = zip(view.nodes, view.states).filter { n, s in
            members.contains(n.id) && (n.hasData || s == .alive || s == .suspect)
        }
        let best = candidates.max { a, b in
            if a.0.height != b.0.height { return a.0.height < b.0.height }
            if a.1.isDead != b.1.isDead { return a.1.isDead }
            return a.0.id > b.0.id
        }
        return best?.0
    }
}
