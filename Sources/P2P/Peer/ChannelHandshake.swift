import Chain

/// The pure parts of the secure channel's handshake (docs/PROTOCOL.md, "Peer protocol"): the
/// preamble, the transcript hash, the session-key derivation, the signed bytes, and the auth
/// frame's payload. No state, no sockets: the test vectors are computed from these alone.
enum ChannelHandshake {
    /// Domain tag that starts the transcript and the signed bytes, so neither can be taken for
    /// anything else (a block, a transaction, another protocol version): "autochain-p2p-v<version>".
    static func domainTag(version: UInt16) -> [UInt8] { Array("autochain-p2p-v\(version)".utf8) }
    /// The versions this build speaks: 3 (the auth frame carries the incarnation) and 2 (a peer
    /// of the previous release, taken as incarnation 0; docs/PROTOCOL.md, "Versions").
    static let supportedVersions: ClosedRange<UInt16> = 2...3
    /// First bytes of every connection, both directions.
    static let magic: [UInt8] = Array("ACHN".utf8)
    /// magic (4) ‖ version (u16 BE) ‖ ephemeral X25519 public key (32).
    static let preambleBytes = 4 + 2 + 32
    /// Longest auth frame body (ciphertext and tag) accepted: the largest payload `encodeAuth`
    /// makes (1 + 32 + 64 + 32 + 8 + 8 + 4 × 256 = 1,169 bytes) plus the tag, rounded up.
    static let maxAuthFrameBodyBytes = 1_200
    /// Most bytes a handshake can take: the preamble and the largest auth frame (1,242).
    static let maxHandshakeBytes = preambleBytes + 4 + maxAuthFrameBodyBytes
    /// Longest string field (chainId, nodeId, addresses) in an auth frame, in bytes.
    static let maxAuthStringBytes = 255

    /// Which end of the connection a side is; the byte goes into what it signs.
    enum Role: UInt8 {
        /// The dialler: `crypto_kx` client.
        case initiator = 1
        /// The acceptor: `crypto_kx` server.
        case responder = 2

        var other: Role { self == .initiator ? .responder : .initiator }
    }

    static func preamble(version: UInt16, ephemeralPublicKey: [UInt8]) -> [UInt8] {
        precondition(ephemeralPublicKey.count == 32)
        return magic + [UInt8(version >> 8), UInt8(version & 0xFF)] + ephemeralPublicKey
    }

    /// The peer's ephemeral key from its preamble and the version both sides then speak (the
    /// lower of the two: each side sees both preambles, so both pick the same), or why the
    /// preamble is refused. The version is in the transcript: a preamble altered on the way gives
    /// the two sides different transcripts, and the auth frames do not verify.
    static func parsePreamble(_ bytes: UnsafeRawBufferPointer, version: UInt16) throws(ChannelError) -> (key: [UInt8], version: UInt16) {
        precondition(bytes.count == preambleBytes)
        guard Array(bytes[0..<4]) == magic else { throw .badPreamble("not an autochain peer (bad magic)") }
        let theirs = UInt16(bytes[4]) << 8 | UInt16(bytes[5])
        let agreed = min(theirs, version)
        guard supportedVersions.contains(agreed) else {
            throw .badPreamble("protocol version mismatch: ours \(version), theirs \(theirs)")
        }
        return (Array(bytes[6..<preambleBytes]), agreed)
    }

    /// SHA-256(domainTag ‖ version (u16 BE) ‖ len(chainId) (u16 BE) ‖ chainId ‖ genesisHash (32)
    /// ‖ initiator's ephemeral key (32) ‖ responder's ephemeral key (32)).
    static func transcript(version: UInt16, chainId: String, genesisHash: Hash32,
                           initiatorKey: [UInt8], responderKey: [UInt8]) -> Hash32 {
        let chain = Array(chainId.utf8)
        precondition(chain.count <= Int(UInt16.max) && initiatorKey.count == 32 && responderKey.count == 32)
        var hasher = SHA256Hasher()
        hasher.update(domainTag(version: version))
        hasher.update([UInt8(version >> 8), UInt8(version & 0xFF)])
        hasher.update([UInt8(chain.count >> 8), UInt8(chain.count & 0xFF)])
        hasher.update(chain)
        hasher.update(genesisHash)
        hasher.update(initiatorKey)
        hasher.update(responderKey)
        return hasher.finalize()
    }

