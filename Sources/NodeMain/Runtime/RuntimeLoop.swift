import Chain
import Consensus
import Foundation

/// The runtime thread's own state. Not shared: moved into the thread once and used only there.
struct RuntimeLoop: @unchecked Sendable {
    // Unchecked: handed to the runtime thread through `Mutex.take()` and never touched elsewhere;
    // `ownerThread` checks that on every round.
    let settings: NodeSettings
    let store: ChainStore
    let view: RaftLogView
    var core: RaftCore<RaftLogView>
    let nodeKey: KeyPair
    /// Fresh node that starts a new cluster (proposes the bootstrap block as its first act).
    var bootstrapping: Bool
    /// Fresh node that asks the cluster to add it (`--join`), until it is a member.
    var joining: Bool
    /// Blocks in the log above the committed head, executed, by height (our proposals and, after
    /// an election, the earlier leader's uncommitted ones).
    var inflight: [UInt64: CommittedBlock] = [:]
    /// Account values after executing every in-flight block on top of committed state.
    var speculative: [Address: Account] = [:]
    /// The membership after every in-flight block.
    var specMembership: ClusterMembership
    var specHead: (height: UInt64, hash: Hash32, stateRoot: Hash32, timestamp: UInt64)
    var lastCutNs: UInt64 = 0
    var sync = BlockSync()
    var caughtUpSinceNs: [String: UInt64] = [:]
    var lastJoinAttemptNs: UInt64 = 0
    var lastEvictionNs: UInt64 = 0
    /// When each kind of refused Raft message or evidence was last logged (one line per second each).
    var peerFaultLogged = PeerFaultLog()
    var transferWaiters: [(deadlineNs: UInt64, done: @Sendable (Bool) -> Void)] = []
    /// A write the disk refused, kept to be retried as it was. While set the node is degraded:
    /// the core is frozen (no ticks, no messages in, nothing out), so nothing derived from the
    /// unwritten state (an acknowledgement, a vote, a commit) can leave the node.
    var stalled: StalledWrite?
    var ownerThread: Thread?
    let log = Logger(component: "runtime")

    init(settings: NodeSettings, store: ChainStore, view: RaftLogView, core: RaftCore<RaftLogView>, nodeKey: KeyPair,
         bootstrapping: Bool, joining: Bool) {
        self.settings = settings
        self.store = store
        self.view = view
        self.core = core
        self.nodeKey = nodeKey
        self.bootstrapping = bootstrapping
        self.joining = joining
        specMembership = store.membership
        specHead = (store.headHeight, store.headHash, store.headStateRoot, 0)
        sync.requestTimeoutNs = UInt64(settings.p2p.syncRequestTimeoutMs) * 1_000_000
        sync.ignorePeerNs = UInt64(settings.p2p.syncIgnorePeerMs) * 1_000_000
    }

    mutating func run(runtime: NodeRuntime) {
        ownerThread = Thread.current
        let tickNs = UInt64(settings.consensus.heartbeatMs) * 1_000_000
        var nextTick = monotonicNs() + tickNs
        if bootstrapping { core.campaign() }
        if store.membership.voters == [settings.node.id] { core.campaign() }
        while !runtime.isStopping {
            precondition(ownerThread === Thread.current, "runtime state used off its thread")
            if stalled != nil {
                for event in runtime.takeEvents() { handleWhileStalled(event, runtime) }
                retryStalledWrite(runtime, now: monotonicNs())
                if let s = stalled {
                    runtime.waitForWork(timeoutNs: max(s.backoff.nextAttemptNs - min(s.backoff.nextAttemptNs, monotonicNs()), 1_000_000))
                    continue
                }
                nextTick = monotonicNs() + tickNs
            }
            for event in runtime.takeEvents() { handle(event, runtime) }
            let now = monotonicNs()
            if now >= nextTick {
                core.tick()
                nextTick = now + tickNs
                periodic(runtime, now: now)
            }
            // A Ready first: an election just won appends the term-start entry and changes the
            // role, and the speculative head must be rebuilt on it before any block is cut.
            while stalled == nil, core.hasReady { handleReady(runtime) }
            if stalled == nil { leaderDuties(runtime) }
            while stalled == nil, core.hasReady { handleReady(runtime) }
            if stalled == nil { syncDuties(runtime) }
            let blockWait = UInt64(settings.consensus.blockIntervalMs) * 1_000_000
            let wait = min(nextTick - min(nextTick, monotonicNs()), blockWait)
            runtime.waitForWork(timeoutNs: max(wait, 100_000))
        }
        log.info("runtime stopped", ["height": store.headHeight])
    }

