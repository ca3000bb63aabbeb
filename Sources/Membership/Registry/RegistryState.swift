import Chain

/// One node as the registry knows it: soft state rebuilt from registrations and heartbeats.
public struct NodeRecord: Sendable {
    public var id: String
    public var apiUrl: String
    public var p2pAddr: String
    public var nodeKey: String
    public var registeredAt: Double
    public var lastHeartbeatAt: Double?
    public var height: UInt64 = 0
    public var commitIndex: UInt64 = 0
    public var term: UInt64 = 0
    public var role: String = "unknown"
    public var leader: String?
    public var voters: [String] = []
    public var learners: [String] = []
    public var retiredIds: [String] = []
    public var load = NodeLoad()
    public var draining = false
    /// Why the node's storage refuses writes ("disk_full", "io_error"), as it last reported; nil when it takes them.
    public var degraded: String?

    public var json: JSON {
        var o = JSONObject([("id", .string(id)), ("apiUrl", .string(apiUrl)), ("p2pAddr", .string(p2pAddr)),
                            ("role", .string(role)), ("height", .uint(height))])
        o["term"] = .uint(term)
        o["leader"] = leader.map { .string($0) } ?? .null
        if let degraded { o["degraded"] = .string(degraded) }
        return .object(o)
    }
}

/// A scaling decision or an observation worth telling an operator, kept and shown.
public struct RegistryEvent: Sendable {
    public var seq: UInt64
    public var at: Double
    public var kind: String
    public var node: String?
    public var message: String

    public var json: JSON {
        var o = JSONObject([("seq", .uint(seq)), ("at", .double(at)), ("kind", .string(kind))])
        o["node"] = node.map { .string($0) } ?? .null
        o["message"] = .string(message)
        return .object(o)
    }
}

/// Everything the registry holds. Soft state: after a restart it is rebuilt from heartbeats;
/// nothing here is the only copy of anything that matters (membership lives in the chain).
public struct RegistryState: Sendable {
    public var nodes: [String: NodeRecord] = [:]
    public var events: [RegistryEvent] = []
    public var nextEventSeq: UInt64 = 1
    public var operatorTarget: Int?
    public var consensusFailureAt: Double?
    public var retired: Set<String> = []
    public var detector: FailureDetector
    public var autoscaler = Autoscaler()
    public var inFlight: [(action: ScalingAction, since: Double)] = []
    public var restartFailures: [String: Int] = [:]
    public var lastActionAt: [String: Double] = [:]
    public var decisions: UInt64 = 0
    /// IDs handed to spawns (never reused, even if the spawn failed).
    public var reservedIds: Set<String> = []
    /// The chain as verified so far: membership, retired IDs, term.
    public var chain = VerifiedChain()
    /// Node ID <-> key, and the last sequence accepted per key (signed node calls).
    public var pins = KeyPins()
    /// When each throttled event kind was last recorded (`record(_:_:_:atMostEvery:)`); one entry
    /// per kind the code names, so bounded.
    public var lastEventAtByKind: [String: Double] = [:]

    public init(detector: FailureDetector) { self.detector = detector }

    public mutating func record(_ kind: String, node: String? = nil, _ message: String, at: Double, max: Int) {
        events.append(RegistryEvent(seq: nextEventSeq, at: at, kind: kind, node: node, message: message))
        nextEventSeq += 1
        if events.count > max { events.removeFirst(events.count - max) }
    }

    /// The membership as the registry verified it from the chain (`chain`), never from claims.
    /// The leader is the one the members themselves name (their signed heartbeats), counted only
    /// from nodes whose pinned key is their key in the verified chain and only when it names a
    /// verified voter: it routes calls, it decides nothing about who is a member.
    public var membership: (voters: [String], learners: [String], leader: String?, commit: UInt64) {
        let m = chain.membership
        let members = nodes.values.filter { r in
            r.lastHeartbeatAt != nil && m.contains(r.id) && m.keys[r.id].map { $0.hex == r.nodeKey } == true
        }
        let best = members.max { ($0.role == "leader" ? 1 : 0, $0.term, $0.commitIndex) < ($1.role == "leader" ? 1 : 0, $1.term, $1.commitIndex) }
        let named = best.flatMap { $0.role == "leader" ? $0.id : $0.leader }
        let leader = named.flatMap { m.voters.contains($0) ? $0 : nil }
        return (m.voters, m.learners, leader, chain.height)
    }

    /// Every node ID ever seen (members, retired, known): new IDs are chosen above all of them.
    public var allKnownIds: Set<String> {
        var ids = Set(nodes.keys).union(retired)
        for n in nodes.values { ids.formUnion(n.voters); ids.formUnion(n.learners); ids.formUnion(n.retiredIds) }
        return ids
    }
}
