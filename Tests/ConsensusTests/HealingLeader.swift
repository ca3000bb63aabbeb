// What the simulated leader does on its own, as the node runtime does (RuntimeLoop+Leader.swift):
// cut blocks, add fresh nodes that ask to join as learners, promote connected, caught-up
// learners while voters < target, and carry out the registry's membership calls.
import Chain
@testable import Consensus

extension HealingSimulation {
    /// The up leader of the highest term, if any.
    var leaderNode: SimNode? {
        ids.compactMap { hosts[$0]!.isUp ? live[$0] : nil }
            .filter { $0.core.state == .leader }
            .max { $0.core.term < $1.core.term }
    }

    func leaderDuties() {
        guard let leader = leaderNode else { return }
        // As RuntimeLoop.run: the tick's periodic duties (promotion), then blocks, joins as they come.
        autoPromote(leader)
        if chance(faultsOn ? settings.proposePerMille : settings.steadyProposePerMille) { propose(on: leader) }
        answerJoins(leader)
    }

    func propose(on node: SimNode) {
        let state: AccountOverlay<SimLedger>
        do { state = try node.speculativeState() } catch {
            violate("leader \(node.id)'s own log does not execute: \(error)")
            return
        }
        let candidates = SimChain.candidates(on: state, maxCount: 4, rng: &rng)
        let included = Ledger.select(candidates: candidates, on: state, maxTxs: SimChain.maxTxsPerBlock).included
        guard !included.isEmpty else { return }
        if (try? node.core.propose(SimBlock(proposal: proposals + 1, txs: included).encoded)) != nil { proposals += 1 }
    }

    /// A fresh node asks every second; the leader adds it as a learner unless it is a member
    /// already or its ID was removed before (a retired ID that comes back is refused).
    private func answerJoins(_ leader: SimNode) {
        for id in ids where hosts[id]!.joining && hosts[id]!.isUp && network.canTalk(id, leader.id) {
            guard now - hosts[id]!.lastJoinAskAt >= settings.joinRetryTicks else { continue }
            hosts[id]!.lastJoinAskAt = now
            guard !leader.core.status.membership.all.contains(id), !removedIds.contains(id) else { continue }
            proposeConfChange(.addLearner(id), on: leader, origin: "leader answering \(id)'s join")
        }
    }

    /// The runtime's `autoPromote`: only while voters < target, with nothing of the leader's in
    /// flight, a learner connected and within 2 blocks of the commit for `promotionTicks`.
    private func autoPromote(_ leader: SimNode) {
        let status = leader.core.status
        if promotionWatch.leader != leader.id || promotionWatch.term != status.term {
            promotionWatch = (leader.id, status.term, [:])
        }
        let members = status.membership
        let idle = status.lastIndex == leader.storage.applied  // the runtime's specHead == store head
        guard members.voters.count < settings.targetVoters, !members.learners.isEmpty,
              idle || !settings.promotionTimerResetByInflightBlocks else {
            promotionWatch.since = [:]
            return
        }
        for learner in members.learners.sorted() {
            let connected = hosts[learner]?.isUp == true && network.canTalk(leader.id, learner)
            let match = status.peers[learner]?.match ?? 0
            if connected && match > 0 && match + 2 >= status.commit {
                promotionWatch.since[learner] = promotionWatch.since[learner] ?? now
            } else {
                promotionWatch.since[learner] = nil
            }
        }
        guard idle, let ready = members.learners.sorted().first(where: { id in
            promotionWatch.since[id].map { now - $0 >= settings.promotionTicks } ?? false
        }) else { return }
        if proposeConfChange(.promote(ready), on: leader, origin: "leader auto-promoting \(ready)") {
            promotionWatch.since[ready] = nil
        }
    }

    /// Proposes `change` on `leader`; false when the core refuses (not leader, one pending, invalid).
    @discardableResult
    func proposeConfChange(_ change: ConfChange, on leader: SimNode, origin: String) -> Bool {
        guard let index = try? leader.core.proposeConfChange(change, data: SimBlock(proposal: 0, txs: []).encoded) else {
            return false
        }
        confOrigin["\(leader.core.term)/\(index)"] = "\(origin) (proposed at step \(now) on \(leader.id), term \(leader.core.term))"
        stats.confChanges += 1
        trace("\(origin): \(leader.id) proposes \(change) at \(index)")
        return true
    }
}
