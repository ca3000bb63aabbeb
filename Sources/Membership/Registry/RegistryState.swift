import Chain
import Consensus

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
    /// nil until the node reports one (shown as "unknown").
    public var role: Role?
    public var leader: String?
    public var voters: [String] = []
    public var learners: [String] = []
    public var retiredIds: [String] = []
    public var load = NodeLoad()
    /// Why the node's storage refuses writes ("disk_full", "io_error"), as it last reported; nil when it takes them.
    public var degraded: String?
    /// The evidence count the node last reported, and when the registry last told of it.
    public var evidenceCount: UInt64 = 0
    public var evidenceToldAt: Double?
    /// The incarnation of the copy that reports (fencing; 0: started without one).
    public var incarnation: UInt64 = 0

    public var json: JSON {
        var o = JSONObject([("id", .string(id)), ("apiUrl", .string(apiUrl)), ("p2pAddr", .string(p2pAddr)),
                            ("role", .string(role.wireName)), ("height", .uint(height))])
        o["term"] = .uint(term)
        o["incarnation"] = .uint(incarnation)
        o["leader"] = leader.map { .string($0) } ?? .null
        if let degraded { o["degraded"] = .string(degraded) }
        return .object(o)
    }
}

/// A scaling decision or an observation worth telling an operator, kept and shown.
public struct RegistryEvent: Sendable {
    public var seq: UInt64
    public var at: Double
    public var kind: RegistryEventKind
    public var node: String?
    public var message: String

    public var json: JSON {
        var o = JSONObject([("seq", .uint(seq)), ("at", .double(at)), ("kind", .string(kind.name))])
        o["node"] = node.map { .string($0) } ?? .null
        o["message"] = .string(message)
        return .object(o)
    }
}

/// Everything the registry holds: the core (its decisions) and what only the shell needs (the
/// events shown, the chain as verified so far, the key pins of signed calls). Soft state: after
/// a restart it is rebuilt from heartbeats; nothing here is the only copy of anything that
/// matters (membership lives in the chain).
public struct RegistryState: Sendable {
    public var core: RegistryCore
    public var events: [RegistryEvent] = []
    public var nextEventSeq: UInt64 = 1
    /// The chain as verified so far: membership, retired IDs, term (the core gets its membership).
    public var chain = VerifiedChain()
    /// Node ID <-> key, and the last sequence accepted per key (signed node calls).
    public var pins = KeyPins()
    /// When each throttled event kind was last recorded (`record(_:_:_:atMostEvery:)`); one entry
    /// per kind the code names, so bounded.
    public var lastEventAtByKind: [RegistryEventKind: Double] = [:]

    public init(core: RegistryCore) { self.core = core }

    public mutating func record(_ kind: RegistryEventKind, node: String? = nil, _ message: String, at: Double, max: Int) {
        events.append(RegistryEvent(seq: nextEventSeq, at: at, kind: kind, node: node, message: message))
        nextEventSeq += 1
        if events.count > max { events.removeFirst(events.count - max) }
    }

    /// Verified chain in, the core's membership follows.
    public mutating func adopt(_ verified: VerifiedChain) {
        chain = verified
        core.membershipVerified(verified.membership, height: verified.height, retiredKeys: Set(verified.retiredKeys.map(\.hex)))
    }
}
