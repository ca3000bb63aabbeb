import Chain
import Consensus

/// Catch-up by block ranges from several peers at once, for a node far behind the cluster
/// (new, restarted, or back from a partition). Pure bookkeeping: which ranges to ask whom,
/// which blocks arrived; the runtime loop does the I/O and the applying.
public struct BlockSync: Sendable {
    /// A node this many blocks behind the best peer switches from Raft replication to block sync.
    public static let startBehindBlocks: UInt64 = 32
    /// Blocks per request at most (a `getBlocks` count); fewer when blocks are big (`requestBlocks`).
    public static let rangeBlocks = 32
    /// Requests outstanding at once, over all peers.
    public static let maxOutstanding = 8
    /// Blocks applied per SQLite transaction at most.
    public static let applyBatchBlocks = 64
    /// Transfers applied per SQLite transaction at most (a batch takes at least one block): one
    /// batch is one stretch in which the runtime takes no replies, so it is kept to a fraction of
    /// a second (about 0.3 s at 60,000 transfers/s) however big the blocks are.
    public static let applyBatchTransfers = 20_000
    /// Blocks buffered ahead of the head, at most (received out of order).
    public static let maxBufferedBlocks = 1_024
    /// Transfers asked for ahead of the head, at most: the blocks buffered plus those the
    /// outstanding requests are expected to bring. About two seconds of applying at 60,000
    /// transfers/s: enough to keep every peer busy while the node applies, and no more (with
    /// 2,000-transfer blocks, 8 requests of 32 blocks plus 1,024 buffered blocks would be 2.5
    /// million transfers: gigabytes held, and minutes of work asked for that a 3 s timeout judges).
    public static let maxWindowTransfers = 120_000

    /// A peer that delivers nothing for this long while requests to it are outstanding (timed
    /// on `attentiveNs`) has them given up, and its height claim ignored
    /// (`[p2p] sync_request_timeout_ms`, `RuntimeCoreSettings.syncRequestTimeoutMs`).
    public var requestTimeoutNs: UInt64
    /// How long the claim of a peer that did not deliver is ignored (`[p2p] sync_ignore_peer_ms`,
    /// `RuntimeCoreSettings.syncIgnorePeerMs`).
    public var ignorePeerNs: UInt64

    /// `expectedTransfersPerBlock`: what a block is assumed to hold before any arrived (the
    /// cluster's `max_block_txs` sizes the first requests for full blocks, the safe guess).
    public init(requestTimeoutNs: UInt64, ignorePeerNs: UInt64, expectedTransfersPerBlock: Int = 1) {
        self.requestTimeoutNs = requestTimeoutNs
        self.ignorePeerNs = ignorePeerNs
        self.transfersPerBlock = max(1, expectedTransfersPerBlock)
    }

    public var active = false
    /// The highest committed height a connected member claims and has not failed to deliver:
    /// re-evaluated on every change of `peerHeights` or `ignoredUntilNs`.
    public private(set) var target: UInt64 = 0
    /// Connected members' claimed heights (from their authenticated hello, pings and appends).
    public private(set) var peerHeights: [String: UInt64] = [:]
    /// Peers whose requests timed out: their claims count for nothing until then.
    public private(set) var ignoredUntilNs: [String: UInt64] = [:]
    /// Outstanding requests by first height, with the range they cover; `sentNs` on `attentiveNs`.
    public var requested: [UInt64: (peer: String, sentNs: UInt64, count: Int)] = [:]
    public var buffered: [UInt64: Block] = [:]
    public var nextPeer = 0
    public var startedNs: UInt64 = 0
    public var startHeight: UInt64 = 0
    public var lastProgressLogNs: UInt64 = 0
    /// The header of the last block this sync handed to be written: the previous block of the
    /// next batch (`SyncedTransferTrust`), without reading it back from the store.
    public var lastSyncedHeader: BlockHeader?
    /// When each peer last delivered blocks it was asked for (on `attentiveNs`).
    public private(set) var lastDeliveryNs: [String: UInt64] = [:]
    /// Time this node spent checking and writing synced blocks, in total. The runtime takes no
    /// replies meanwhile: they wait in its inbox, so this time says nothing about its peers.
    public private(set) var busyNs: UInt64 = 0
    /// Transfers per block in the last reply (the first requests assume `expectedTransfersPerBlock`).
    public private(set) var transfersPerBlock: Int

    /// The clock peers are judged on: `now` less the time the node was busy writing synced
    /// blocks. A peer whose replies sat in the inbox of a busy node did not fail to deliver.
    public func attentiveNs(_ now: UInt64) -> UInt64 { now - min(now, busyNs) }

    /// The node checked and wrote synced blocks from `startNs` to `endNs` (taking no replies).
    public mutating func wasBusy(fromNs startNs: UInt64, toNs endNs: UInt64) {
        busyNs += endNs - min(endNs, startNs)
    }

    /// The connected members and their heights now: a disconnected peer's claim is forgotten
    /// (a peer being ignored stays ignored when it reconnects, until its time is up).
    public mutating func refresh(connected: [(id: String, height: UInt64)], now: UInt64) {
        var heights: [String: UInt64] = [:]
        for p in connected { heights[p.id] = max(p.height, peerHeights[p.id] ?? 0) }
        peerHeights = heights
        ignoredUntilNs = ignoredUntilNs.filter { $0.value > now }
        lastDeliveryNs = lastDeliveryNs.filter { heights[$0.key] != nil }
        retarget(now: now)
    }

