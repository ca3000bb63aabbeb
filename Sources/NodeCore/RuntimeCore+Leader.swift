import Chain
import Consensus

/// What only the leader does: cut blocks, write membership changes, answer joins, promote
/// caught-up learners, hand leadership over.
extension RuntimeCore {
    /// A leader of an empty chain proposes the bootstrap block (naming itself the first voter).
    public mutating func leaderDuties(now: RuntimeTime) -> [RuntimeEffect] {
        guard !halted, pendingWrite == nil, raft.role == .leader, store.headHeight == 0, specHead.height == 0 else { return [] }
        let change = MembershipChange(kind: .bootstrap, nodeId: settings.nodeId, nodeKey: signer.key.publicKey)
        let (outcome, effects) = proposeMembership(change, now: now)
        guard case .refused(let why) = outcome else { return effects }
        return effects + [.log(.warn, "bootstrap refused", ["reason": why.message])]
    }

    /// How many mempool transactions to hand to `cut` now, or nil when no block is due: this
    /// node leads, its speculation is on the log's last entry, fewer than the in-flight limit are
    /// in flight, and transactions wait (a full block's worth, or the block interval passed).
    public func cutDemand(readyCount: Int, now: RuntimeTime) -> Int? {
        guard !halted, pendingWrite == nil, raft.role == .leader, store.headHeight > 0 || specHead.height > 0 else { return nil }
        // Blocks extend the speculative head, which must be the log's last entry; right after an
        // election it is not until the role change is handled (`applied` rebuilds it).
        guard specHead.height == raft.lastIndex, inflight.count < settings.maxInflightBlocks, readyCount > 0 else { return nil }
        // A leader that proposed its own removal cuts nothing more: every replica checks a block
        // against the membership before it, where this node is no longer a voter.
        guard !isLeaving else { return nil }
        let intervalNs = UInt64(settings.blockIntervalMs) * 1_000_000
        guard readyCount >= settings.maxBlockTxs || now.monotonicNs - lastCutNs >= intervalNs else { return nil }
        return settings.maxBlockTxs
    }

    /// When the block interval since the last cut ends (monotonic ns): a leader with transfers
    /// ready cuts no sooner (unless a full block waits), so its runtime may sleep until then.
    public var cutIntervalEndsNs: UInt64 { lastCutNs + UInt64(settings.blockIntervalMs) * 1_000_000 }

    /// Executes the mempool's candidates on the speculative state and proposes a block of those
    /// that pass; `cut` is false when none did or the proposal was refused.
    public mutating func cut(candidates: [Transaction], now: RuntimeTime) -> (cut: Bool, effects: [RuntimeEffect]) {
        let max = settings.maxBlockTxs
        let overlay = plantedBug == .cutIgnoresSpeculation ? [:] : speculative
        let selection = Ledger.select(candidates: candidates, on: reads.accounts(overlay: overlay), maxTxs: max)
        var effects: [RuntimeEffect] = selection.rejected.isEmpty ? [] : [.dropTransactions(selection.rejected)]
        guard !selection.included.isEmpty else { return (false, effects) }
        let stateRoot = StateRoot.next(previous: specHead.stateRoot, changes: selection.delta.changes)
        let block = signer.block(height: specHead.height + 1, prevHash: specHead.hash, stateRoot: stateRoot,
                                 timestamp: Swift.max(now.wallMs, specHead.timestamp), term: raft.currentTerm, txs: selection.included)
        do {
            let index = try raft.propose(block.encode())
            precondition(index == block.header.height, "log index \(index) must equal block height \(block.header.height)")
        } catch {
            effects.append(.log(.debug, "proposal refused", ["reason": "\(error)"]))
            effects.append(.returnInFlightTransactions)
            return (false, effects)
        }
        addInflight(CommittedBlock(block: block, delta: selection.delta))
        lastCutNs = now.monotonicNs
        return (true, effects)
    }

    /// True once the blocks in flight remove this node from the voters (it leads until that applies).
    var isLeaving: Bool { !specMembership.voters.isEmpty && !specMembership.voters.contains(settings.nodeId) }

    mutating func addInflight(_ c: CommittedBlock) {
        precondition(c.block.header.height == specHead.height + 1, "in-flight blocks must be contiguous")
        inflight[c.block.header.height] = c
        for a in c.delta.changes { speculative[a.address] = a }
        if let change = c.block.membership { specMembership = specMembership.applying(change) }
        specHead = (c.block.header.height, c.block.hash, c.block.header.stateRoot, c.block.header.timestamp)
    }

    /// Writes a membership change as a block of its own, one change at a time.
    mutating func proposeMembership(_ change: MembershipChange, now: RuntimeTime) -> (MembershipOutcome, [RuntimeEffect]) {
        guard raft.role == .leader else { return (.notLeader(leader: raft.knownLeader), []) }
        guard specHead.height == raft.lastIndex else { return (.refused(.because("leadership just changed; retry shortly")), []) }
        guard !isLeaving else { return (.refused(.because("this leader is being removed; retry at the next leader")), []) }
        if let why = specMembership.rejection(of: change) { return (.refused(why), []) }
        let block = signer.block(height: specHead.height + 1, prevHash: specHead.hash,
                                 stateRoot: StateRoot.next(previous: specHead.stateRoot, membership: change),
                                 timestamp: Swift.max(now.wallMs, specHead.timestamp), term: raft.currentTerm,
                                 txs: [], membership: change)
        do {
            let index: UInt64
            switch change.kind {
            case .bootstrap: index = try raft.propose(block.encode())
            case .addLearner: index = try raft.proposeConfChange(.addLearner(change.nodeId), data: block.encode())
            case .promote: index = try raft.proposeConfChange(.promote(change.nodeId), data: block.encode())
            case .remove: index = try raft.proposeConfChange(.remove(change.nodeId), data: block.encode())
            }
            precondition(index == block.header.height, "membership block at the wrong height")
        } catch {
            return (.refused(.because("\(error)")), [])
        }
        addInflight(CommittedBlock(block: block, delta: .empty))
        let line = RuntimeEffect.log(.info, "membership change proposed",
                                     ["op": change.kind.name, "node": change.nodeId, "height": block.header.height])
        return (.proposed(height: block.header.height), [line])
    }