    mutating func handle(_ event: RuntimeEvent, _ runtime: NodeRuntime) {
        switch event {
        case .raft(let m):
            // While block sync writes committed blocks underneath the core, appends would race
            // it; they are dropped (Raft retries) and replication resumes when sync hands over.
            if sync.active, case .append = m.kind {
                sync.noteLeaderCommit(m, now: monotonicNs())
                return
            }
            if let reason = core.step(m) { noteRefused(m, reason, runtime) }
        case .join(let id, let key, let from):
            answerJoin(id: id, key: key, from: from, runtime)
        case .membership(let change, let reply):
            reply(proposeMembership(change, runtime))
        case .transferLeadership(let to, let done):
            transferLeadership(to: to, done: done)
        case .blocks(let blocks, let from):
            let asked = sync.received(blocks, from: from)
            if asked.isEmpty, !blocks.isEmpty {
                runtime.metrics.peerRefused.inc(1, "unsolicited_blocks")
            } else {
                runtime.syncSignatures.start(asked)
            }
        case .peerHeight(let peer, let height):
            sync.observe(peer: peer, height: height, now: monotonicNs())
        }
    }

    /// Once per tick: joining, promotions, transfer deadlines, status.
    mutating func periodic(_ runtime: NodeRuntime, now: UInt64) {
        if joining { askToJoin(runtime, now: now) }
        if core.status.role == .leader { autoPromote(runtime, now: now) }
        evictStale(runtime, now: now)
        transferWaiters.removeAll { w in
            if core.status.role != .leader { w.done(true); return true }
            if now > w.deadlineNs { w.done(false); return true }
            return false
        }
        publishStatus(runtime)
    }

    /// Transactions stuck behind a nonce gap for `futureTtlS` leave the mempool (once a second).
    mutating func evictStale(_ runtime: NodeRuntime, now: UInt64) {
        guard now - lastEvictionNs >= 1_000_000_000 else { return }
        lastEvictionNs = now
        let ttlNs = UInt64(settings.mempool.futureTtlS) * 1_000_000_000
        guard now > ttlNs else { return }
        let evicted = runtime.state.withLock { $0.mempool.evictStale(arrivedBefore: now - ttlNs) }
        guard !evicted.isEmpty else { return }
        log.info("evicted transactions stuck behind a nonce gap", ["count": evicted.count])
        for tx in evicted {
            runtime.metrics.txRejected.inc(1, "expired")
            for w in runtime.state.takeWaiters(tx.hash) { w.fire(.dropped(.expired(seconds: settings.mempool.futureTtlS))) }
        }
    }

    // MARK: the Ready cycle

    mutating func handleReady(_ runtime: NodeRuntime) {
        let rd = core.ready()
        for evidence in rd.evidence { noteEvidence(evidence, runtime) }
        let started = monotonicNs()
        var committed: [CommittedBlock] = []
        var membership = store.membership
        do {
            committed = try executeCommitted(rd.committedEntries, membership: &membership, runtime)
        } catch {
            haltLoudly("\(error)")
        }
        // Entries at or below the committed head are already stored as blocks (block sync may
        // have written them under the core); they must agree with what is stored.
        for e in rd.entries where e.index <= store.headHeight {
            if let t = view.term(at: e.index), t != e.term {
                haltLoudly("log entry \(e.index) of term \(e.term) conflicts with committed block of term \(t)")
            }
        }
        let records = rd.entries.filter { $0.index > store.headHeight }
            .map { LogRecord(index: $0.index, term: $0.term, data: $0.data, conf: $0.confChange?.record) }
        let hs = rd.hardState.map { (term: $0.term, vote: $0.vote, commit: $0.commit) }
        let changed = membership != store.membership ? membership : nil
        write(StoreBatch(hardState: hs, logEntries: records, committed: committed, membership: changed),
              then: .round(rd, records: records, committed: committed, startedNs: started), runtime)
    }

