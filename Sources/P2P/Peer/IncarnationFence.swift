import Chain

// Fencing on peer links (DESIGN-NOTES, Fencing): a node started twice (Swarm running an old copy
// on a cut-off host) must not take part twice. Every start carries an incarnation; a peer link's
// auth frame carries it, signed with the node key; each node keeps the highest incarnation it has
// seen per member and refuses a link with a lower one; a copy shown a higher incarnation of its
// own ID, signed with its own key, stops.

/// A node key's signed word that a copy of its node runs `incarnation`: the signature of one
/// version-3 auth frame, with what it signed. It cannot be made without the key, and any copy of
/// the node can check it (`verifies`), so a peer can pass it on to an old copy as proof.
public struct IncarnationProof: Sendable, Equatable {
    public var nodeId: String
    public var nodeKey: PublicKey
    public var incarnation: UInt64
    /// The transcript hash of the connection the auth frame was sent on.
    public var transcript: Hash32
    /// The signer's end of that connection (1 initiator, 2 responder).
    public var role: UInt8
    public var signature: Signature

    public init(nodeId: String, nodeKey: PublicKey, incarnation: UInt64, transcript: Hash32, role: UInt8, signature: Signature) {
        self.nodeId = nodeId
        self.nodeKey = nodeKey
        self.incarnation = incarnation
        self.transcript = transcript
        self.role = role
        self.signature = signature
    }

    /// The signature is `nodeKey`'s over the version-3 signed bytes of this incarnation.
    public func verifies() -> Bool {
        guard role == ChannelHandshake.Role.initiator.rawValue || role == ChannelHandshake.Role.responder.rawValue else { return false }
        let signed = ChannelHandshake.signedBytes(version: 3, transcript: transcript, role: role, incarnation: incarnation)
        return Ed25519.verify(signature, message: signed, publicKey: nodeKey)
    }
}

/// Who an authenticated peer says it is, with its incarnation: `proof` is nil for a version-2
/// peer, which has no incarnation and counts as 0.
public struct IncarnationClaim: Sendable, Equatable {
    public var nodeId: String
    public var nodeKey: PublicKey
    public var incarnation: UInt64
    public var proof: IncarnationProof?

    public init(nodeId: String, nodeKey: PublicKey, incarnation: UInt64, proof: IncarnationProof?) {
        self.nodeId = nodeId
        self.nodeKey = nodeKey
        self.incarnation = incarnation
        self.proof = proof
    }
}

/// The fencing decisions of one node's peer links. Pure: no clock, no sockets.
///
/// Promises:
/// - a member's link whose incarnation is below the highest this node has seen for that ID is
///   refused (`refuse`, with the proof of the higher one to show the old copy); an equal or
///   higher one is accepted, and a higher one becomes the one to beat;
/// - a claim of our own ID under our own key with a higher incarnation than ours, or a verified
///   proof of one, says this copy is superseded (`superseded`): it must stop;
/// - the table holds entries only for current members (`members` of the last call): at most the
///   membership's size, and a removed member's entry is forgotten at the next decision.
///   Non-members (join-only newcomers, strangers) are never recorded, so they cannot grow it.
public struct IncarnationFence: Sendable {
    public enum Verdict: Sendable, Equatable {
        case accept
        /// An older copy of `nodeId`: refuse its link; `newer` proves the higher incarnation.
        case refuse(reason: String, newer: IncarnationProof?)
        /// Our own ID, not a newer copy of us (a self-dial, an older copy, or another key).
        case ownId
        /// A newer copy of this node runs: stop.
        case superseded(IncarnationProof)
    }

    public let nodeId: String
    public let nodeKey: PublicKey
    public let incarnation: UInt64
    /// The highest incarnation seen per member, with its proof (nil: a version-2 peer's 0).
    public private(set) var highest: [String: IncarnationClaim] = [:]

    public init(nodeId: String, nodeKey: PublicKey, incarnation: UInt64) {
        self.nodeId = nodeId
        self.nodeKey = nodeKey
        self.incarnation = incarnation
    }

    /// Decides an authenticated link. `members`: the cluster's members now (empty while this node
    /// knows no membership yet: nothing is recorded then, and every other ID is accepted).
    public mutating func admit(_ claim: IncarnationClaim, members: Set<String>) -> Verdict {
        if claim.nodeId == nodeId {
            if claim.nodeKey == nodeKey, claim.incarnation > incarnation, let proof = claim.proof { return .superseded(proof) }
            return .ownId
        }
        highest = highest.filter { members.contains($0.key) }
        guard members.contains(claim.nodeId) else { return .accept }
        if let refusal = refusal(of: claim.nodeId, incarnation: claim.incarnation) { return refusal }
        if highest[claim.nodeId].map({ claim.incarnation > $0.incarnation }) ?? true { highest[claim.nodeId] = claim }
        return .accept
    }

    /// Whether a link of `nodeId` at `incarnation` is an older copy's now (a link accepted
    /// before a newer copy connected): `refuse` with the proof, or nil.
    public func refusal(of nodeId: String, incarnation: UInt64) -> Verdict? {
        guard let known = highest[nodeId], incarnation < known.incarnation else { return nil }
        return .refuse(reason: "\(nodeId) incarnation \(incarnation) is superseded by incarnation \(known.incarnation)",
                       newer: known.proof)
    }

    /// A peer showed us `proof` (a `superseded` message): `superseded` when it is our key's valid
    /// signature over a higher incarnation than ours; otherwise nil (ignored).
    public func learned(_ proof: IncarnationProof) -> Verdict? {
        guard proof.nodeId == nodeId, proof.nodeKey == nodeKey, proof.incarnation > incarnation, proof.verifies() else { return nil }
        return .superseded(proof)
    }
}
