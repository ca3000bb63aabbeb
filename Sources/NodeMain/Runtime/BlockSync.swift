import Chain
import Consensus
import Foundation

/// Catch-up by block ranges from several peers at once, for a node far behind the cluster
/// (new, restarted, or back from a partition). Pure bookkeeping: which ranges to ask whom,
/// which blocks arrived; the runtime loop does the I/O and the applying.
struct BlockSync {
    /// A node this many blocks behind the best peer switches from Raft replication to block sync.
    static let startBehindBlocks: UInt64 = 32
    /// Blocks per request (a `getBlocks` count).
    static let rangeBlocks = 32
    /// Requests outstanding at once, over all peers.
    static let maxOutstanding = 8
    /// Blocks applied per SQLite transaction.
    static let applyBatchBlocks = 64
    /// Blocks buffered ahead of the head, at most (received out of order).
    static let maxBufferedBlocks = 1_024

    /// A request unanswered this long is given up, and its peer's height claim ignored
    /// (`[p2p] sync_request_timeout_ms`).
    var requestTimeoutNs: UInt64 = 3_000_000_000
    /// How long the claim of a peer that did not deliver is ignored (`[p2p] sync_ignore_peer_ms`).
    var ignorePeerNs: UInt64 = 60_000_000_000

    var active = false
    /// The highest committed height a connected member claims and has not failed to deliver:
    /// re-evaluated on every change of `peerHeights` or `ignoredUntilNs`.
    private(set) var target: UInt64 = 0
    /// Connected members' claimed heights (from their authenticated hello, pings and appends).
    private(set) var peerHeights: [String: UInt64] = [:]
    /// Peers whose requests timed out: their claims count for nothing until then.
    private(set) var ignoredUntilNs: [String: UInt64] = [:]
    /// Outstanding requests by first height, with the range they cover.
    var requested: [UInt64: (peer: String, sentNs: UInt64, count: Int)] = [:]
    var buffered: [UInt64: Block] = [:]
    var nextPeer = 0
    var startedNs: UInt64 = 0
    var startHeight: UInt64 = 0
    var lastProgressLogNs: UInt64 = 0

    /// The connected members and their heights now: a disconnected peer's claim is forgotten
    /// (a peer being ignored stays ignored when it reconnects, until its time is up).
    mutating func refresh(connected: [(id: String, height: UInt64)], now: UInt64) {
        var heights: [String: UInt64] = [:]
        for p in connected { heights[p.id] = max(p.height, peerHeights[p.id] ?? 0) }
        peerHeights = heights
        ignoredUntilNs = ignoredUntilNs.filter { $0.value > now }
        retarget(now: now)
    }

    /// A member's claim (its hello, or the commit index its append carries).
    mutating func observe(peer: String, height: UInt64, now: UInt64) {
        peerHeights[peer] = max(peerHeights[peer] ?? 0, height)
        retarget(now: now)
    }

    mutating func noteLeaderCommit(_ m: Message, now: UInt64) {
        if case .append(_, _, _, let commit) = m.kind { observe(peer: m.from, height: commit, now: now) }
    }

    private mutating func retarget(now: UInt64) {
        target = peerHeights.filter { (ignoredUntilNs[$0.key] ?? 0) <= now }.values.max() ?? 0
    }

    func isIgnored(_ peer: String, now: UInt64) -> Bool { (ignoredUntilNs[peer] ?? 0) > now }

    /// The blocks of an outstanding request to `peer` (those in its range, at most its count);
    /// empty for anything unasked (unsolicited, late, or from another peer), which is ignored.
    mutating func received(_ blocks: [Block], from peer: String) -> [Block] {
        guard active, let first = blocks.first?.header.height, let r = requested[first], r.peer == peer else { return [] }
        requested[first] = nil
        let end = first + UInt64(r.count)
        var taken: [Block] = []
        for (i, b) in blocks.prefix(r.count).enumerated() where b.header.height == first + UInt64(i) && b.header.height < end {
            guard buffered.count < Self.maxBufferedBlocks else { break }
            buffered[b.header.height] = b
            taken.append(b)
        }
        return taken
    }

    /// A height is covered when it is buffered or inside an outstanding request.
    func covered(_ h: UInt64) -> Bool {
        buffered[h] != nil || requested.contains { h >= $0.key && h < $0.key + UInt64($0.value.count) }
    }

    /// Ranges to ask for now, each with the peer to ask: runs of heights neither buffered nor
    /// requested (a reply cut short by its size limit leaves a gap that is asked for again),
    /// spread round-robin over peers that have them.
    mutating func requests(head: UInt64, now: UInt64) -> [(from: UInt64, count: Int, peer: String)] {
        var stale: [String] = []
        requested = requested.filter { r in
            guard r.key + UInt64(r.value.count) > head + 1 else { return false }
            guard now - r.value.sentNs < requestTimeoutNs else { stale.append(r.value.peer); return false }
            return true
        }
        for peer in stale { ignoredUntilNs[peer] = now + ignorePeerNs }
        if !stale.isEmpty { retarget(now: now) }
        var out: [(UInt64, Int, String)] = []
        var h = head + 1
        let limit = min(target, head + UInt64(Self.maxBufferedBlocks))
        while requested.count < Self.maxOutstanding, h <= limit {
            if covered(h) { h += 1; continue }
            var count = 1
            while count < Self.rangeBlocks, h + UInt64(count) <= limit, !covered(h + UInt64(count)) { count += 1 }
            let candidates = peerHeights.filter { $0.value >= h && !isIgnored($0.key, now: now) }.keys.sorted()
            guard !candidates.isEmpty else { break }
            let peer = candidates[nextPeer % candidates.count]
            nextPeer &+= 1
            requested[h] = (peer, now, count)
            out.append((h, count, peer))
            h += UInt64(count)
        }
        return out
    }