    /// The rest of a consensus round once its write is durable: entries visible to the core,
    /// messages out, blocks published, the core advanced.
    mutating func finishRound(_ rd: Ready, records: [LogRecord], committed: [CommittedBlock], startedNs started: UInt64,
                              _ runtime: NodeRuntime) {
        view.didPersist(records)
        // Blocks of other proposers (replicated to this node) are checked ahead on the other cores,
        // started at the door; this catches any the door did not see (kept checks are not redone).
        let foreign = records.filter { inflight[$0.index] == nil && !$0.data.isEmpty }
        if !foreign.isEmpty { runtime.entryChecks.start(foreign.map { ($0.index, $0.term, $0.data, nil) }) }
        if !rd.messages.isEmpty, let t = runtime.transport.withLock({ $0 }) {
            for m in rd.messages { t.send(raft: m) }
        }
        publishCommitted(committed, runtime, startedNs: started)
        if runtime.entryChecks.pending > 0 { runtime.entryChecks.forget(through: store.headHeight) }
        core.advance(rd)
        for c in committed {
            guard let change = c.block.membership else { continue }
            applyToCore(change)
        }
        if rd.roleChanged != nil { roleChanged(runtime) }
        if rd.roleChanged != nil || !committed.isEmpty || rd.hardState != nil { publishStatus(runtime) }
    }

    /// Feeds an applied membership block to the core; bootstrap becomes "add, then promote" so
    /// that a node replaying the chain reaches the same configuration as the node that wrote it.
    mutating func applyToCore(_ change: MembershipChange) {
        switch change.kind {
        case .bootstrap:
            if !core.status.membership.voters.contains(change.nodeId) {
                _ = core.applyConfChange(.addLearner(change.nodeId))
                _ = core.applyConfChange(.promote(change.nodeId))
            }
        case .addLearner: _ = core.applyConfChange(.addLearner(change.nodeId))
        case .promote: _ = core.applyConfChange(.promote(change.nodeId))
        case .remove: _ = core.applyConfChange(.remove(change.nodeId))
        }
        if joining, store.membership.contains(settings.node.id) {
            joining = false
            log.info("joined the cluster", ["as": store.membership.voters.contains(settings.node.id) ? "voter" : "learner"])
        }
    }

    /// Turns committed entries into blocks with their state changes: blocks this node executed
    /// when it cut them (or after an election) are ready; anything else is decoded, checked and
    /// executed here, halting on any disagreement.
    mutating func executeCommitted(_ entries: [Entry], membership: inout ClusterMembership, _ runtime: NodeRuntime) throws -> [CommittedBlock] {
        var out: [CommittedBlock] = []
        var prev = (hash: store.headHash, stateRoot: store.headStateRoot)
        var overlay: [Address: Account] = [:]
        for e in entries where e.index > store.headHeight {
            let c: CommittedBlock
            if let mine = inflight.removeValue(forKey: e.index) {
                c = mine
            } else if let checked = runtime.entryChecks.take(index: e.index, term: e.term, data: e.data) {
                c = try BlockCheck.verifyAndExecute(checked.block, index: e.index, term: e.term, prevHash: prev.hash,
                                                    prevStateRoot: prev.stateRoot, membership: membership,
                                                    accounts: runtime.state.accountSource(overlay: overlay),
                                                    signaturesValid: checked.valid)
            } else {
                c = try BlockCheck.verifyAndExecute(try Block.decode(e.data), index: e.index, term: e.term, prevHash: prev.hash,
                                                    prevStateRoot: prev.stateRoot, membership: membership,
                                                    accounts: runtime.state.accountSource(overlay: overlay))
            }
            if let change = c.block.membership { membership = membership.applying(change) }
            out.append(c)
            prev = (c.block.hash, c.block.header.stateRoot)
            for a in c.delta.changes { overlay[a.address] = a }
        }
        return out
    }