    /// credentialKey = SHA-256(credential's UTF-8 bytes; empty when none is set).
    static func credentialKey(_ credential: String?) -> [UInt8] {
        Crypto.sha256(Array((credential ?? "").utf8)).bytes
    }

    /// A direction's key: BLAKE2b-256 keyed with the credential key over the `crypto_kx` session
    /// key, so a side without the credential derives other keys and cannot open a single frame.
    static func directionKey(kxKey: [UInt8], credentialKey: [UInt8]) -> [UInt8] {
        BLAKE2b.hash(kxKey, key: credentialKey, outputBytes: 32)
    }

    /// domainTag ‖ transcript (32) ‖ role byte, and from version 3 ‖ incarnation (u64 BE): what a
    /// side signs with its node key. The transcript names both ephemeral keys (no relaying to
    /// another connection); the role names the signer's end (no reflecting a signature back to its
    /// sender); the incarnation is the signer's own word (no one without its key can raise it).
    static func signedBytes(version: UInt16, transcript: Hash32, role: UInt8, incarnation: UInt64) -> [UInt8] {
        var out = domainTag(version: version) + transcript.bytes + [role]
        if version >= 3 { appendUInt64(incarnation, to: &out) }
        return out
    }

    static func appendUInt64(_ value: UInt64, to out: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
}

/// What each side tells the other, sealed, in its first frame.
struct ChannelAuth: Sendable, Equatable {
    var nodeKey: PublicKey
    var signature: Signature
    var genesisHash: Hash32
    var height: UInt64
    /// The incarnation this copy of the node was started with (fencing); 0 from a version-2 peer.
    var incarnation: UInt64 = 0
    var chainId: String
    var nodeId: String
    var p2pAddr: String
    var apiAddr: String

    /// nodeKey (32) ‖ signature (64) ‖ genesisHash (32) ‖ height (u64 BE) ‖ from version 3
    /// incarnation (u64 BE) ‖ then chainId, nodeId, p2pAddr, apiAddr, each as len (u8) ‖ UTF-8
    /// bytes. A string over 255 bytes is sent empty.
    func encoded(version: UInt16) -> [UInt8] {
        var out = nodeKey.bytes + signature.bytes + genesisHash.bytes
        ChannelHandshake.appendUInt64(height, to: &out)
        if version >= 3 { ChannelHandshake.appendUInt64(incarnation, to: &out) }
        for text in [chainId, nodeId, p2pAddr, apiAddr] {
            let bytes = Array(text.utf8)
            let kept = bytes.count <= ChannelHandshake.maxAuthStringBytes ? bytes : []
            out.append(UInt8(kept.count))
            out += kept
        }
        return out
    }

