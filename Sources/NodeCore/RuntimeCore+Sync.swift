import Chain
import Consensus

// Block sync, for a node that does not lead and is far behind: which ranges to ask whom, checking
// and writing the blocks that arrived in order, and the hand-over back to Raft replication.
extension RuntimeCore {
    /// One step of block sync: start it when a connected member claims a height far ahead,
    /// write the next run of contiguous blocks (ending with a `persist`: call again after it to
    /// go on), otherwise ask for missing ranges and finish once caught up.
    public mutating func syncDuties(connected: [(id: String, height: UInt64)], now: RuntimeTime) -> [RuntimeEffect] {
        guard !halted, pendingWrite == nil, raft.role != .leader else { return [] }
        let nowNs = now.monotonicNs
        sync.refresh(connected: connected.filter { mayServeChain($0.id) }, now: nowNs)
        var effects: [RuntimeEffect] = []
        if !sync.active {
            let head = store.headHeight
            guard sync.target > head + BlockSync.startBehindBlocks else { return [] }
            sync.active = true
            sync.startedNs = nowNs
            sync.startHeight = head
            effects += [.log(.info, "block sync started", ["from": head, "target": sync.target,
                                                          "transfer_signatures": settings.syncTransferSignatures.rawValue]),
                        .publishStatus]
        }
        effects += applySynced(now: now)
        if pendingWrite != nil { return effects }
        for peer in sync.dropStale(head: store.headHeight, now: nowNs) {
            effects.append(.log(.warn, "block sync: a peer delivered nothing in time; its claim is ignored",
                                ["peer": peer, "timeout_ms": sync.requestTimeoutNs / 1_000_000,
                                 "ignored_s": sync.ignorePeerNs / 1_000_000_000]))
        }
        for r in sync.requests(head: store.headHeight, now: nowNs) {
            effects.append(.requestBlocks(from: r.from, count: r.count, peer: r.peer))
        }
        effects += syncProgress(nowNs: nowNs)
        // Caught up, or no peer left to ask: every claim ahead is ignored (its peer delivered
        // nothing for `requestTimeoutNs` of the time this node could take replies) or gone.
        // Finishing then is deliberate: Raft replication from the leader takes over (appends
        // are dropped while syncing, so staying would wait out `ignorePeerNs` doing nothing),
        // and a peer that claims heights it never serves cannot pin the node in sync
        // (HostileMemberTests). Sync starts again when a claim counts and is far enough ahead.
        if store.headHeight + 2 >= sync.target && sync.requested.isEmpty { effects += finishSync(now: now) }
        return effects
    }

    /// A `requestBlocks` effect could not be sent: its range is asked again (of another peer).
    public mutating func blockRequestFailed(from: UInt64) {
        sync.requested[from] = nil
    }

    /// Checks the next buffered contiguous blocks and asks for their write, many per batch.
    mutating func applySynced(now: RuntimeTime) -> [RuntimeEffect] {
        let blocks = sync.takeContiguous(after: store.headHeight, max: BlockSync.applyBatchBlocks,
                                         maxTransfers: BlockSync.applyBatchTransfers)
        guard !blocks.isEmpty else { return [] }
        var effects: [RuntimeEffect] = []
        var membership = store.membership
        var prev = (hash: store.headHash, stateRoot: store.headStateRoot)
        var overlay: [Address: Account] = [:]
        var batch: [CommittedBlock] = []
        var previous = syncedHeadHeader()
        for block in blocks {
            do {
                let c = try BlockCheck.verifyAndExecute(block, index: block.header.height, term: nil, prevHash: prev.hash,
                                                        prevStateRoot: prev.stateRoot, membership: membership,
                                                        accounts: reads.accounts(overlay: overlay),
                                                        signaturesValid: syncedSignatures(of: block, after: previous))
                if let change = block.membership { membership = membership.applying(change) }
                for a in c.delta.changes { overlay[a.address] = a }
                prev = (block.hash, block.header.stateRoot)
                previous = block.header
                batch.append(c)
            } catch {
                effects.append(.log(.warn, "synced block refused; asking again", ["reason": "\(error)"]))
                sync.buffered.removeAll()
                effects.append(.clearSyncedPrechecks)
                break
            }
        }
        guard !batch.isEmpty else { return effects }
        sync.lastSyncedHeader = batch.last?.block.header
        pendingWrite = .synced(batch, startedNs: now.monotonicNs)
        let changed = membership != store.membership ? membership : nil
        return effects + [.persist(StoreBatch(hardState: nil, logEntries: [], committed: batch, membership: changed))]
    }

