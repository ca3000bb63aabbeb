// The invariants a simulated run checks after every step (DESIGN §4), shared by the cluster
// simulator and the healing simulator: each owns one `SafetyChecks` and feeds it what happened.
import Chain
@testable import Consensus
@testable import SimulationSupport

/// What every replica applied, who led each term, and the first broken invariant with its step.
final class SafetyChecks {
    /// The step the owning simulator is at; every violation names it.
    var step: UInt64 = 0
    /// What some replica applied at each index, and the stateRoot it reached there.
    private(set) var committed: [UInt64: Entry] = [:]
    private(set) var rootAt: [UInt64: Hash32] = [:]
    private(set) var maxAppliedProposal: UInt32 = 0
    private(set) var leaderOfTerm: [UInt64: NodeID] = [:]
    /// The highest-term leader last checked to hold committed entries 1...through.
    private var leaderChecked: (id: NodeID, term: UInt64, through: UInt64) = ("", 0, 0)
    private(set) var violations: [String] = []
    /// Called once per index, in index order, the first time some replica applies it.
    var onFirstApply: ((Entry) -> Void)?

    var committedCount: Int { committed.count }
    var maxCommittedIndex: UInt64 { UInt64(committed.count) }
    func entry(at index: UInt64) -> Entry? { committed[index] }
    func root(at index: UInt64) -> Hash32? { rootAt[index] }

    func violate(_ what: String) { violations.append("step \(step): \(what)") }

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
                precondition(index == UInt64(committed.count) + 1, "replicas apply in index order")
                committed[index] = block.entry
                if let proposal = try? SimBlock.decode(block.entry.data).proposal {
                    maxAppliedProposal = max(maxAppliedProposal, proposal)
                }
                onFirstApply?(block.entry)
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

    /// The leader of the highest term holds every committed entry. Highest among `live` and every
    /// leader ever seen: a stale leader that woke up while the newer ones are down may lack entries
    /// committed after its term, which is no violation.
    func checkLeaders(_ live: [SimNode]) {
        let maxTerm = max(live.map { $0.core.term }.max() ?? 0, leaderOfTerm.keys.max() ?? 0)
        for node in live where node.core.state == .leader {
            noteLeader(node)
            let term = node.core.term
            guard term == maxTerm else { continue }
            // A leader never truncates its log in its term: indexes checked once stay checked.
            let from = leaderChecked.id == node.id && leaderChecked.term == term ? leaderChecked.through + 1 : 1
            let through = UInt64(committed.count)  // applied prefixes: the keys are 1...count
            for index in stride(from: from, through: through, by: 1)
            where node.core.log.term(at: index) != committed[index]!.term {
                violate("leader \(node.id) of term \(term) lost committed entry \(index)")
            }
            leaderChecked = (node.id, term, through)
        }
    }
}
