import Chain
import Consensus
import Dispatch
import Foundation
import Synchronization

/// The imperative shell around the consensus core: it owns the store and the Raft core on one
/// thread, turns the core's `Ready` into durable writes, applied blocks and (later) peer messages,
/// and cuts blocks from the mempool when this node leads.
///
/// Everything on `RuntimeLoop` runs on the runtime thread only; other threads talk to it through
/// `wake()` and the thread-safe `NodeState`.
final class NodeRuntime: Sendable {
    let state: NodeState
    let metrics: NodeMetrics
    let nodeId: String
    private let wakeSignal = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private let statusBox: Mutex<RaftStatusSnapshot>
    private let loop: Mutex<RuntimeLoop?>
    private let finished = DispatchSemaphore(value: 0)
    private let log = Logger(component: "runtime")

    init(settings: NodeSettings, store: ChainStore, nodeKey: KeyPair, state: NodeState, metrics: NodeMetrics) throws {
        self.state = state
        self.metrics = metrics
        nodeId = settings.node.id
        let membership = Membership(voters: [settings.node.id], learners: [])
        let view = try RaftLogView(store: store, membership: membership)
        var raft = RaftSettings(id: settings.node.id)
        raft.electionTimeoutTicks = max(2, settings.consensus.electionTimeoutMs / max(1, settings.consensus.heartbeatMs))
        raft.heartbeatIntervalTicks = 1
        raft.randomSeed = UInt64.random(in: 1...UInt64.max)
        let core = RaftCore(settings: raft, storage: view, appliedIndex: store.headHeight)
        statusBox = Mutex(RaftStatusSnapshot(role: "follower", term: 0, leader: nil, commitIndex: store.headHeight,
                                             lastIndex: view.lastIndex))
        loop = Mutex(RuntimeLoop(settings: settings, store: store, view: view, core: core, nodeKey: nodeKey))
    }

    var status: RaftStatusSnapshot { statusBox.withLock { $0 } }

    /// Starts the runtime thread.
    func start() {
        let thread = Thread { [self] in
            guard var l = loop.withLock({ $0.take() }) else { preconditionFailure("runtime started twice") }
            l.run(runtime: self)
            finished.signal()
        }
        thread.name = "runtime"
        thread.start()
    }

    /// Asks the runtime to look at the mempool or inbox now rather than at its next tick.
    func wake() { wakeSignal.signal() }

    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        wakeSignal.signal()
        finished.wait()
    }

    var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    fileprivate func waitForWork(timeoutNs: UInt64) {
        _ = wakeSignal.wait(timeout: .now() + .nanoseconds(Int(min(timeoutNs, 1_000_000_000))))
    }

    fileprivate func publish(_ snapshot: RaftStatusSnapshot) { statusBox.withLock { $0 = snapshot } }
}

/// What `/status` shows of consensus, copied out of the runtime thread after every round.
struct RaftStatusSnapshot: Sendable {
    var role: String
    var term: UInt64
    var leader: String?
    var commitIndex: UInt64
    var lastIndex: UInt64
}

/// The runtime thread's own state. Not shared: created on start, used only inside `run`.
struct RuntimeLoop: @unchecked Sendable {
    // Unchecked: moved into the runtime thread once (`Mutex.take`) and never touched elsewhere.
    let settings: NodeSettings
    let store: ChainStore
    let view: RaftLogView
    var core: RaftCore<RaftLogView>
    let nodeKey: KeyPair
    /// Blocks this node proposed that are not committed yet, by height, with their execution.
    var inflight: [UInt64: CommittedBlock] = [:]
    /// Account values after executing every in-flight block on top of committed state.
    var speculative: [Address: Account] = [:]
    var specHead: (height: UInt64, hash: Hash32, stateRoot: Hash32, timestamp: UInt64)
    var lastCutNs: UInt64 = 0
    let log = Logger(component: "runtime")

    init(settings: NodeSettings, store: ChainStore, view: RaftLogView, core: RaftCore<RaftLogView>, nodeKey: KeyPair) {
        self.settings = settings
        self.store = store
        self.view = view
        self.core = core
        self.nodeKey = nodeKey
        specHead = (store.headHeight, store.headHash, store.headStateRoot, 0)
    }

    mutating func run(runtime: NodeRuntime) {
        let tickNs = UInt64(settings.consensus.heartbeatMs) * 1_000_000
        var nextTick = monotonicNs() + tickNs
        core.campaign()
        while !runtime.isStopping {
            let now = monotonicNs()
            if now >= nextTick {
                core.tick()
                nextTick = now + tickNs
            }
            proposeBlocks(runtime)
            while core.hasReady {
                handleReady(runtime)
            }
            let blockWait = UInt64(settings.consensus.blockIntervalMs) * 1_000_000
            let wait = min(nextTick - min(nextTick, monotonicNs()), blockWait)
            runtime.waitForWork(timeoutNs: max(wait, 100_000))
        }
        log.info("runtime stopped", ["height": store.headHeight])
    }

