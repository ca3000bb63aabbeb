import Chain
import Consensus
import Foundation

/// What only the leader does: cut blocks, write membership changes, answer joins, promote
/// caught-up learners, hand leadership over.
extension RuntimeLoop {
    mutating func leaderDuties(_ runtime: NodeRuntime) {
        guard core.status.role == .leader else { return }
        if store.headHeight == 0 && specHead.height == 0 {
            let change = MembershipChange(kind: .bootstrap, nodeId: settings.node.id, nodeKey: nodeKey.publicKey)
            if case .refused(let why) = proposeMembership(change, runtime) { log.warn("bootstrap refused", ["reason": why]) }
            return
        }
        proposeBlocks(runtime)
    }

    mutating func proposeBlocks(_ runtime: NodeRuntime) {
        // Blocks extend the speculative head, which must be the log's last entry; right after an
        // election it is not until the role change is handled (handleReady rebuilds it).
        guard specHead.height == core.status.lastIndex else {
            log.debug("not cutting: speculation behind the log", ["spec": specHead.height, "last": core.status.lastIndex])
            return
        }
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
            return Ledger.select(candidates: candidates, on: OverlaySource(committed: s.accounts, speculative: spec), maxTxs: max)
        }
        dropRejected(selection.rejected, runtime)
        guard !selection.included.isEmpty else { return false }
        let stateRoot = StateRoot.next(previous: specHead.stateRoot, changes: selection.delta.changes)
        let block = Block.make(height: specHead.height + 1, prevHash: specHead.hash, stateRoot: stateRoot,
                               timestamp: Swift.max(wallClockMs(), specHead.timestamp), term: core.status.term,
                               txs: selection.included, proposerKey: nodeKey)
        do {
            let index = try core.propose(block.encode())
            precondition(index == block.header.height, "log index \(index) must equal block height \(block.header.height)")
        } catch {
            log.debug("proposal refused", ["reason": "\(error)"])
            runtime.state.withLock { $0.mempool.returnInFlight() }
            return false
        }
        addInflight(CommittedBlock(block: block, delta: selection.delta))
        return true
    }

    mutating func addInflight(_ c: CommittedBlock) {
        precondition(c.block.header.height == specHead.height + 1, "in-flight blocks must be contiguous")
        inflight[c.block.header.height] = c
        for a in c.delta.changes { speculative[a.address] = a }
        if let change = c.block.membership { specMembership = specMembership.applying(change) }
        specHead = (c.block.header.height, c.block.hash, c.block.header.stateRoot, c.block.header.timestamp)
    }

    func dropRejected(_ rejected: [(Transaction, TxRejection)], _ runtime: NodeRuntime) {
        guard !rejected.isEmpty else { return }
        runtime.state.withLock { s in for (tx, _) in rejected { _ = s.mempool.drop(tx.hash) } }
        for (tx, reason) in rejected {
            runtime.metrics.txRejected.inc(1, reason.code)
            for w in runtime.state.takeWaiters(tx.hash) { w.fire(.dropped(reason)) }
        }
    }

    /// Writes a membership change as a block of its own, one change at a time.
    mutating func proposeMembership(_ change: MembershipChange, _ runtime: NodeRuntime) -> MembershipOutcome {
        guard core.status.role == .leader else { return .notLeader(leader: core.status.leader) }
        guard specHead.height == core.status.lastIndex else { return .refused("leadership just changed; retry shortly") }
        if let why = specMembership.rejection(of: change) { return .refused(why) }
        let block = Block.make(height: specHead.height + 1, prevHash: specHead.hash,
                               stateRoot: StateRoot.next(previous: specHead.stateRoot, membership: change),
                               timestamp: Swift.max(wallClockMs(), specHead.timestamp), term: core.status.term,
                               txs: [], membership: change, proposerKey: nodeKey)
        do {
            let index: UInt64
            switch change.kind {
            case .bootstrap: index = try core.propose(block.encode())
            case .addLearner: index = try core.proposeConfChange(.addLearner(change.nodeId), data: block.encode())
            case .promote: index = try core.proposeConfChange(.promote(change.nodeId), data: block.encode())
            case .remove: index = try core.proposeConfChange(.remove(change.nodeId), data: block.encode())
            }
            precondition(index == block.header.height, "membership block at the wrong height")
        } catch {
            return .refused("\(error)")
        }
        addInflight(CommittedBlock(block: block, delta: .empty))
        log.info("membership change proposed", ["op": change.kind.name, "node": change.nodeId, "height": block.header.height])
        return .proposed(height: block.header.height)
    }

    mutating func answerJoin(id: String, key: PublicKey, from peer: String, _ runtime: NodeRuntime) {
        guard let t = runtime.transport.withLock({ $0 }) else { return }
        guard core.status.role == .leader else {
            t.answerJoin(to: peer, nodeId: id, accepted: false, reason: "not the leader", leaderHint: core.status.leader)
            return
        }
        if specMembership.contains(id) {
            let same = specMembership.keys[id] == key
            t.answerJoin(to: peer, nodeId: id, accepted: same, reason: same ? "already a member" : "that node ID belongs to another key", leaderHint: nil)
            return
        }
        switch proposeMembership(MembershipChange(kind: .addLearner, nodeId: id, nodeKey: key), runtime) {
        case .proposed(let h): t.answerJoin(to: peer, nodeId: id, accepted: true, reason: "added as a learner at height \(h)", leaderHint: nil)
        case .notLeader(let l): t.answerJoin(to: peer, nodeId: id, accepted: false, reason: "not the leader", leaderHint: l)
        case .refused(let why): t.answerJoin(to: peer, nodeId: id, accepted: false, reason: why, leaderHint: nil)
        }
    }

    /// A learner that has stayed caught up for the stabilization time becomes a voter, while
    /// the cluster has fewer voters than it aims for. One change at a time.
    mutating func autoPromote(_ runtime: NodeRuntime, now: UInt64) {
        let st = core.status
        let members = specMembership
        guard members.voters.count < settings.consensus.voters, !members.learners.isEmpty else {
            caughtUpSinceNs.removeAll()
            return
        }
        let connected = Set(runtime.transport.withLock { $0 }?.peerHeights().map(\.id) ?? [])
        for learner in members.learners {
            // Caught up means: connected now, and holding (almost) every committed block.
            let match = st.peers[learner]?.match ?? 0
            if connected.contains(learner), match > 0, match + 2 >= st.commit {
                caughtUpSinceNs[learner] = caughtUpSinceNs[learner] ?? now
            } else {
                caughtUpSinceNs[learner] = nil
            }
        }
        let stableNs = UInt64(settings.consensus.promotionStabilizationMs) * 1_000_000
        // Blocks in flight do not reset the timers (under steady load some always are); a
        // membership change in flight only defers the promotion (one change at a time).
        guard !inflight.values.contains(where: { $0.block.membership != nil }),
              let ready = members.learners.first(where: { id in caughtUpSinceNs[id].map { now - $0 >= stableNs } ?? false })
        else { return }
        if case .proposed = proposeMembership(MembershipChange(kind: .promote, nodeId: ready), runtime) {
            caughtUpSinceNs[ready] = nil
        }
    }

    /// Hands leadership to `to`, or to the most caught-up other voter.
    mutating func transferLeadership(to target: String?, done: @escaping @Sendable (Bool) -> Void) {
        let st = core.status
        guard st.role == .leader else { done(true); return }
        let others = st.membership.voters.filter { $0 != settings.node.id }
        guard let chosen = target ?? others.max(by: { (st.peers[$0]?.match ?? 0) < (st.peers[$1]?.match ?? 0) }),
              others.contains(chosen) else { done(false); return }
        log.info("transferring leadership", ["to": chosen])
        core.transferLeadership(to: chosen)
        let timeoutNs = UInt64(settings.consensus.electionTimeoutMs) * 2_000_000
        transferWaiters.append((monotonicNs() + timeoutNs, done))
    }

    /// After an election: blocks of earlier leaders still uncommitted in our log become our
    /// in-flight blocks (checked and executed now), so new blocks build on top of them.
    mutating func rebuildSpeculation(_ runtime: NodeRuntime) {
        inflight.removeAll()
        speculative.removeAll()
        specMembership = store.membership
        specHead = (store.headHeight, store.headHash, store.headStateRoot, specHead.timestamp)
        runtime.state.withLock { $0.mempool.returnInFlight() }
        for record in view.tail {
            do {
                let block = try Block.decode(record.data)
                let c = try BlockCheck.verifyAndExecute(block, index: record.index, term: record.term, prevHash: specHead.hash,
                                                        prevStateRoot: specHead.stateRoot, membership: specMembership,
                                                        accounts: runtime.state.accountSource(overlay: speculative))
                addInflight(c)
            } catch {
                haltLoudly("uncommitted block \(record.index) from an earlier leader does not check out: \(error)")
            }
        }
    }

    /// A fresh node started with `--join` asks every connected peer to add it, once a second,
    /// until a membership block naming it is applied.
    mutating func askToJoin(_ runtime: NodeRuntime, now: UInt64) {
        guard now - lastJoinAttemptNs >= 1_000_000_000, let t = runtime.transport.withLock({ $0 }) as? PeerTransport else { return }
        lastJoinAttemptNs = now
        t.requestJoin()
    }
}
