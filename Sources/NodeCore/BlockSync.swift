import Chain
import Consensus

/// Catch-up by block ranges from several peers at once, for a node far behind the cluster
/// (new, restarted, or back from a partition). Pure bookkeeping: which ranges to ask whom,
/// which blocks arrived; the runtime loop does the I/O and the applying.
public struct BlockSync: Sendable {
    /// A node this many blocks behind the best peer switches from Raft replication to block sync.
    public static let startBehindBlocks: UInt64 = 32
    /// Blocks per request (a `getBlocks` count).
    public static let rangeBlocks = 32
    /// Requests outstanding at once, over all peers.
    public static let maxOutstanding = 8
    /// Blocks applied per SQLite transaction.
    public static let applyBatchBlocks = 64
    /// Blocks buffered ahead of the head, at most (received out of order).
    public static let maxBufferedBlocks = 1_024

    /// A request unanswered this long is given up, and its peer's height claim ignored
    /// (`[p2p] sync_request_timeout_ms`, `RuntimeCoreSettings.syncRequestTimeoutMs`).
    public var requestTimeoutNs: UInt64
    /// How long the claim of a peer that did not deliver is ignored (`[p2p] sync_ignore_peer_ms`,
    /// `RuntimeCoreSettings.syncIgnorePeerMs`).
    public var ignorePeerNs: UInt64

    public init(requestTimeoutNs: UInt64, ignorePeerNs: UInt64) {
        self.requestTimeoutNs = requestTimeoutNs
        self.ignorePeerNs = ignorePeerNs
    }

    public var active = false
    /// The highest committed height a connected member claims and has not failed to deliver:
    /// re-evaluated on every change of `peerHeights` or `ignoredUntilNs`.
    public private(set) var target: UInt64 = 0
    /// Connected members' claimed heights (from their authenticated hello, pings and appends).
    public private(set) var peerHeights: [String: UInt64] = [:]
    /// Peers whose requests timed out: their claims count for nothing until then.
    public private(set) var ignoredUntilNs: [String: UInt64] = [:]
    /// Outstanding requests by first height, with the range they cover.
    public var requested: [UInt64: (peer: String, sentNs: UInt64, count: Int)] = [:]
    public var buffered: [UInt64: Block] = [:]
    public var nextPeer = 0
    public var startedNs: UInt64 = 0
    public var startHeight: UInt64 = 0
    public var lastProgressLogNs: UInt64 = 0

    /// The connected members and their heights now: a disconnected peer's claim is forgotten
    /// (a peer being ignored stays ignored when it reconnects, until its time is up).
    public mutating func refresh(connected: [(id: String, height: UInt64)], now: UInt64) {
        var heights: [String: UInt64] = [:]
        for p in connected { heights[p.id] = max(p.height, peerHeights[p.id] ?? 0) }
        peerHeights = heights
        ignoredUntilNs = ignoredUntilNs.filter { $0.value > now }
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
    public mutating func received(_ blocks: [Block], from peer: String) -> [Block] {
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
    public func covered(_ h: UInt64) -> Bool {
        buffered[h] != nil || requested.contains { h >= $0.key && h < $0.key + UInt64($0.value.count) }
    }

    /// Ranges to ask for now, each with the peer to ask: runs of heights neither buffered nor
    /// requested (a reply cut short by its size limit leaves a gap that is asked for again),
    /// spread round-robin over peers that have them.
    public mutating func requests(head: UInt64, now: UInt64) -> [(from: UInt64, count: Int, peer: String)] {
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
    public mutating func takeContiguous(after head: UInt64, max: Int) -> [Block] {
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