    // MARK: block production (leader)

    mutating func proposeBlocks(_ runtime: NodeRuntime) {
        guard core.status.role == .leader else { return }
        let interval = UInt64(settings.consensus.blockIntervalMs) * 1_000_000
        while inflight.count < settings.consensus.maxInflightBlocks {
            let waiting = runtime.state.withLock { $0.mempool.readyCount }
            guard waiting > 0 else { return }
            let now = monotonicNs()
            guard waiting >= settings.consensus.maxBlockTxs || now - lastCutNs >= interval else { return }
            guard cutBlock(runtime) else { return }
            lastCutNs = now
        }
    }

    /// Takes ready transactions, executes them on the speculative state and proposes a block.
    mutating func cutBlock(_ runtime: NodeRuntime) -> Bool {
        let max = settings.consensus.maxBlockTxs
        let spec = speculative
        let selection = runtime.state.withLock { s -> (included: [Transaction], rejected: [(Transaction, TxRejection)], delta: StateDelta) in
            let candidates = s.mempool.takeReady(max: max)
            let base = OverlaySource(committed: s.accounts, speculative: spec)
            return Ledger.select(candidates: candidates, on: base, maxTxs: max)
        }
        dropRejected(selection.rejected, runtime)
        guard !selection.included.isEmpty else { return false }
        let height = specHead.height + 1
        let stateRoot = StateRoot.next(previous: specHead.stateRoot, changes: selection.delta.changes)
        let timestamp = Swift.max(wallClockMs(), specHead.timestamp)
        let block = Block.make(height: height, prevHash: specHead.hash, stateRoot: stateRoot, timestamp: timestamp,
                               term: core.status.term, txs: selection.included, proposerKey: nodeKey)
        do {
            let index = try core.propose(block.encode())
            precondition(index == height, "log index \(index) must equal block height \(height)")
        } catch {
            log.warn("proposal refused", ["reason": "\(error)"])
            runtime.state.withLock { $0.mempool.returnInFlight() }
            return false
        }
        inflight[height] = CommittedBlock(block: block, delta: selection.delta)
        for a in selection.delta.changes { speculative[a.address] = a }
        specHead = (height, block.hash, stateRoot, timestamp)
        return true
    }

    func dropRejected(_ rejected: [(Transaction, TxRejection)], _ runtime: NodeRuntime) {
        guard !rejected.isEmpty else { return }
        runtime.state.withLock { s in
            for (tx, _) in rejected { _ = s.mempool.drop(tx.hash) }
        }
        for (tx, reason) in rejected {
            runtime.metrics.txRejected.inc(1, reason.code)
            for w in runtime.state.takeWaiters(tx.hash) { w(.dropped(reason)) }
        }
    }

    // MARK: the Ready cycle

    mutating func handleReady(_ runtime: NodeRuntime) {
        let rd = core.ready()
        let started = monotonicNs()
        var committed: [CommittedBlock] = []
        do {
            committed = try executeCommitted(rd.committedEntries, runtime)
        } catch {
            haltLoudly("\(error)")
        }
        let records = rd.entries.map { LogRecord(index: $0.index, term: $0.term, data: $0.data, conf: $0.confChange?.record) }
        let hs = rd.hardState.map { (term: $0.term, vote: $0.vote, commit: $0.commit) }
        do {
            try store.persist(StoreBatch(hardState: hs, logEntries: records, committed: committed))
        } catch {
            haltLoudly("cannot persist: \(error)")
        }
        view.didPersist(records)
        // Peer messages go out here once the cluster issue lands; a single voter sends none.
        publishCommitted(committed, runtime, startedNs: started)
        core.advance(rd)
        if rd.roleChanged != nil || !committed.isEmpty || rd.hardState != nil {
            let st = core.status
            if st.role != .leader, !inflight.isEmpty { abandonInflight(runtime) }
            runtime.publish(RaftStatusSnapshot(role: st.role.rawValue, term: st.term, leader: st.leader,
                                               commitIndex: st.commit, lastIndex: st.lastIndex))
        }
    }