    /// A fresh node asks to join: the leader adds it as a learner unless its ID is a member
    /// already (under the same key: "already a member") or was used before.
    mutating func answerJoin(id: String, key: PublicKey, from peer: String, now: RuntimeTime) -> [RuntimeEffect] {
        guard raft.role == .leader else {
            return [.answerJoin(peer: peer, nodeId: id, accepted: false, reason: "not the leader", leaderHint: raft.knownLeader)]
        }
        if specMembership.contains(id) {
            let same = specMembership.keys[id] == key
            return [.answerJoin(peer: peer, nodeId: id, accepted: same,
                                reason: same ? "already a member" : "that node ID belongs to another key", leaderHint: nil)]
        }
        let (outcome, effects) = proposeMembership(MembershipChange(kind: .addLearner, nodeId: id, nodeKey: key), now: now)
        switch outcome {
        case .proposed(let h):
            return effects + [.answerJoin(peer: peer, nodeId: id, accepted: true, reason: "added as a learner at height \(h)", leaderHint: nil)]
        case .notLeader(let l):
            return effects + [.answerJoin(peer: peer, nodeId: id, accepted: false, reason: "not the leader", leaderHint: l)]
        case .refused(let why):
            return effects + [.answerJoin(peer: peer, nodeId: id, accepted: false, reason: why.message, leaderHint: nil)]
        }
    }

    /// A learner that has stayed caught up for the stabilization time becomes a voter, while
    /// the cluster has fewer voters than it aims for. One change at a time. The time is counted
    /// while the voters are full too, so a replacement that caught up before its dead voter was
    /// removed is promoted as soon as the removal commits, not a stabilization time later.
    mutating func autoPromote(connected: Set<String>, now: RuntimeTime) -> [RuntimeEffect] {
        let st = raft.status
        let members = specMembership
        guard !members.learners.isEmpty else {
            caughtUpSinceNs.removeAll()
            return []
        }
        let nowNs = now.monotonicNs
        caughtUpSinceNs = caughtUpSinceNs.filter { members.learners.contains($0.key) }  // left or promoted: forgotten
        for learner in members.learners {
            // Caught up means: connected now, and holding (almost) every committed block.
            let match = st.peers[learner]?.match ?? 0
            if connected.contains(learner), match > 0, match + 2 >= st.commit {
                caughtUpSinceNs[learner] = caughtUpSinceNs[learner] ?? nowNs
            } else {
                caughtUpSinceNs[learner] = nil
            }
        }
        let stableNs = UInt64(settings.promotionStabilizationMs) * 1_000_000
        // Blocks in flight do not reset the timers (under steady load some always are); a
        // membership change in flight only defers the promotion (one change at a time).
        guard members.voters.count < settings.voters,
              !inflight.values.contains(where: { $0.block.membership != nil }),
              let ready = members.learners.first(where: { id in caughtUpSinceNs[id].map { nowNs - $0 >= stableNs } ?? false })
        else { return [] }
        let (outcome, effects) = proposeMembership(MembershipChange(kind: .promote, nodeId: ready), now: now)
        if case .proposed = outcome { caughtUpSinceNs[ready] = nil }
        return effects
    }

    /// Hands leadership to `to`, or to the most caught-up other voter; answered once leadership
    /// moved (true) or after `settings.transferWaitMs` (false).
    mutating func transferLeadership(to target: String?, request: UInt64, now: RuntimeTime) -> [RuntimeEffect] {
        let st = raft.status
        guard st.role == .leader else { return [.answerTransfer(request: request, true)] }
        let others = st.membership.voters.filter { $0 != settings.nodeId }
        guard let chosen = target ?? others.max(by: { (st.peers[$0]?.match ?? 0) < (st.peers[$1]?.match ?? 0) }),
              others.contains(chosen) else { return [.answerTransfer(request: request, false)] }
        raft.transferLeadership(to: chosen)
        let timeoutNs = UInt64(settings.transferWaitMs) * 1_000_000
        transferWaiters.append((now.monotonicNs + timeoutNs, request))
        return [.log(.info, "transferring leadership", ["to": chosen])]
    }

    /// After an election: blocks of earlier leaders still uncommitted in our log become our
    /// in-flight blocks (checked and executed now), so new blocks build on top of them.
    mutating func rebuildSpeculation() -> [RuntimeEffect] {
        resetSpeculation()
        let effects: [RuntimeEffect] = [.returnInFlightTransactions]
        for record in view.tail {
            do {
                // Checked ahead when it arrived (the entry door), as a committed entry would be.
                let checked = reads.takeCheckedEntry(index: record.index, term: record.term, data: record.data)
                let block = try checked?.block ?? Block.decode(record.data)
                let c = try BlockCheck.verifyAndExecute(block, index: record.index, term: record.term, prevHash: specHead.hash,
                                                        prevStateRoot: specHead.stateRoot, membership: specMembership,
                                                        accounts: reads.accounts(overlay: speculative), signaturesValid: checked?.valid)
                addInflight(c)
            } catch {
                return effects + halt("uncommitted block \(record.index) from an earlier leader does not check out: \(error)")
            }
        }
        return effects
    }
}
