import Chain
import FoundationEssentials
import P2P

/// A node's call to the registry, signed with its Ed25519 node key, so the registry knows which
/// node speaks and that nobody replays it (docs/PROTOCOL.md, "Signed registry calls").
///
/// Carried in four headers next to the unchanged JSON body:
/// `X-Autochain-Node-Key` (hex public key), `X-Autochain-Sequence` (decimal u64, strictly
/// increasing per key), `X-Autochain-Timestamp-Ms` (decimal u64, Unix ms) and
/// `X-Autochain-Signature` (hex, 64 bytes) over `signingBytes`:
/// "autochain-registry-call-v1" ‖ u8 kind ‖ u8 len ‖ nodeId ‖ nodeKey (32) ‖ u64be sequence ‖
/// u64be timestampMs ‖ SHA-256(body bytes exactly as sent).
public struct SignedRegistryCall: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        case register = 1, heartbeat = 2, consensusFailure = 3

        /// The registry route each kind is for: a signature for one route is no good on another.
        public init?(path: String) {
            switch path {
            case "/register": self = .register
            case "/heartbeat": self = .heartbeat
            case "/consensus-failure": self = .consensusFailure
            default: return nil
            }
        }
    }

    public static let domainTag: [UInt8] = Array("autochain-registry-call-v1".utf8)
    public static let keyHeader = "X-Autochain-Node-Key"
    public static let sequenceHeader = "X-Autochain-Sequence"
    public static let timestampHeader = "X-Autochain-Timestamp-Ms"
    public static let signatureHeader = "X-Autochain-Signature"

    public var kind: Kind
    public var nodeId: String
    public var nodeKey: PublicKey
    public var sequence: UInt64
    public var timestampMs: UInt64
    public var bodyHash: Hash32

    public init(kind: Kind, nodeId: String, nodeKey: PublicKey, sequence: UInt64, timestampMs: UInt64, body: [UInt8]) {
        self.kind = kind
        self.nodeId = nodeId
        self.nodeKey = nodeKey
        self.sequence = sequence
        self.timestampMs = timestampMs
        self.bodyHash = Crypto.sha256(body)
    }

    /// The bytes the node signs. The node ID is at most 63 bytes (NodeIDGrammar), so its length fits a byte.
    public var signingBytes: [UInt8] {
        var out = Self.domainTag
        out.append(kind.rawValue)
        let id = Array(nodeId.utf8.prefix(NodeIDGrammar.maxBytes))
        out.append(UInt8(id.count))
        out.append(contentsOf: id)
        nodeKey.append(to: &out)
        withUnsafeBytes(of: sequence.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: timestampMs.bigEndian) { out.append(contentsOf: $0) }
        bodyHash.append(to: &out)
        return out
    }

    /// The four headers of this call signed with `key` (whose public key must be `nodeKey`).
    public func headers(signedWith key: KeyPair) -> [(String, String)] {
        [(Self.keyHeader, nodeKey.hex), (Self.sequenceHeader, String(sequence)), (Self.timestampHeader, String(timestampMs)),
         (Self.signatureHeader, Hex.encode(key.sign(signingBytes).bytes))]
    }

    /// Reads and verifies a call from its headers and exact body bytes. The node ID comes from
    /// the body's `nodeId` (checked against the grammar). Throws the refusal the registry answers.
    public static func verified(kind: Kind, headers: HTTPHeaders, body: [UInt8], nodeId: String) throws(RegistryCallRefusal) -> SignedRegistryCall {
        guard let keyText = headers[keyHeader], let seqText = headers[sequenceHeader], let tsText = headers[timestampHeader],
              let sigText = headers[signatureHeader] else { throw .signatureRequired }
        guard NodeIDGrammar.isValid(nodeId) else { throw .malformed("nodeId must match \(NodeIDGrammar.pattern)") }
        guard let key = PublicKey(hex: keyText) else { throw .malformed("\(keyHeader) must be 32 bytes of hex") }
        guard let sequence = decimal(seqText), let timestampMs = decimal(tsText) else {
            throw .malformed("\(sequenceHeader) and \(timestampHeader) must be decimal integers below 2^64")
        }
        guard sigText.utf8.count == 128, let sigBytes = Hex.decode(sigText), let signature = Signature(bytes: sigBytes) else {
            throw .malformed("\(signatureHeader) must be 64 bytes of hex")
        }
        let call = SignedRegistryCall(kind: kind, nodeId: nodeId, nodeKey: key, sequence: sequence, timestampMs: timestampMs, body: body)
        guard Ed25519.verify(signature, message: call.signingBytes, publicKey: key) else { throw .badSignature }
        return call
    }

    /// 1 to 20 ASCII digits that fit a UInt64; anything else is nil (no trap, no sign, no spaces).
    static func decimal(_ text: String) -> UInt64? {
        guard (1...20).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt64(text)
    }
}

/// Why the registry refuses a node's call: HTTP status and a stable code (docs/PROTOCOL.md).
public enum RegistryCallRefusal: Error, Sendable, Equatable {
    /// No signature headers at all.
    case signatureRequired
    /// Headers present but not parseable.
    case malformed(String)
    /// The signature does not verify under the key it names.
    case badSignature
    /// The timestamp is too far from the registry's clock.
    case staleTimestamp(skewMs: UInt64)
    /// The sequence is not above the last one accepted for this key.
    case replayed(sequence: UInt64, last: UInt64)
    /// The node ID is pinned to another key.
    case keyMismatch(nodeId: String)
    /// The key is pinned to another node ID: one node may not speak for another.
    case keyBoundToOtherNode(nodeId: String)
    /// A heartbeat from a key the registry has not pinned: register first.
    case notRegistered
    /// No slot left for another node.
    case registryFull(limit: Int)

    /// The code's row in `ErrorCodes` (the one table from code to status).
    public var status: Int { ErrorCodes.status(ofOwn: code) }

    public var code: String {
        switch self {
        case .signatureRequired: "signature_required"
        case .malformed: "invalid_signature_header"
        case .badSignature: "invalid_signature"
        case .staleTimestamp: "stale_timestamp"
        case .replayed: "replayed"
        case .keyMismatch: "key_mismatch"
        case .keyBoundToOtherNode: "key_bound_to_other_node"
        case .notRegistered: "not_registered"
        case .registryFull: "registry_full"
        }
    }

    public var message: String {
        switch self {
        case .signatureRequired: "this call must be signed with the node key (docs/PROTOCOL.md, signed registry calls)"
        case .malformed(let why): why
        case .badSignature: "the signature does not verify under the node key given"
        case .staleTimestamp(let skew): "the timestamp is \(skew) ms away from the registry's clock"
        case .replayed(let seq, let last): "sequence \(seq) is not above \(last), the last accepted for this key"
        case .keyMismatch(let id): "node ID \(id) is bound to another key"
        case .keyBoundToOtherNode(let id): "this key belongs to node \(id)"
        case .notRegistered: "this node key is not registered here: POST /register first"
        case .registryFull(let limit): "the registry holds \(limit) nodes already"
        }
    }
}
