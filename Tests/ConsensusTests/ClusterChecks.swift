// The cluster simulator's invariants beyond the shared ones (every stored block agrees across
// replicas, supply is conserved, one leader per term, no halt: CoreSimulation.swift), read from
// the real cores' observable state, and the faulty member's part of a hostile run.
import Chain
@testable import Consensus
@testable import NodeCore
@testable import SimulationSupport

extension ClusterSimulation {
    /// The leader of the highest term holds every committed block, with its term. Highest among
    /// the up nodes and every leader ever seen: a stale leader that woke up while the newer ones
    /// are down may lack blocks committed after its term, which is no violation.
    func checkLeaders() {
        let up = ids.compactMap { upNode($0) }
        let maxTerm = max(up.map { $0.core.raft.currentTerm }.max() ?? 0, leaderOfTerm.keys.max() ?? 0)
        for node in up where node.core.isLeader && node.core.raft.currentTerm == maxTerm {
            // A leader never truncates its log in its term: heights checked once stay checked.
            let from = leaderChecked.id == node.id && leaderChecked.term == maxTerm ? leaderChecked.through + 1 : 1
            guard from <= maxStoredHeight else { continue }
            for h in from...maxStoredHeight where node.core.raft.log.term(at: h) != termAt[h] {
                violate("leader \(node.id) of term \(maxTerm) lost committed block \(h) (term \(termAt[h] ?? 0))")
                return
            }
            leaderChecked = (node.id, maxTerm, maxStoredHeight)
        }
    }

    /// A quiet core's consensus membership is the one its store applied (outside block sync,
    /// which writes blocks underneath the core and rebuilds it when it hands over).
    func checkMemberships() {
        for id in ids {
            guard let node = upNode(id), !node.core.isWriting, !node.core.sync.active, !node.core.halted else { continue }
            let applied = node.store.membership
            let core = node.core.raft.membership
            // A fresh node's core knows nothing until its first block (a bootstrap names itself).
            guard node.store.headHeight > 0 else { continue }
            if core.voters != Set(applied.voters) || core.learners != Set(applied.learners) {
                violate("\(id) core membership \(core) differs from the applied one \(applied.voters)/\(applied.learners)")
                return
            }
        }
    }

    /// No node ever loses or changes a block it holds as committed: every entry up to its
    /// commit index (stored, or in its log tail not yet stored) is the block the replicas stored.
    func checkCommittedPrefixes() {
        for id in ids {
            guard let node = upNode(id) else { continue }
            let log = node.core.raft.log
            let head = node.store.headHeight
            let through = min(log.committed, maxStoredHeight)
            guard through > head else { continue }
            for entry in log.entries(from: head + 1, to: through + 1, maxBytes: Int.max, maxCount: Int(through - head)) {
                let held = (try? Block.decode(entry.data))?.hash
                if held != hashAt[entry.index] || entry.term != termAt[entry.index] {
                    violate("\(id) holds \(held.map { "\($0)" } ?? "an undecodable entry") at committed index \(entry.index), "
                        + "replicas stored \(hashAt[entry.index].map { "\($0)" } ?? "-")")
                    return
                }
            }
        }
    }

    // MARK: the faulty member

    /// Evidence is kept only against the faulty node: an honest node accused is a bug.
    func noteEvidence(_ evidence: Evidence, keptBy id: String) {
        guard id != hostile?.id else { return }
        evidenceSeen += 1
        evidenceByKind[evidence.kind, default: 0] += 1
        if evidence.from != hostile?.id { violate("\(id) kept evidence against honest \(evidence.from): \(evidence)") }
    }

    /// The faulty node's messages of this tick, through its links, to the honest cores at once
    /// (what it learned about a target is still true when the target hears it). Fresh nodes
    /// (no members known yet) are targets too: they listen only to the leader that admitted
    /// them (RaftCore+Admission.swift), so the lies must be refused there as well.
    func attack() {
        guard var actor = hostile else { return }
        let targets = ids.filter { $0 != actor.id }.compactMap { upNode($0) }
        let messages = actor.attack(targets, mine: upNode(actor.id), rng: &rng)
        hostile = actor
        for message in messages {
            guard SimLink.carries(message, linkIdentity: actor.id) else {
                linkCuts += 1
                continue
            }
            guard let node = upNode(message.to), !node.core.isWriting else { continue }
            perform(node.core.handle(.raft(message), now: time), on: node)
            noteLeader(node)
        }
    }

    var hostileSummary: String {
        guard let hostile else { return "" }
        return " faulty \(hostile.role) \(hostile.id): \(hostile.attacksSent) attacks (\(hostile.perMille)/1000 ticks, bursts <= \(hostile.maxBurst)), "
            + "\(linkCuts) cut by the link, refused \(refusedByReason.map { "\($0.key.rawValue) \($0.value)" }.sorted()), "
            + "evidence \(evidenceByKind.map { "\($0.key.rawValue) \($0.value)" }.sorted())"
    }
}