    /// Moves committed state into the shared view and answers everyone waiting on these blocks.
    func publishCommitted(_ committed: [CommittedBlock], _ runtime: NodeRuntime, startedNs: UInt64) {
        guard let last = committed.last else { return }
        let head = HeadInfo(header: last.block.header, hash: last.block.hash,
                            headBody: NodeAPI.headBody(chainId: runtime.state.chainId, block: last.block))
        let txs = committed.flatMap { $0.block.txs }
        let membership = store.membership
        let (done, waiters) = runtime.state.withLock { s in
            for c in committed { for a in c.delta.changes { s.accounts[a.address] = a } }
            s.membership = membership
            let accounts = s.accounts
            let done = s.mempool.committed(txs, accounts: { accounts[$0] ?? Account(address: $0, balance: 0, nonce: 0) })
            s.head = head
            var fired: [(UInt64, [CommitWaiter])] = []
            if s.waiterCount > 0 {
                for c in committed {
                    for tx in c.block.txs {
                        if let list = s.waiters.removeValue(forKey: tx.hash) {
                            s.waiterCount -= list.count
                            fired.append((c.block.header.height, list))
                        }
                    }
                }
            }
            return (done, fired)
        }
        // Metrics first: a client answered below may read /metrics at once.
        let now = monotonicNs()
        for (_, arrival) in done {
            let seconds = Double(now &- arrival) / 1e9
            runtime.metrics.submitToCommit.observe(seconds)
            runtime.metrics.recentSubmitToCommit.observe(seconds)
        }
        runtime.metrics.blocksCommitted.inc(Double(committed.count))
        runtime.metrics.txsCommitted.inc(Double(txs.count))
        runtime.metrics.height.set(Double(last.block.header.height))
        runtime.metrics.blockApply.observe(Double(now - startedNs) / 1e9)
        for (height, list) in waiters { for w in list { w.fire(.committed(height: height)) } }
    }

    mutating func roleChanged(_ runtime: NodeRuntime) {
        let st = core.status
        log.info("role changed", ["role": st.role.rawValue, "term": st.term, "leader": st.leader ?? "-"])
        runtime.metrics.isLeader.set(st.role == .leader ? 1 : 0)
        runtime.metrics.raftTerm.set(Double(st.term))
        if st.role == .leader {
            rebuildSpeculation(runtime)
        } else if !inflight.isEmpty || specHead.height != store.headHeight {
            inflight.removeAll()
            speculative.removeAll()
            specMembership = store.membership
            specHead = (store.headHeight, store.headHash, store.headStateRoot, specHead.timestamp)
            runtime.state.withLock { $0.mempool.returnInFlight() }
        }
    }

    func publishStatus(_ runtime: NodeRuntime) {
        let st = core.status
        runtime.metrics.raftTerm.set(Double(st.term))
        runtime.metrics.isLeader.set(st.role == .leader ? 1 : 0)
        runtime.publish(RuntimeStatus(role: st.role, term: st.term, leader: st.leader, commitIndex: st.commit,
                                      lastIndex: st.lastIndex, membership: store.membership, syncTarget: sync.target,
                                      syncing: sync.active, progress: st.peers.mapValues { $0.match }))
    }

    func haltLoudly(_ reason: String) -> Never {
        log.error("HALT: consensus state cannot be trusted; stopping the node", ["reason": reason])
        fatalError("autochain runtime halted: \(reason)")
    }
}
