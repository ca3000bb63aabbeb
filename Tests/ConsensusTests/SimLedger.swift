// The simulator's replicated state machine: a tiny ledger of transfers between a fixed set of
// accounts, executed with the real `Ledger` rules, so a run can check that every replica reaches
// the same stateRoot at every height and that supply is conserved.
import Chain
@testable import Consensus
@testable import SimulationSupport

/// A block's payload in the simulated log: u32be proposal id ‖ u16be tx count ‖ txs.
/// An empty payload is the empty block a new leader appends to commit earlier terms.
struct SimBlock: Equatable {
    var proposal: UInt32
    var txs: [Transaction]

    var encoded: [UInt8] {
        precondition(txs.count <= SimChain.maxTxsPerBlock)
        var out: [UInt8] = []
        withUnsafeBytes(of: proposal.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt16(txs.count).bigEndian) { out.append(contentsOf: $0) }
        for tx in txs { tx.encode(into: &out) }
        assert(out.count >= 6)
        return out
    }

    static func decode(_ data: [UInt8]) throws(DecodeError) -> SimBlock {
        if data.isEmpty { return SimBlock(proposal: 0, txs: []) }
        var reader = ByteReader(data)
        let proposal = try reader.readUInt32()
        let count = Int(try reader.readUInt8()) << 8 | Int(try reader.readUInt8())
        guard count <= SimChain.maxTxsPerBlock else { throw .invalidValue(offset: 4, what: "tx count") }
        var txs: [Transaction] = []
        for _ in 0..<count { txs.append(try Transaction.decode(&reader)) }
        try reader.expectEnd()
        assert(txs.count == count)
        return SimBlock(proposal: proposal, txs: txs)
    }
}

/// Why a replica could not apply a committed block. Under a correct core this never happens:
/// a leader only proposes blocks that execute on its log, and every replica applies the same log.
struct SimApplyError: Error, CustomStringConvertible {
    var index: UInt64
    var reason: String
    var description: String { "block \(index) does not execute: \(reason)" }
}

/// Memoizes decoding and execution across the replicas of one run, so thousands of schedules
/// stay fast. Sound because `Ledger.execute` is a pure function of the block and the state, and
/// the stateRoot (a digest of every change since genesis) names the state. Every hit is checked
/// against the entry's bytes: a different block at the same (index, term) is decoded and executed
/// afresh, so the cross-replica checks still see it.
final class SimExecutionCache {
    struct Slot: Hashable {
        var index: UInt64
        var term: UInt64
    }

    struct Step: Hashable {
        var root: Hash32
        var slot: Slot
    }

    private var decoded: [Slot: (data: [UInt8], block: SimBlock)] = [:]
    private var executed: [Step: (data: [UInt8], delta: StateDelta, root: Hash32)] = [:]

    func block(_ entry: Entry) throws(DecodeError) -> SimBlock {
        let slot = Slot(index: entry.index, term: entry.term)
        if let hit = decoded[slot], hit.data == entry.data { return hit.block }
        let block = try SimBlock.decode(entry.data)
        decoded[slot] = (entry.data, block)
        return block
    }

    func execution(of entry: Entry, from root: Hash32) -> (delta: StateDelta, root: Hash32)? {
        guard let hit = executed[Step(root: root, slot: Slot(index: entry.index, term: entry.term))],
              hit.data == entry.data else { return nil }
        return (hit.delta, hit.root)
    }

    func remember(_ entry: Entry, from root: Hash32, delta: StateDelta, to next: Hash32) {
        executed[Step(root: root, slot: Slot(index: entry.index, term: entry.term))] = (entry.data, delta, next)
    }
}

/// One replica's ledger: committed account state, fees burned, the running stateRoot.
/// Rebuilt from the durable log after a crash; in memory only.
struct SimLedger: AccountSource {
    private(set) var accounts: [Address: Account] = [:]
    private(set) var stateRoot = SimChain.genesisRoot
    private(set) var feesBurned: UInt64 = 0
    private(set) var appliedIndex: UInt64 = 0

    init() {
        for account in SimChain.genesisAccounts { accounts[account.address] = account }
        assert(supply == SimChain.genesisSupply)
    }

    func account(_ address: Address) -> Account { accounts[address] ?? Account(address: address) }

    /// Sum of balances plus every fee burned; equals the genesis supply on a correct replica.
    var supply: UInt64 { accounts.values.reduce(feesBurned) { $0 + $1.balance } }

    /// What `entry` changes on top of `base`; shared by replicas (apply) and leaders (speculation).
    static func execute(_ entry: Entry, on base: some AccountSource, cache: SimExecutionCache?) throws(SimApplyError)
        -> StateDelta
    {
        let block: SimBlock
        do {
            if let cache { block = try cache.block(entry) } else { block = try SimBlock.decode(entry.data) }
        } catch {
            throw SimApplyError(index: entry.index, reason: "undecodable: \(error)")
        }
        do { return try Ledger.execute(block: block.txs, on: base) } catch {
            throw SimApplyError(index: entry.index, reason: "\(error)")
        }
    }

    /// Applies the next committed entry: executes its transfers and folds it into the stateRoot.
    mutating func apply(_ entry: Entry, cache: SimExecutionCache? = nil) throws(SimApplyError) {
        precondition(entry.index == appliedIndex + 1, "ledger applies in order")
        let (delta, root): (StateDelta, Hash32)
        if let known = cache?.execution(of: entry, from: stateRoot) { (delta, root) = known } else {
            (delta, root) = try execute(entry, cache: cache)
        }
        for account in delta.changes { accounts[account.address] = account }
        feesBurned += delta.feesBurned
        stateRoot = root
        appliedIndex = entry.index
        assert(appliedIndex == entry.index)
    }

    private func execute(_ entry: Entry, cache: SimExecutionCache?) throws(SimApplyError) -> (StateDelta, Hash32) {
        let delta = try Self.execute(entry, on: self, cache: cache)
        var root = StateRoot.next(previous: stateRoot, changes: delta.changes)
        if let change = entry.confChange {
            // Membership is state: a replica that applied another change diverges visibly here.
            root = Crypto.sha256(root.bytes + Array("conf \(change)".utf8))
        }
        cache?.remember(entry, from: stateRoot, delta: delta, to: root)
        return (delta, root)
    }

    /// The ledger a restarted node rebuilds by re-applying its durable log up to `applied`.
    static func replay(_ log: [Entry], through applied: UInt64, cache: SimExecutionCache? = nil) throws(SimApplyError)
        -> SimLedger
    {
        precondition(applied < UInt64(log.count), "applied \(applied) beyond the durable log")
        var ledger = SimLedger()
        for entry in log.dropFirst().prefix(Int(applied)) { try ledger.apply(entry, cache: cache) }
        assert(ledger.appliedIndex == applied)
        return ledger
    }
}