    /// What `BlockCheck` is told of `block`'s transfer signatures: true when trusted
    /// (`SyncedTransferTrust`: `BlockCheck` checks the proposer's signature and vote before it
    /// looks at this), else the outcome of the check started when the block arrived, or nil
    /// (none started: `BlockCheck` verifies them).
    func syncedSignatures(of block: Block, after previous: BlockHeader?) -> Bool? {
        if SyncedTransferTrust.allows(block, after: previous, policy: settings.syncTransferSignatures) { return true }
        return reads.takeSyncedSignatures(block.hash)
    }

    /// The header of the head block, which the next synced block links to: the last one this
    /// sync wrote when it is still the head, else read from the store (nil when unreadable).
    func syncedHeadHeader() -> BlockHeader? {
        if let h = sync.lastSyncedHeader, h.height == store.headHeight, h.hash == store.headHash { return h }
        guard settings.syncTransferSignatures != .verify else { return nil }
        return (try? store.block(at: store.headHeight))?.header
    }

    /// A progress line at most every `RuntimeCoreSettings.syncProgressLogIntervalMs`.
    mutating func syncProgress(nowNs: UInt64) -> [RuntimeEffect] {
        guard nowNs - sync.lastProgressLogNs >= UInt64(RuntimeCoreSettings.syncProgressLogIntervalMs) * 1_000_000 else { return [] }
        sync.lastProgressLogNs = nowNs
        // The target may drop below where sync started (its peers left): no underflow then
        // (found by the runtime simulator; the node used to trap here).
        let done = Double(store.headHeight - min(store.headHeight, sync.startHeight))
        let total = Double(max(sync.target - min(sync.target, sync.startHeight), 1))
        let seconds = Double(nowNs - sync.startedNs) / 1e9
        let rate = seconds > 0 ? done / seconds : 0
        let eta = rate > 0 ? (total - done) / rate : 0
        return [.log(.info, "block sync", ["height": store.headHeight, "target": sync.target,
                                           "percent": Self.oneDecimal(100 * done / total),
                                           "blocks_per_s": Int(rate.rounded()), "eta_s": Int(eta.rounded())])]
    }

    static func oneDecimal(_ x: Double) -> String {
        let tenths = Int((x * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }

    /// Hands over to Raft replication: the core is rebuilt on the synced log, as after a snapshot.
    mutating func finishSync(now: RuntimeTime) -> [RuntimeEffect] {
        sync.active = false
        sync.requested.removeAll()
        sync.buffered.removeAll()
        let seconds = Double(now.monotonicNs - sync.startedNs) / 1e9
        var effects: [RuntimeEffect] = [
            .clearSyncedPrechecks,
            .log(.info, "block sync finished", ["height": store.headHeight, "blocks": store.headHeight - sync.startHeight,
                                                "seconds": Self.oneDecimal(seconds)]),
        ]
        do {
            try view.reload(membership: RaftMembership(voters: Set(store.membership.voters), learners: Set(store.membership.learners)))
        } catch {
            return effects + halt("cannot reload the log after sync: \(error)")
        }
        raft = RaftCore(settings: raft.settings, storage: view, appliedIndex: store.headHeight)
        specMembership = store.membership
        specHead = (store.headHeight, store.headHash, store.headStateRoot, specHead.timestamp)
        if joining, store.membership.contains(settings.nodeId) { joining = false }
        effects.append(.publishStatus)
        return effects
    }
}
