import Chain
import Consensus

// The Ready cycle: one durable write per round, then messages, published blocks, the core advanced.
extension RuntimeCore {
    /// True when the Raft core has a round to hand out (and no write is outstanding).
    public var hasReady: Bool { !halted && pendingWrite == nil && raft.hasReady }

    /// Takes the Raft core's Ready: executes the committed entries (halting on any disagreement)
    /// and asks for their write, with the new log entries and hard state, as one batch.
    public mutating func readyRound(now: RuntimeTime) -> [RuntimeEffect] {
        precondition(hasReady, "readyRound without a Ready")
        view.wallClockMs = now.wallMs
        let rd = raft.ready()
        var effects: [RuntimeEffect] = rd.evidence.map { .evidence($0) }
        var committed: [CommittedBlock] = []
        var membership = store.membership
        do {
            committed = try executeCommitted(rd.committedEntries, membership: &membership)
        } catch {
            return effects + halt("\(error)")
        }
        // Entries at or below the committed head are already stored as blocks (block sync may
        // have written them under the core); they must agree with what is stored.
        for e in rd.entries where e.index <= store.headHeight {
            if let t = view.term(at: e.index), t != e.term {
                return effects + halt("log entry \(e.index) of term \(e.term) conflicts with committed block of term \(t)")
            }
        }
        let records = rd.entries.filter { $0.index > store.headHeight }
            .map { LogRecord(index: $0.index, term: $0.term, data: $0.data, conf: $0.confChange?.record) }
        let hs = rd.hardState.map { (term: $0.term, vote: $0.vote, commit: $0.commit) }
        let changed = membership != store.membership ? membership : nil
        pendingWrite = .round(rd, records: records, committed: committed, startedNs: now.monotonicNs)
        effects.append(.persist(StoreBatch(hardState: hs, logEntries: records, committed: committed, membership: changed)))
        return effects
    }

    /// The last `persist` is durable: the log view sees it, and the round's messages go out and
    /// its committed blocks are published. Call `applied(now:)` once these are performed.
    public mutating func persisted(now: RuntimeTime) -> [RuntimeEffect] {
        guard let pending = pendingWrite else { preconditionFailure("persisted without a write") }
        switch pending {
        case .round(let rd, let records, let committed, let started):
            view.didPersist(records)
            var effects: [RuntimeEffect] = []
            // Blocks of other proposers (replicated to this node) are checked ahead on the other
            // cores, started at the door; this catches any the door did not see. Not a block this
            // round already committed: it was executed in `ready` (a lone leader's own blocks
            // commit in the round that appends them, after they left `inflight`), so checking it
            // again would only verify every signature a second time for nothing.
            let committedThrough = committed.last?.block.header.height ?? 0
            let foreign = records.filter { $0.index > committedThrough && inflight[$0.index] == nil && !$0.data.isEmpty }
            if !foreign.isEmpty { effects.append(.precheckEntries(foreign)) }
            // Committed blocks are published before any message leaves: a client told "committed"
            // by a follower (which learns the commit from these messages) then finds the leader
            // already serving that state (its balances, its mempool's nonces), never behind it.
            if !committed.isEmpty { effects.append(.publish(committed, startedNs: started)) }
            if !rd.messages.isEmpty { effects.append(.send(rd.messages)) }
            effects.append(.forgetPrechecks(through: store.headHeight))
            pendingWrite = .applying(rd, committed: committed)
            return effects
        case .synced(let committed, let started):
            view.didPersist([])
            // From the check of these blocks to their write the runtime took no replies: no
            // peer is judged on that time.
            sync.wasBusy(fromNs: started, toNs: now.monotonicNs)
            pendingWrite = .appliedSynced
            return [.publish(committed, startedNs: started)]
        case .applying, .appliedSynced:
            preconditionFailure("persisted twice")
        }
    }

