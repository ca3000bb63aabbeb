// The invariants a simulated run checks after every step (DESIGN §4).
import Chain
@testable import Consensus

extension Simulation {
    /// No two replicas apply different blocks at one height or reach different stateRoots there;
    /// every replica conserves supply (balances + fees burned == genesis supply).
    func recordApplied(by id: NodeID, _ blocks: [AppliedBlock]) {
        for block in blocks {
            let index = block.entry.index
            if let known = committed[index] {
                if known != block.entry {
                    violate("\(id) applied \(block.entry) at \(index), others applied \(known)")
                }
            } else {
                committed[index] = block.entry
                if let proposal = try? SimBlock.decode(block.entry.data).proposal {
                    maxAppliedProposal = max(maxAppliedProposal, proposal)
                }
            }
            if let root = rootAt[index] {
                if root != block.stateRoot { violate("\(id) stateRoot at \(index) is \(block.stateRoot), others \(root)") }
            } else {
                rootAt[index] = block.stateRoot
            }
            if block.supply != SimChain.genesisSupply {
                violate("\(id) at \(index): balances + fees burned = \(block.supply), genesis supply \(SimChain.genesisSupply)")
            }
        }
    }

    /// A (re)started node still holds every committed entry up to its durable commit, and the
    /// ledger it rebuilt from them matches what every replica had at that height.
    func checkDurable(_ node: SimNode) {
        let storage = node.storage
        let durable = max(storage.applied, storage.hardState.commit)
        precondition(durable <= storage.lastIndex, "storage commit beyond its log")
        for index in stride(from: UInt64(1), through: durable, by: 1) {
            if let known = committed[index], storage.log[Int(index)] != known {
                violate("\(node.id) restarted with \(storage.log[Int(index)]) at committed index \(index), committed \(known)")
                return
            }
        }
        let applied = node.ledger.appliedIndex
        if let root = rootAt[applied], applied > 0, root != node.ledger.stateRoot {
            violate("\(node.id) rebuilt stateRoot \(node.ledger.stateRoot) at \(applied), replicas had \(root)")
        }
        if node.ledger.supply != SimChain.genesisSupply {
            violate("\(node.id) rebuilt a ledger with supply \(node.ledger.supply)")
        }
    }

    /// At most one leader per term. Called after every tick, delivery and Ready cycle, so a
    /// leadership that lasts less than a step is seen too.
    func noteLeader(_ node: SimNode) {
        guard node.core.state == .leader else { return }
        let term = node.core.term
        if let other = leaderOfTerm[term], other != node.id {
            violate("two leaders in term \(term): \(other) and \(node.id)")
        }
        leaderOfTerm[term] = node.id
        assert(leaderOfTerm[term] == node.id)
    }

    /// The leader of the highest term holds every committed entry.
    func checkLeaders() {
        let maxTerm = live.values.map { $0.core.term }.max() ?? 0
        for id in ids {
            guard let node = live[id], node.core.state == .leader else { continue }
            noteLeader(node)
            let term = node.core.term
            guard term == maxTerm else { continue }
            // A leader never truncates its log in its term: indexes checked once stay checked.
            let from = leaderChecked.id == id && leaderChecked.term == term ? leaderChecked.through + 1 : 1
            let through = UInt64(committed.count)  // applied prefixes: the keys are 1...count
            for index in stride(from: from, through: through, by: 1)
            where node.core.log.term(at: index) != committed[index]!.term {
                violate("leader \(id) of term \(term) lost committed entry \(index)")
            }
            leaderChecked = (id, term, through)
        }
    }
}
