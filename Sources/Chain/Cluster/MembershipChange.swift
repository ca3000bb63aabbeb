/// A change to the cluster's membership, carried by a block of its own (no transactions), so that
/// the chain is the authoritative record of who votes: every node replays it, and block sync
/// brings it along. The block's stateRoot commits to it (`StateRoot.next(previous:membership:)`).
public struct MembershipChange: Sendable, Hashable {
    public enum Kind: UInt8, Sendable, CaseIterable {
        /// A node joins as a learner: it receives blocks, never votes.
        case addLearner = 1
        /// A caught-up learner becomes a voter.
        case promote = 2
        /// A node leaves the configuration; its ID is retired for good.
        case remove = 3
        /// Block 1 of every chain: the node that started the cluster, its only voter at first.
        case bootstrap = 4

        public var name: String {
            switch self {
            case .addLearner: "addLearner"
            case .promote: "promote"
            case .remove: "remove"
            case .bootstrap: "bootstrap"
            }
        }

        public init?(name: String) {
            guard let k = Self.allCases.first(where: { $0.name == name }) else { return nil }
            self = k
        }
    }

    /// Node IDs are short and printable: they travel in logs, metrics labels and URLs.
    public static let maxNodeIdBytes = NodeIDGrammar.maxBytes

    public var kind: Kind
    public var nodeId: String
    /// The node's key for `addLearner` and `bootstrap` (peers authenticate it with this); zero otherwise.
    public var nodeKey: PublicKey

    public init(kind: Kind, nodeId: String, nodeKey: PublicKey = .zero) {
        precondition(Self.isValidNodeId(nodeId), "invalid node id \(nodeId)")
        precondition(kind.carriesKey || nodeKey == .zero, "only addLearner and bootstrap carry a key")
        self.kind = kind
        self.nodeId = nodeId
        self.nodeKey = nodeKey
    }

    /// The cluster's one node-ID grammar (`NodeID`).
    public static func isValidNodeId(_ id: String) -> Bool { NodeIDGrammar.isValid(id) }

    /// u8 kind ‖ u8 len ‖ nodeId (UTF-8) ‖ nodeKey (32 bytes).
    public func encode(into out: inout [UInt8]) {
        out.append(kind.rawValue)
        out.append(UInt8(nodeId.utf8.count))
        out.append(contentsOf: nodeId.utf8)
        nodeKey.append(to: &out)
    }

    public static func decode(_ reader: inout ByteReader) throws(DecodeError) -> MembershipChange {
        let offset = reader.offset
        guard let kind = Kind(rawValue: try reader.readUInt8()) else { throw .invalidValue(offset: offset, what: "membership kind") }
        let len = Int(try reader.readUInt8())
        let idBytes = try reader.readBytes(len)
        guard let id = String(validating: idBytes, as: UTF8.self), isValidNodeId(id) else {
            throw .invalidValue(offset: offset + 2, what: "node id")
        }
        let key = try reader.read(PublicKey.self)
        guard kind.carriesKey || key == .zero else { throw .invalidValue(offset: offset, what: "membership key") }
        return MembershipChange(kind: kind, nodeId: id, nodeKey: key)
    }

    public var json: JSON {
        var o: JSONObject = JSONObject([("op", .string(kind.name)), ("node", .string(nodeId))])
        if kind.carriesKey { o["nodeKey"] = .string(nodeKey.hex) }
        return .object(o)
    }

    public init(json: JSON) throws(BlockRejection) {
        guard let op = json["op"]?.stringValue, let kind = Kind(name: op) else {
            throw .invalidJSON("membership `op` must be addLearner, promote, remove or bootstrap")
        }
        guard let id = json["node"]?.stringValue, Self.isValidNodeId(id) else {
            throw .invalidJSON("membership `node` must match \(NodeIDGrammar.pattern)")
        }
        var key = PublicKey.zero
        if kind.carriesKey {
            guard let text = json["nodeKey"]?.stringValue, let k = PublicKey(hex: text) else {
                throw .invalidJSON("membership `nodeKey` must be 32 bytes of hex")
            }
            key = k
        }
        self.init(kind: kind, nodeId: id, nodeKey: key)
    }
}

extension StateRoot {
    /// The state digest after a membership block: membership is state, so a node that applied a
    /// different change diverges visibly at that block.
    /// SHA-256(previous ‖ "autochain-membership-v1" ‖ change encoding).
    public static func next(previous: Hash32, membership change: MembershipChange) -> Hash32 {
        var bytes: [UInt8] = []
        previous.append(to: &bytes)
        bytes.append(contentsOf: Array("autochain-membership-v1".utf8))
        change.encode(into: &bytes)
        return Crypto.sha256(bytes)
    }
}

extension MembershipChange.Kind {
    public var carriesKey: Bool { self == .addLearner || self == .bootstrap }
}

/// Why a membership change cannot apply, with the stable API code (`membership_refused`, or
/// `retired_key` for a retired node's key).
public struct MembershipRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String

    public static func because(_ message: String) -> MembershipRejection { MembershipRejection(code: "membership_refused", message: message) }
    public static func retiredKey(of retiredId: String) -> MembershipRejection {
        MembershipRejection(code: "retired_key", message: "that node key was retired node \(retiredId)'s and is never admitted again")
    }

    public var description: String { message }
}