    /// Turns committed entries into blocks with their state changes: our own proposals were
    /// executed when cut; anything else is decoded, verified and executed here.
    mutating func executeCommitted(_ entries: [Entry], _ runtime: NodeRuntime) throws -> [CommittedBlock] {
        var out: [CommittedBlock] = []
        var prev = (hash: store.headHash, stateRoot: store.headStateRoot)
        var overlay: [Address: Account] = [:]
        for e in entries where e.index > store.headHeight {
            if let mine = inflight.removeValue(forKey: e.index) {
                out.append(mine)
                prev = (mine.block.hash, mine.block.header.stateRoot)
                for a in mine.delta.changes { overlay[a.address] = a }
                continue
            }
            let block = try Block.decode(e.data)
            try checkLinkage(block, index: e.index, term: e.term, prevHash: prev.hash)
            let valid = Transaction.verifyAll(block.txs)
            if let bad = valid.firstIndex(of: false) {
                throw RuntimeFault.badBlock(height: e.index, reason: "tx \(bad) has a bad signature")
            }
            let base = runtime.state.withLock { s in OverlaySource(committed: s.accounts, speculative: overlay) }
            let delta = try Ledger.execute(block: block.txs, on: base)
            let root = StateRoot.next(previous: prev.stateRoot, changes: delta.changes)
            guard root == block.header.stateRoot else {
                throw RuntimeFault.stateRootMismatch(height: e.index, expected: block.header.stateRoot, computed: root)
            }
            out.append(CommittedBlock(block: block, delta: delta))
            prev = (block.hash, root)
            for a in delta.changes { overlay[a.address] = a }
        }
        return out
    }

    func checkLinkage(_ block: Block, index: UInt64, term: UInt64, prevHash: Hash32) throws {
        guard block.header.height == index, block.header.term == term, block.header.prevHash == prevHash else {
            throw RuntimeFault.badBlock(height: index, reason: "does not link to the previous block")
        }
        try block.checkStructure()
        guard block.verifyProposerSignature() else {
            throw RuntimeFault.badBlock(height: index, reason: "bad proposer signature")
        }
    }

    /// Moves committed state into the shared view and answers everyone waiting on these blocks.
    func publishCommitted(_ committed: [CommittedBlock], _ runtime: NodeRuntime, startedNs: UInt64) {
        guard let last = committed.last else { return }
        let head = HeadInfo(header: last.block.header, hash: last.block.hash,
                            headBody: NodeAPI.headBody(chainId: runtime.state.chainId, block: last.block))
        let txs = committed.flatMap { $0.block.txs }
        let (done, waiters) = runtime.state.withLock { s in
            for c in committed { for a in c.delta.changes { s.accounts[a.address] = a } }
            let accounts = s.accounts
            let done = s.mempool.committed(txs, accounts: { accounts[$0] ?? Account(address: $0, balance: 0, nonce: 0) })
            s.head = head
            var fired: [(UInt64, [@Sendable (CommitOutcome) -> Void])] = []
            for c in committed {
                for tx in c.block.txs {
                    if let list = s.waiters.removeValue(forKey: tx.hash) {
                        s.waiterCount -= list.count
                        fired.append((c.block.header.height, list))
                    }
                }
            }
            return (done, fired)
        }
        for (height, list) in waiters { for w in list { w(.committed(height: height)) } }
        let now = monotonicNs()
        for (_, arrival) in done {
            runtime.metrics.submitToCommit.observe(Double(now &- arrival) / 1e9)
        }
        runtime.metrics.blocksCommitted.inc(Double(committed.count))
        runtime.metrics.txsCommitted.inc(Double(txs.count))
        runtime.metrics.height.set(Double(last.block.header.height))
        runtime.metrics.blockApply.observe(Double(now - startedNs) / 1e9)
        if committed.count > 0 {
            log.debug("committed", ["height": last.block.header.height, "blocks": committed.count, "txs": txs.count])
        }
    }

    /// Leadership lost: blocks we proposed may still commit under the next leader, but we stop
    /// building on them; their transactions go back to the ready queue.
    mutating func abandonInflight(_ runtime: NodeRuntime) {
        inflight.removeAll()
        speculative.removeAll()
        specHead = (store.headHeight, store.headHash, store.headStateRoot, specHead.timestamp)
        runtime.state.withLock { $0.mempool.returnInFlight() }
    }

    func haltLoudly(_ reason: String) -> Never {
        log.error("HALT: consensus state cannot be trusted; stopping the node", ["reason": reason])
        fatalError("autochain runtime halted: \(reason)")
    }
}

/// Committed accounts with the speculative (in-flight) changes layered on top.
struct OverlaySource: AccountSource {
    let committed: [Address: Account]
    let speculative: [Address: Account]
    func account(_ address: Address) -> Account {
        speculative[address] ?? committed[address] ?? Account(address: address, balance: 0, nonce: 0)
    }
}

enum RuntimeFault: Error, CustomStringConvertible {
    case badBlock(height: UInt64, reason: String)
    case stateRootMismatch(height: UInt64, expected: Hash32, computed: Hash32)

    var description: String {
        switch self {
        case .badBlock(let h, let r): "block \(h) rejected: \(r)"
        case .stateRootMismatch(let h, let e, let c): "stateRoot mismatch at height \(h): block says \(e.hex), execution gives \(c.hex)"
        }
    }
}

/// Nanoseconds on a clock that never goes backwards.
func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Milliseconds since the Unix epoch, for block timestamps.
func wallClockMs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1_000 + UInt64(ts.tv_nsec) / 1_000_000
}