    /// The contiguous blocks from `head + 1`, at most `max`, removed from the buffer.
    mutating func takeContiguous(after head: UInt64, max: Int) -> [Block] {
        var out: [Block] = []
        var h = head + 1
        while out.count < max, let b = buffered.removeValue(forKey: h) {
            out.append(b)
            h += 1
        }
        buffered = buffered.filter { $0.key > head }
        return out
    }
}

extension RuntimeLoop {
    /// Once per loop round on a node that does not lead: start, feed and finish block sync.
    mutating func syncDuties(_ runtime: NodeRuntime) {
        guard core.status.role != .leader, let t = runtime.transport.withLock({ $0 }) else { return }
        sync.refresh(connected: t.peerHeights(), now: monotonicNs())
        let head = store.headHeight
        if !sync.active {
            guard sync.target > head + BlockSync.startBehindBlocks else { return }
            sync.active = true
            sync.startedNs = monotonicNs()
            sync.startHeight = head
            log.info("block sync started", ["from": head, "target": sync.target])
            publishStatus(runtime)
        }
        applySynced(runtime)
        guard stalled == nil else { return }
        let now = monotonicNs()
        for r in sync.requests(head: store.headHeight, now: now) {
            if !t.requestBlocks(from: r.from, count: r.count, peer: r.peer) { sync.requested[r.from] = nil }
        }
        logSyncProgress(now: now)
        if store.headHeight + 2 >= sync.target && sync.requested.isEmpty {
            finishSync(runtime)
        }
    }

    /// Checks and applies the buffered contiguous blocks, many per SQLite transaction.
    mutating func applySynced(_ runtime: NodeRuntime) {
        while true {
            let blocks = sync.takeContiguous(after: store.headHeight, max: BlockSync.applyBatchBlocks)
            guard !blocks.isEmpty else { return }
            var membership = store.membership
            var prev = (hash: store.headHash, stateRoot: store.headStateRoot)
            var overlay: [Address: Account] = [:]
            var batch: [CommittedBlock] = []
            for block in blocks {
                do {
                    let c = try BlockCheck.verifyAndExecute(block, index: block.header.height, term: nil, prevHash: prev.hash,
                                                            prevStateRoot: prev.stateRoot, membership: membership,
                                                            accounts: runtime.state.accountSource(overlay: overlay),
                                                            signaturesValid: runtime.syncSignatures.take(block.hash))
                    if let change = block.membership { membership = membership.applying(change) }
                    for a in c.delta.changes { overlay[a.address] = a }
                    prev = (block.hash, block.header.stateRoot)
                    batch.append(c)
                } catch {
                    log.warn("synced block refused; asking again", ["reason": "\(error)"])
                    sync.buffered.removeAll()
                    runtime.syncSignatures.clear()
                    break
                }
            }
            guard !batch.isEmpty else { return }
            let started = monotonicNs()
            write(StoreBatch(hardState: nil, logEntries: [], committed: batch,
                             membership: membership != store.membership ? membership : nil),
                  then: .synced(batch, startedNs: started), runtime)
            guard stalled == nil else { return }
        }
    }

    mutating func logSyncProgress(now: UInt64) {
        guard now - sync.lastProgressLogNs >= 1_000_000_000 else { return }
        let done = Double(store.headHeight - sync.startHeight)
        let total = Double(max(sync.target - sync.startHeight, 1))
        let seconds = Double(now - sync.startedNs) / 1e9
        let rate = seconds > 0 ? done / seconds : 0
        let eta = rate > 0 ? (total - done) / rate : 0
        log.info("block sync", ["height": store.headHeight, "target": sync.target,
                                "percent": String(format: "%.1f", 100 * done / total),
                                "blocks_per_s": String(format: "%.0f", rate), "eta_s": String(format: "%.0f", eta)])
        sync.lastProgressLogNs = now
    }

    /// Hands over to Raft replication: the core is rebuilt on the synced log, as after a snapshot.
    mutating func finishSync(_ runtime: NodeRuntime) {
        sync.active = false
        sync.requested.removeAll()
        sync.buffered.removeAll()
        runtime.syncSignatures.clear()
        let seconds = Double(monotonicNs() - sync.startedNs) / 1e9
        log.info("block sync finished", ["height": store.headHeight, "blocks": store.headHeight - sync.startHeight,
                                         "seconds": String(format: "%.2f", seconds)])
        rebuildCore()
        specMembership = store.membership
        specHead = (store.headHeight, store.headHash, store.headStateRoot, specHead.timestamp)
        if joining, store.membership.contains(settings.node.id) { joining = false }
        publishStatus(runtime)
    }

    mutating func rebuildCore() {
        do {
            try view.reload(membership: RaftMembership(voters: Set(store.membership.voters), learners: Set(store.membership.learners)))
        } catch {
            haltLoudly("cannot reload the log after sync: \(error)")
        }
        core = RaftCore(settings: core.settings, storage: view, appliedIndex: store.headHeight)
    }
}
