import Chain

/// Which node ID speaks with which key, and the last sequence accepted from each key: the
/// registry's rule that a node can speak only for itself, and nobody can replay it.
/// Promises: an ID once pinned is only ever accepted with its key, a key only for its ID; a
/// call is admitted only with a sequence above the last admitted one for its key and a
/// timestamp within the allowed skew; nothing changes when a call is refused. Pure.
public struct KeyPins: Sendable {
    public private(set) var keyOf: [String: PublicKey] = [:]
    private var nodeOf: [PublicKey: String] = [:]
    private var lastSequence: [PublicKey: UInt64] = [:]

    public init() {}

    public var count: Int { keyOf.count }

    /// Admits `call` or throws why not. `expectedKey` is the key the registry gave the node when
    /// it spawned it (it wins over whatever the node claims); `slotFree` says whether a node not
    /// yet pinned may take a slot. Only a registration pins a new ID.
    public mutating func admit(_ call: SignedRegistryCall, nowMs: UInt64, maxSkewMs: UInt64, expectedKey: PublicKey?,
                               slotFree: Bool, slotLimit: Int) throws(RegistryCallRefusal) {
        let skew = nowMs > call.timestampMs ? nowMs - call.timestampMs : call.timestampMs - nowMs
        guard skew <= maxSkewMs else { throw .staleTimestamp(skewMs: skew) }
        let pinned = keyOf[call.nodeId] ?? expectedKey
        if let pinned, pinned != call.nodeKey { throw .keyMismatch(nodeId: call.nodeId) }
        if let owner = nodeOf[call.nodeKey], owner != call.nodeId { throw .keyBoundToOtherNode(nodeId: owner) }
        if keyOf[call.nodeId] == nil {
            guard call.kind == .register else { throw .notRegistered }
            guard slotFree else { throw .registryFull(limit: slotLimit) }
        }
        if let last = lastSequence[call.nodeKey], call.sequence <= last { throw .replayed(sequence: call.sequence, last: last) }
        keyOf[call.nodeId] = call.nodeKey
        nodeOf[call.nodeKey] = call.nodeId
        lastSequence[call.nodeKey] = call.sequence
    }

    /// Forgets a retired node's pin (its ID is refused as retired from now on anyway).
    public mutating func forget(_ nodeId: String) {
        guard let key = keyOf.removeValue(forKey: nodeId) else { return }
        nodeOf[key] = nil
        lastSequence[key] = nil
    }
}
