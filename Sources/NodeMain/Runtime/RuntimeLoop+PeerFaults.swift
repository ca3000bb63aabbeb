import Chain
import NodeCore
import Consensus

/// Rate limit for the log lines about peers' refused Raft messages and evidence: a flooding
/// peer must not flood the log too. Every occurrence is still counted in the metrics.
struct PeerFaultLog {
    static let minIntervalNs = UInt64(NodeSettings.Raft.peerFaultLogIntervalMs) * 1_000_000
    private var lastNs: [String: UInt64] = [:]
    /// Occurrences since the last line of each kind, told in the next one.
    private var suppressed: [String: Int] = [:]

    /// The number of earlier occurrences not logged, or nil when this one must not be logged.
    mutating func shouldLog(_ key: String, nowNs: UInt64) -> Int? {
        if let last = lastNs[key], nowNs &- last < Self.minIntervalNs {
            suppressed[key, default: 0] += 1
            return nil
        }
        lastNs[key] = nowNs
        return suppressed.removeValue(forKey: key) ?? 0
    }
}

extension RuntimeLoop {
    /// The core refused a peer's Raft message at the door (out of range, malformed, not a member
    /// or not a voter): counted, and logged at most once per `minIntervalNs` per reason.
    mutating func noteRefused(_ m: Message, _ reason: RefusalReason, _ runtime: NodeRuntime) {
        runtime.metrics.raftRefused.inc(1, reason.rawValue)
        guard let earlier = peerFaultLogged.shouldLog("refused." + reason.rawValue, nowNs: monotonicNs()) else { return }
        log.warn("raft message refused", ["peer": String(m.from.prefix(64)), "reason": reason.rawValue,
                                           "term": m.term, "alsoRefusedSinceLastLine": earlier])
    }

    /// A peer sent what only a faulty member sends (the core ignored it): counted, kept as the
    /// latest for the registry's heartbeat (`evidence`), and logged at most once per `minIntervalNs` per kind.
    mutating func noteEvidence(_ e: Evidence, _ runtime: NodeRuntime) {
        runtime.metrics.raftEvidence.inc(1, e.kind.rawValue)
        runtime.evidence.withLock { $0 = ($0.count &+ 1, e) }
        guard let earlier = peerFaultLogged.shouldLog("evidence." + e.kind.rawValue, nowNs: monotonicNs()) else { return }
        log.warn("raft evidence of a faulty member", ["kind": e.kind.rawValue, "peer": String(e.from.prefix(64)),
                                                      "term": e.term, "acceptedLeader": e.leader ?? "", "index": e.index,
                                                      "alsoSeenSinceLastLine": earlier])
    }
}