    /// Parses a payload made by `encoded(version:)`; every length is checked, trailing bytes refused.
    static func decode(_ bytes: UnsafeRawBufferPointer, version: UInt16) throws(ChannelError) -> ChannelAuth {
        var reader = ByteCursor(bytes)
        guard let key = reader.take(32).flatMap({ PublicKey(bytes: $0) }),
              let signature = reader.take(64).flatMap({ Signature(bytes: $0) }),
              let genesis = reader.take(32).flatMap({ Hash32(bytes: $0) }),
              let heightBytes = reader.take(8) else { throw .badAuthFrame("auth frame too short") }
        let height = heightBytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        var incarnation: UInt64 = 0
        if version >= 3 {
            guard let bytes = reader.take(8) else { throw .badAuthFrame("auth frame too short") }
            incarnation = bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
        var strings: [String] = []
        for field in ["chainId", "nodeId", "p2pAddr", "apiAddr"] {
            guard let length = reader.take(1)?.first, let raw = reader.take(Int(length)) else {
                throw .badAuthFrame("auth frame ends inside \(field)")
            }
            guard let text = String(validating: raw, as: UTF8.self) else { throw .badAuthFrame("\(field) is not UTF-8") }
            strings.append(text)
        }
        guard reader.remaining == 0 else { throw .badAuthFrame("\(reader.remaining) bytes after the auth fields") }
        guard height <= UInt64(Int64.max) else { throw .badAuthFrame("height \(height) is over 2^63-1") }
        guard incarnation <= UInt64(Int64.max) else { throw .badAuthFrame("incarnation \(incarnation) is over 2^63-1") }
        guard PeerLimits.isValidNodeId(strings[1]) else { throw .badAuthFrame("nodeId is not a valid node id") }
        return ChannelAuth(nodeKey: key, signature: signature, genesisHash: genesis, height: height, incarnation: incarnation,
                           chainId: strings[0], nodeId: strings[1], p2pAddr: strings[2], apiAddr: strings[3])
    }
}

/// Reads fixed-size pieces off a buffer; nil when fewer bytes remain.
private struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
    var remaining: Int { bytes.count - offset }
    mutating func take(_ count: Int) -> [UInt8]? {
        guard count >= 0, count <= remaining else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }
}

/// Why a secure channel failed. The peer caused it; each closes that connection only.
enum ChannelError: Error, Sendable, Equatable, CustomStringConvertible {
    case badPreamble(String)
    /// `crypto_kx` refused the peer's ephemeral key (a low-order or otherwise unusable point).
    case badEphemeralKey
    case frameTooLarge(bytes: Int, max: Int)
    case frameTooSmall(bytes: Int)
    /// The preamble and auth frame would take more than the pre-auth budget.
    case handshakeTooLarge(max: Int)
    /// The auth frame did not open: the peer has another cluster credential, or it was altered.
    case authFrameUnopenable
    /// A later frame did not open: altered, replayed, reordered or dropped on the way.
    case frameUnopenable(counter: UInt64)
    case badAuthFrame(String)
    case chainIdMismatch(ours: String, theirs: String)
    case genesisHashMismatch(ours: Hash32, theirs: Hash32)
    case badSignature(nodeKey: PublicKey)
    case unexpectedFrameKind(UInt8)
    case dataAfterClose
    /// The stream ended without the sealed close frame: it may have been cut short.
    case truncated

    /// True for refusals that a redial will not cure soon (another chain, version or credential).
    var isMismatch: Bool {
        switch self {
        case .chainIdMismatch, .genesisHashMismatch, .authFrameUnopenable: true
        case .badPreamble(let reason): reason.hasPrefix("protocol version mismatch")
        default: false
        }
    }

    var description: String {
        switch self {
        case .badPreamble(let reason): "bad preamble: \(reason)"
        case .badEphemeralKey: "bad ephemeral key: crypto_kx refused it"
        case .frameTooLarge(let bytes, let max): "frame of \(bytes) bytes exceeds the limit of \(max)"
        case .frameTooSmall(let bytes): "frame of \(bytes) bytes is shorter than a kind byte and a tag"
        case .handshakeTooLarge(let max): "more than \(max) bytes before authentication"
        case .authFrameUnopenable: "auth frame does not open: wrong cluster credential, or altered on the way"
        case .frameUnopenable(let counter): "frame \(counter) does not open: altered, replayed, reordered or dropped"
        case .badAuthFrame(let reason): "bad auth frame: \(reason)"
        case .chainIdMismatch(let ours, let theirs): "chainId mismatch: ours \(ours), theirs \(theirs)"
        case .genesisHashMismatch(let ours, let theirs): "genesisHash mismatch: ours \(ours.hex), theirs \(theirs.hex)"
        case .badSignature(let key): "bad auth signature for nodeKey \(key.hex)"
        case .unexpectedFrameKind(let kind): "unexpected frame kind \(kind)"
        case .dataAfterClose: "bytes after the close frame"
        case .truncated: "stream ended without a close frame (truncated)"
        }
    }
}
