// An in-memory RaftStorage and a test runtime that performs Ready exactly as the node will.
import Testing
@testable import Consensus

/// Everything a node has persisted; survives a simulated crash.
final class MemoryStorage: RaftStorage {
    var hardState = HardState()
    var membership: RaftMembership
    var log: [Entry] = [Entry(index: 0, term: 0)]
    var applied: UInt64 = 0
    /// The commit index as of the last synced persist. A Ready with `mustSync == false` carries
    /// only a commit change, which a runtime may write without fsync and lose in a crash.
    var syncedCommit: UInt64 = 0

    init(membership: RaftMembership) { self.membership = membership }

    func initialState() -> (HardState, RaftMembership) { (hardState, membership) }
    var lastIndex: UInt64 { UInt64(log.count - 1) }

    func term(at index: UInt64) -> UInt64? {
        index < UInt64(log.count) ? log[Int(index)].term : nil
    }

    func entries(from lo: UInt64, to hi: UInt64, maxBytes: Int) -> [Entry] {
        precondition(lo <= hi && hi <= UInt64(log.count))
        var result: [Entry] = []
        var bytes = 0
        for index in lo..<hi {
            let entry = log[Int(index)]
            if !result.isEmpty && bytes + entry.data.count > maxBytes { break }
            bytes += entry.data.count
            result.append(entry)
        }
        return result
    }

    /// Persist step of the runtime contract: truncate, append, hard state.
    func persist(_ ready: Ready) {
        if let first = ready.entries.first {
            precondition(first.index >= 1 && first.index <= UInt64(log.count), "gap")
            precondition(first.index > hardState.commit, "runtime asked to truncate committed entries")
            log.removeLast(log.count - Int(first.index))
            log.append(contentsOf: ready.entries)
        }
        if let hs = ready.hardState { hardState = hs }
        if ready.mustSync { syncedCommit = hardState.commit }
        assert(syncedCommit <= hardState.commit)
    }

    /// A crash lost the unsynced commit index. Like the node runtime, a restart takes the commit
    /// as at least the applied height, which is durable with the applied blocks.
    func loseUnsyncedCommit() {
        hardState.commit = max(syncedCommit, applied)
        syncedCommit = hardState.commit
        assert(hardState.commit <= lastIndex)
    }
}

/// One node: the core plus the runtime loop around it.
final class TestNode {
    let id: NodeID
    let storage: MemoryStorage
    var core: RaftCore<MemoryStorage>
    /// Applied entries in order (index 0 = genesis placeholder omitted).
    var appliedEntries: [Entry] = []
    var roleChanges: [(Role, NodeID?)] = []

    init(id: NodeID, storage: MemoryStorage, settings: RaftSettings) {
        self.id = id
        self.storage = storage
        self.core = RaftCore(settings: settings, storage: storage, appliedIndex: storage.applied)
    }

    /// Runs Ready/advance until idle; returns the messages to send. Bounded.
    func drain() -> [Message] {
        var out: [Message] = []
        var rounds = 0
        while core.hasReady {
            rounds += 1
            precondition(rounds < 1000, "ready loop does not settle")
            let rd = core.ready()
            storage.persist(rd)
            out.append(contentsOf: rd.messages)
            for entry in rd.committedEntries {
                precondition(entry.index == storage.applied + 1, "apply out of order")
                if let change = entry.confChange {
                    storage.membership = core.applyConfChange(change)
                }
                appliedEntries.append(entry)
                storage.applied = entry.index
            }
            if let change = rd.roleChanged { roleChanges.append((change.role, change.leader)) }
            core.advance(rd)
        }
        return out
    }
}

func makeSettings(_ id: NodeID, seed: UInt64) -> RaftSettings {
    var settings = RaftSettings(id: id, randomSeed: seed)
    settings.maxInflightAppends = 4
    settings.maxEntriesPerAppend = 8
    return settings
}

/// A whole cluster in memory with a perfect (but partitionable) network. No clock, no sockets.
final class Cluster {
    var nodes: [NodeID: TestNode] = [:]
    var ids: [NodeID] { nodes.keys.sorted() }
    /// Pairs that cannot talk (both directions are listed).
    var cut: Set<[NodeID]> = []
    var inFlight: [Message] = []

    init(voters: [NodeID], learners: [NodeID] = [], seed: UInt64 = 1) {
        let membership = RaftMembership(voters: Set(voters), learners: Set(learners))
        for (i, id) in (voters + learners).enumerated() {
            addNode(id, membership: membership, seed: seed &* 31 &+ UInt64(i))
        }
    }

    func addNode(_ id: NodeID, membership: RaftMembership, seed: UInt64) {
        nodes[id] = TestNode(id: id, storage: MemoryStorage(membership: membership), settings: makeSettings(id, seed: seed))
    }

    subscript(_ id: NodeID) -> TestNode { nodes[id]! }

    func isolate(_ id: NodeID) {
        for other in ids where other != id { cut.insert([id, other]); cut.insert([other, id]) }
    }

    func heal() { cut = [] }

    /// Delivers messages until the cluster is quiet; bounded.
    func stabilize(maxRounds: Int = 200) {
        for _ in 0..<maxRounds {
            for id in ids { inFlight.append(contentsOf: nodes[id]!.drain()) }
            if inFlight.isEmpty { return }
            let batch = inFlight
            inFlight = []
            for message in batch where !cut.contains([message.from, message.to]) {
                nodes[message.to]?.core.step(message)
            }
        }
        Issue.record("cluster did not stabilize")
    }

    func tick(_ count: Int = 1, only: [NodeID]? = nil) {
        for _ in 0..<count {
            for id in only ?? ids { nodes[id]!.core.tick() }
            stabilize()
        }
    }

    var leaders: [NodeID] { ids.filter { nodes[$0]!.core.status.role == .leader } }

    /// Ticks until exactly one leader exists among `among`; bounded.
    @discardableResult
    func electLeader(among: [NodeID]? = nil, maxTicks: Int = 200) -> NodeID? {
        let group = among ?? ids
        for _ in 0..<maxTicks {
            let current = group.filter { nodes[$0]!.core.status.role == .leader }
            if current.count == 1 { return current[0] }
            tick(only: group)
        }
        return nil
    }
}
