import Chain
import Consensus
import NodeCore

// Performing the core's effects: the only place the runtime thread touches the shared state,
// the transport, the metrics and the log on the core's behalf.
extension RuntimeLoop {
    /// Performs `effects` in order. A `persist` is the last of its list; once durable, the effects
    /// of `persisted` and `applied` follow (or, when the disk refuses, the core stalls).
    mutating func perform(_ effects: [RuntimeEffect], _ runtime: NodeRuntime) {
        for (i, effect) in effects.enumerated() {
            switch effect {
            case .persist(let batch):
                precondition(i == effects.count - 1, "a persist ends its list of effects")
                write(batch, runtime)
            case .send(let messages):
                if let t = runtime.transport.withLock({ $0 }) { for m in messages { t.send(raft: m) } }
            case .publish(let committed, let startedNs):
                publishCommitted(committed, runtime, startedNs: startedNs)
            case .precheckEntries(let records):
                runtime.entryChecks.start(records.map { ($0.index, $0.term, $0.data, nil) })
            case .forgetPrechecks(let height):
                if runtime.entryChecks.pending > 0 { runtime.entryChecks.forget(through: height) }
            case .precheckSyncedBlocks(let blocks):
                runtime.syncSignatures.start(blocks)
            case .clearSyncedPrechecks:
                runtime.syncSignatures.clear()
            case .returnInFlightTransactions:
                runtime.state.withLock { $0.mempool.returnInFlight() }
            case .dropTransactions(let rejected):
                dropRejected(rejected, runtime)
            case .evictStaleTransactions(let before):
                evictStale(arrivedBefore: before, runtime)
            default:
                performMessaging(effect, runtime)
            }
        }
    }

    /// Effects that answer callers and peers, or report.
    private mutating func performMessaging(_ effect: RuntimeEffect, _ runtime: NodeRuntime) {
        switch effect {
        case .answerJoin(let peer, let nodeId, let accepted, let reason, let leaderHint):
            runtime.transport.withLock { $0 }?.answerJoin(to: peer, nodeId: nodeId, accepted: accepted, reason: reason,
                                                          leaderHint: leaderHint)
        case .requestJoin:
            (runtime.transport.withLock { $0 } as? PeerTransport)?.requestJoin()
        case .requestBlocks(let from, let count, let peer):
            let sent = runtime.transport.withLock { $0 }?.requestBlocks(from: from, count: count, peer: peer) ?? false
            if !sent { core.blockRequestFailed(from: from) }
        case .answerMembership(let request, let outcome):
            membershipReplies.removeValue(forKey: request)?(outcome)
        case .answerTransfer(let request, let moved):
            transferReplies.removeValue(forKey: request)?(moved)
        case .roleChanged(let st):
            log.info("role changed", ["role": st.role.rawValue, "term": st.term, "leader": st.leader ?? "-"])
            runtime.metrics.isLeader.set(st.role == .leader ? 1 : 0)
            runtime.metrics.raftTerm.set(Double(st.term))
        case .publishStatus:
            publishStatus(runtime)
        case .refused(let m, let reason):
            noteRefused(m, reason, runtime)
        case .evidence(let e):
            noteEvidence(e, runtime)
        case .unsolicitedBlocks:
            runtime.metrics.peerRefused.inc(1, "unsolicited_blocks")
        case .log(let level, let message, let fields):
            log.log(level, { message }, fields)
        case .halt(let reason):
            fatalError("autochain runtime halted: \(reason)")
        case .persist, .send, .publish, .precheckEntries, .forgetPrechecks, .precheckSyncedBlocks, .clearSyncedPrechecks,
             .returnInFlightTransactions, .dropTransactions, .evictStaleTransactions:
            preconditionFailure("state effect \(effect) handled by perform")
        }
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

    func dropRejected(_ rejected: [(Transaction, TxRejection)], _ runtime: NodeRuntime) {
        guard !rejected.isEmpty else { return }
        runtime.state.withLock { s in for (tx, _) in rejected { _ = s.mempool.drop(tx.hash) } }
        for (tx, reason) in rejected {
            runtime.metrics.txRejected.inc(1, reason.code)
            for w in runtime.state.takeWaiters(tx.hash) { w.fire(.dropped(reason)) }
        }
    }

    /// Transactions stuck behind a nonce gap for `futureTtlS` leave the mempool.
    func evictStale(arrivedBefore: UInt64, _ runtime: NodeRuntime) {
        let evicted = runtime.state.withLock { $0.mempool.evictStale(arrivedBefore: arrivedBefore) }
        guard !evicted.isEmpty else { return }
        log.info("evicted transactions stuck behind a nonce gap", ["count": evicted.count])
        for tx in evicted {
            runtime.metrics.txRejected.inc(1, "expired")
            for w in runtime.state.takeWaiters(tx.hash) { w.fire(.dropped(.expired(seconds: settings.mempool.futureTtlS))) }
        }
    }

    func publishStatus(_ runtime: NodeRuntime) {
        let st = core.status
        runtime.metrics.raftTerm.set(Double(st.term))
        runtime.metrics.isLeader.set(st.role == .leader ? 1 : 0)
        runtime.publish(RuntimeStatus(role: st.role, term: st.term, leader: st.leader, commitIndex: st.commit,
                                      lastIndex: st.lastIndex, membership: store.membership, syncTarget: core.sync.target,
                                      syncing: core.sync.active, progress: st.peers.mapValues { $0.match }))
    }
}