    /// The effects of `persisted` are performed: the Raft core advances, applied membership
    /// changes reach it, and a role change rebuilds (or drops) speculation.
    public mutating func applied(now: RuntimeTime) -> [RuntimeEffect] {
        guard let pending = pendingWrite else { preconditionFailure("applied without a write") }
        pendingWrite = nil
        view.wallClockMs = now.wallMs
        guard case .applying(let rd, let committed) = pending else {
            if case .appliedSynced = pending { return [] }
            preconditionFailure("applied before persisted")
        }
        var effects: [RuntimeEffect] = []
        raft.advance(rd)
        for c in committed {
            guard let change = c.block.membership else { continue }
            effects += applyToCore(change)
        }
        if rd.roleChanged != nil { effects += roleChanged() }
        if halted { return effects }
        if rd.roleChanged != nil || !committed.isEmpty || rd.hardState != nil { effects.append(.publishStatus) }
        return effects
    }

    /// Feeds an applied membership block to the core; bootstrap becomes "add, then promote" so
    /// that a node replaying the chain reaches the same configuration as the node that wrote it.
    mutating func applyToCore(_ change: MembershipChange) -> [RuntimeEffect] {
        switch change.kind {
        case .bootstrap:
            if !raft.status.membership.voters.contains(change.nodeId) {
                _ = raft.applyConfChange(.addLearner(change.nodeId))
                _ = raft.applyConfChange(.promote(change.nodeId))
            }
        case .addLearner: _ = raft.applyConfChange(.addLearner(change.nodeId))
        case .promote: _ = raft.applyConfChange(.promote(change.nodeId))
        case .remove: _ = raft.applyConfChange(.remove(change.nodeId))
        }
        guard joining, store.membership.contains(settings.nodeId) else { return [] }
        joining = false
        return [.log(.info, "joined the cluster", ["as": store.membership.voters.contains(settings.nodeId) ? "voter" : "learner"])]
    }

    /// Turns committed entries into blocks with their state changes: blocks this node executed
    /// when it cut them (or after an election) are ready; anything else is decoded, checked and
    /// executed here, throwing on any disagreement.
    mutating func executeCommitted(_ entries: [Entry], membership: inout ClusterMembership) throws -> [CommittedBlock] {
        var out: [CommittedBlock] = []
        var prev = (hash: store.headHash, stateRoot: store.headStateRoot)
        var overlay: [Address: Account] = [:]
        for e in entries where e.index > store.headHeight {
            let c: CommittedBlock
            if let mine = inflight.removeValue(forKey: e.index) {
                c = mine
            } else {
                let checked = reads.takeCheckedEntry(index: e.index, term: e.term, data: e.data)
                let block = try checked?.block ?? Block.decode(e.data)
                c = try BlockCheck.verifyAndExecute(block, index: e.index, term: e.term, prevHash: prev.hash,
                                                    prevStateRoot: prev.stateRoot, membership: membership,
                                                    accounts: reads.accounts(overlay: overlay),
                                                    signaturesValid: checked?.valid ?? trustedTransfers(of: block, membership: membership))
            }
            if let change = c.block.membership { membership = membership.applying(change) }
            out.append(c)
            prev = (c.block.hash, c.block.header.stateRoot)
            for a in c.delta.changes { overlay[a.address] = a }
        }
        return out
    }

    /// True when the transfer signatures of the replicated `block` may go unchecked
    /// (`ReplicatedTransferTrust`: signed by the leader of this node's current term); nil: verify.
    func trustedTransfers(of block: Block, membership: ClusterMembership) -> Bool? {
        let leader = raft.leader(ofTerm: block.header.term)
        let trusted = ReplicatedTransferTrust.allows(block, leader: leader, selfId: settings.nodeId, membership: membership,
                                                     policy: settings.replicatedTransferSignatures)
        return trusted ? true : nil
    }

    /// A leader rebuilds speculation on its log; any other role drops it.
    mutating func roleChanged() -> [RuntimeEffect] {
        var effects: [RuntimeEffect] = [.roleChanged(raft.status)]
        if raft.role == .leader {
            effects += rebuildSpeculation()
        } else if !inflight.isEmpty || specHead.height != store.headHeight {
            resetSpeculation()
            effects.append(.returnInFlightTransactions)
        }
        return effects
    }

    mutating func resetSpeculation() {
        inflight.removeAll()
        speculative.removeAll()
        specMembership = store.membership
        specHead = (store.headHeight, store.headHash, store.headStateRoot, specHead.timestamp)
    }
}