    /// A member's claim (its hello, or the commit index its append carries).
    public mutating func observe(peer: String, height: UInt64, now: UInt64) {
        peerHeights[peer] = max(peerHeights[peer] ?? 0, height)
        retarget(now: now)
    }

    public mutating func noteLeaderCommit(_ m: Message, now: UInt64) {
        if case .append(_, _, _, let commit) = m.kind { observe(peer: m.from, height: commit, now: now) }
    }

    private mutating func retarget(now: UInt64) {
        target = peerHeights.filter { (ignoredUntilNs[$0.key] ?? 0) <= now }.values.max() ?? 0
    }

    public func isIgnored(_ peer: String, now: UInt64) -> Bool { (ignoredUntilNs[peer] ?? 0) > now }

    /// The blocks of an outstanding request to `peer` (those in its range, at most its count);
    /// empty for anything unasked (unsolicited, late, or from another peer), which is ignored.
    /// A reply counts as its peer delivering: its other requests are timed from now on.
    public mutating func received(_ blocks: [Block], from peer: String, now: UInt64) -> [Block] {
        guard active, let first = blocks.first?.header.height, let r = requested[first], r.peer == peer else { return [] }
        requested[first] = nil
        lastDeliveryNs[peer] = attentiveNs(now)
        let end = first + UInt64(r.count)
        var taken: [Block] = []
        for (i, b) in blocks.prefix(r.count).enumerated() where b.header.height == first + UInt64(i) && b.header.height < end {
            guard buffered.count < Self.maxBufferedBlocks else { break }
            buffered[b.header.height] = b
            taken.append(b)
        }
        if !taken.isEmpty {
            let transfers = taken.reduce(0) { $0 + $1.txs.count }
            transfersPerBlock = max(1, (transfers + taken.count - 1) / taken.count)
        }
        return taken
    }

    /// A height is covered when it is buffered or inside an outstanding request.
    public func covered(_ h: UInt64) -> Bool {
        buffered[h] != nil || requested.contains { h >= $0.key && h < $0.key + UInt64($0.value.count) }
    }

    /// How many heights past the head may be asked for: `maxWindowTransfers` of blocks of the
    /// last reply's size, at least one, at most `maxBufferedBlocks`.
    public var windowBlocks: Int { min(Self.maxBufferedBlocks, max(1, Self.maxWindowTransfers / transfersPerBlock)) }

    /// Blocks per request now: the window spread over `maxOutstanding` requests, at most
    /// `rangeBlocks`, so that big blocks are asked for in small ranges from several peers.
    public var requestBlocks: Int { min(Self.rangeBlocks, max(1, windowBlocks / Self.maxOutstanding)) }

    /// Gives up the requests of peers that delivered nothing, neither those requests nor any
    /// other, for `requestTimeoutNs` of attentive time; those peers' claims are then ignored.
    /// Returns those peers (`requests` does this first too; calling it before is for telling).
    @discardableResult
    public mutating func dropStale(head: UInt64, now: UInt64) -> [String] {
        let attentive = attentiveNs(now)
        var stale: [String] = []
        requested = requested.filter { r in
            guard r.key + UInt64(r.value.count) > head + 1 else { return false }
            let quietSince = max(r.value.sentNs, lastDeliveryNs[r.value.peer] ?? 0)
            guard attentive - min(attentive, quietSince) < requestTimeoutNs else { stale.append(r.value.peer); return false }
            return true
        }
        for peer in stale { ignoredUntilNs[peer] = now + ignorePeerNs }
        if !stale.isEmpty { retarget(now: now) }
        return Array(Set(stale)).sorted()
    }

    /// Ranges to ask for now, each with the peer to ask: runs of heights neither buffered nor
    /// requested (a reply cut short by its size limit leaves a gap that is asked for again),
    /// within `windowBlocks` of the head, spread round-robin over peers that have them.
    public mutating func requests(head: UInt64, now: UInt64) -> [(from: UInt64, count: Int, peer: String)] {
        dropStale(head: head, now: now)
        var out: [(UInt64, Int, String)] = []
        var h = head + 1
        let limit = min(target, head + UInt64(windowBlocks))
        let rangeBlocks = requestBlocks
        while requested.count < Self.maxOutstanding, h <= limit {
            if covered(h) { h += 1; continue }
            var count = 1
            while count < rangeBlocks, h + UInt64(count) <= limit, !covered(h + UInt64(count)) { count += 1 }
            let candidates = peerHeights.filter { $0.value >= h && !isIgnored($0.key, now: now) }.keys.sorted()
            guard !candidates.isEmpty else { break }
            let peer = candidates[nextPeer % candidates.count]
            nextPeer &+= 1
            requested[h] = (peer, attentiveNs(now), count)
            out.append((h, count, peer))
            h += UInt64(count)
        }
        return out
    }

    /// The contiguous blocks from `head + 1`, at most `max` and at most `maxTransfers` transfers
    /// (but at least one block), removed from the buffer.
    public mutating func takeContiguous(after head: UInt64, max: Int, maxTransfers: Int = .max) -> [Block] {
        var out: [Block] = []
        var transfers = 0
        var h = head + 1
        while out.count < max, let b = buffered[h], out.isEmpty || transfers + b.txs.count <= maxTransfers {
            buffered[h] = nil
            out.append(b)
            transfers += b.txs.count
            h += 1
        }
        buffered = buffered.filter { $0.key > head }
        return out
    }
}