/// Who is in the cluster, as of some height: the chain's membership blocks applied in order.
/// Persisted with the block that last changed it. Node IDs are never reused: a removed ID is
/// retired, and so is the key it had (`retiredKeys`): a removed member never rejoins, under its
/// old ID or a new one.
public struct ClusterMembership: Sendable, Equatable {
    public var voters: [String] = []
    public var learners: [String] = []
    public var keys: [String: PublicKey] = [:]
    public var retired: [String] = []
    /// The key each retired ID had when it was removed (fencing's tombstones): one per removal,
    /// so never more entries than `retired`. Derived from the chain's membership blocks like the
    /// rest of this type (the registry's `VerifiedChain` reads it from here too).
    public var retiredKeys: [String: PublicKey] = [:]

    public init(voters: [String] = [], learners: [String] = [], keys: [String: PublicKey] = [:], retired: [String] = [],
                retiredKeys: [String: PublicKey] = [:]) {
        self.voters = voters.sorted()
        self.learners = learners.sorted()
        self.keys = keys
        self.retired = retired.sorted()
        self.retiredKeys = retiredKeys
    }

    public var members: [String] { (voters + learners).sorted() }
    public func contains(_ id: String) -> Bool { voters.contains(id) || learners.contains(id) }

    /// The retired ID whose key `key` was, if any.
    public func retiredOwner(of key: PublicKey) -> String? {
        retiredKeys.first { $0.value == key }?.key
    }

    /// Why `change` cannot apply here, or nil when it can. Every node answers the same.
    public func rejection(of change: MembershipChange) -> MembershipRejection? {
        switch change.kind {
        case .bootstrap:
            return voters.isEmpty && learners.isEmpty ? nil : .because("bootstrap only starts an empty cluster")
        case .addLearner:
            if retired.contains(change.nodeId) { return .because("node ID \(change.nodeId) was removed and is retired for good") }
            if contains(change.nodeId) { return .because("\(change.nodeId) is already a member") }
            if keys.values.contains(change.nodeKey) { return .because("that node key already belongs to a member") }
            if let owner = retiredOwner(of: change.nodeKey) { return .retiredKey(of: owner) }
            return nil
        case .promote:
            return learners.contains(change.nodeId) ? nil : .because("\(change.nodeId) is not a learner")
        case .remove:
            if !contains(change.nodeId) { return .because("\(change.nodeId) is not a member") }
            if voters == [change.nodeId] { return .because("cannot remove the last voter") }
            return nil
        }
    }

    /// The membership after `change`; an invalid change leaves it as it was (on every node alike).
    public func applying(_ change: MembershipChange) -> ClusterMembership {
        guard rejection(of: change) == nil else { return self }
        var m = self
        switch change.kind {
        case .bootstrap:
            m.voters = [change.nodeId]
            m.keys[change.nodeId] = change.nodeKey
        case .addLearner:
            m.learners = (m.learners + [change.nodeId]).sorted()
            m.keys[change.nodeId] = change.nodeKey
        case .promote:
            m.learners.removeAll { $0 == change.nodeId }
            m.voters = (m.voters + [change.nodeId]).sorted()
        case .remove:
            m.voters.removeAll { $0 == change.nodeId }
            m.learners.removeAll { $0 == change.nodeId }
            if let key = m.keys[change.nodeId] { m.retiredKeys[change.nodeId] = key }
            m.keys[change.nodeId] = nil
            m.retired = (m.retired + [change.nodeId]).sorted()
        }
        return m
    }

    public var json: JSON {
        .object(JSONObject([
            ("voters", .array(voters.map { .string($0) })),
            ("learners", .array(learners.map { .string($0) })),
            ("keys", .object(JSONObject(keys.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value.hex)) }))),
            ("retired", .array(retired.map { .string($0) })),
            ("retiredKeys", .object(JSONObject(retiredKeys.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value.hex)) }))),
        ]))
    }

    /// Whether a stored record predates `retiredKeys` (it lacks the field): the store then
    /// derives them from the chain's membership blocks once (`ChainStore`).
    public static func lacksRetiredKeys(_ json: JSON) -> Bool { json["retiredKeys"] == nil }

    public init?(json: JSON) {
        func ids(_ key: String) -> [String]? { json[key]?.arrayValue?.compactMap(\.stringValue) }
        guard let voters = ids("voters"), let learners = ids("learners"), let retired = ids("retired"),
              let keyObject = json["keys"]?.objectValue else { return nil }
        func keyMap(_ object: JSONObject) -> [String: PublicKey]? {
            var out: [String: PublicKey] = [:]
            for (id, value) in object.pairs {
                guard let text = value.stringValue, let key = PublicKey(hex: text) else { return nil }
                out[id] = key
            }
            return out
        }
        guard let keys = keyMap(keyObject) else { return nil }
        var retiredKeys: [String: PublicKey] = [:]
        if let value = json["retiredKeys"] {
            guard let object = value.objectValue, let parsed = keyMap(object) else { return nil }
            retiredKeys = parsed
        }
        self.init(voters: voters, learners: learners, keys: keys, retired: retired, retiredKeys: retiredKeys)
    }
}
