import Chain

/// What a connection's secure channel needs to know about this node.
struct ChannelContext: Sendable {
    /// The highest version we speak; the channel speaks the lower of ours and the peer's.
    var version: UInt16
    var chainId: String
    var genesisHash: Hash32
    /// The cluster credential mixed into both direction keys; never sent.
    var credential: String?
    /// Longest JSON message a frame may carry (the old line limit).
    var maxMessageBytes: Int
    /// Most bytes the peer's preamble and auth frame may take together (`maxPreAuthBytes`).
    var maxHandshakeBytes: Int = ChannelHandshake.maxHandshakeBytes
    var nodeKey: KeyPair
    /// Our auth fields other than the key, signature and chain (filled in by the channel).
    var nodeId: String
    var p2pAddr: String
    var apiAddr: String
    var height: UInt64
    /// This copy's incarnation (fencing), sent and signed in a version-3 auth frame.
    var incarnation: UInt64 = 0
}

/// Whether this build seals message frames. Always on, except in a benchmark build made with
/// `-Xswiftc -DAUTOCHAIN_BENCH_PLAINTEXT_FRAMES` (scripts/bench/channel-cost.sh), where message
/// and close frames carry their bytes unencrypted with a zero tag so the cost of the AEAD can be
/// measured against the same commit. The handshake is the same in both; a node built so says so
/// in a warning at start.
public enum PeerFrameEncryption {
#if AUTOCHAIN_BENCH_PLAINTEXT_FRAMES
    public static let isOn = false
#else
    public static let isOn = true
#endif
}

/// One connection's secure channel, without sockets: bytes in (`feed`), events and bytes out.
/// docs/PROTOCOL.md, "Peer protocol", has the byte layout.
///
/// Promises:
/// - Nothing the peer sends is handed out before its auth frame opened under the session keys
///   (so it knows the cluster credential), names our chain and genesis, and carries a valid
///   signature by its node key over this connection's transcript and its role.
/// - Before that, at most `preambleBytes` + 4 + `maxAuthFrameBodyBytes` bytes (and at most
///   `maxHandshakeBytes`) are looked at.
/// - Every later frame opens only under the next counter nonce of its direction: altered,
///   replayed, reordered or dropped frames throw, and so does a frame over the size limit.
/// - `endOfStream` tells a clean close (the sealed close frame arrived) from a cut-off stream.
///
/// A class, so an event handler may seal replies while `feed` is running; it must not call
/// `feed` itself.
final class SecureChannel {
    enum Stage: Equatable { case awaitingPreamble, awaitingAuth, open, closed }

    enum FrameKind: UInt8 { case auth = 1, message = 2, close = 3 }

    enum Event {
        /// Bytes to send now (our auth frame, once the peer's preamble arrived).
        case send([UInt8])
        /// The peer is authenticated as this node.
        case authenticated(ChannelAuth)
        /// One JSON message; the buffer is valid only during the call.
        case message(UnsafeRawBufferPointer)
        /// The peer's sealed close frame: nothing more will come.
        case closed
    }

    static let frameHeaderBytes = 4
    static let sealsMessageFrames = PeerFrameEncryption.isOn
    static let tagBytes = XChaCha20Poly1305.tagBytes

    let role: ChannelHandshake.Role
    let context: ChannelContext
    let ephemeral: KeyExchangeKeyPair
    /// Our preamble: send it first.
    let preamble: [UInt8]
    private(set) var stage: Stage = .awaitingPreamble
    private(set) var transcript: Hash32?
    /// The version both sides speak, known once the peer's preamble arrived (ours until then).
    private(set) var version: UInt16
    private(set) var peerEphemeralKey: [UInt8]?
    private var sendKey: [UInt8]?
    private var receiveKey: [UInt8]?
    private var sendCounter: UInt64 = 0
    private var receiveCounter: UInt64 = 0
    private var closeSent = false
    private var input: [UInt8] = []
    /// Bytes received and not yet a whole frame (kept apart from `input` so handlers may read it).
    private(set) var bufferedBytes = 0
    /// Hostile-peer tests only: makes the auth we send from the transcript (to relay, reflect or
    /// forge a signature). Always nil in a node.
    var authOverride: ((Hash32) -> ChannelAuth)?

    init(role: ChannelHandshake.Role, context: ChannelContext, ephemeral: KeyExchangeKeyPair = .generate()) {
        precondition(context.maxMessageBytes >= 1)
        self.role = role
        self.context = context
        self.version = context.version
        self.ephemeral = ephemeral
        self.preamble = ChannelHandshake.preamble(version: context.version, ephemeralPublicKey: ephemeral.publicKey)
    }

    /// True once session keys exist and the close frame is not sent: `seal` may be called.
    var canSeal: Bool { sendKey != nil && !closeSent }

    /// The largest frame body accepted at this point.
    var maxFrameBodyBytes: Int {
        stage == .open ? 1 + context.maxMessageBytes + Self.tagBytes : ChannelHandshake.maxAuthFrameBodyBytes
    }

    // MARK: - Receiving

    /// Takes one read. `emit` gets each event in order and returns false to stop (the connection
    /// ended); the rest of the input is then ignored. Throws on the first bad byte.
    func feed(_ chunk: UnsafeRawBufferPointer, _ emit: (Event) -> Bool) throws(ChannelError) {
        input.append(contentsOf: chunk)
        var consumed = 0
        defer {
            if consumed > 0 { input.removeSubrange(0..<min(consumed, input.count)) }
            bufferedBytes = input.count
        }
        // Bound: each iteration consumes a preamble or a whole frame, or returns.
        while consumed < input.count {
            let available = input.count - consumed
            switch stage {
            case .awaitingPreamble:
                guard available >= ChannelHandshake.preambleBytes else {
                    if available > context.maxHandshakeBytes { throw .handshakeTooLarge(max: context.maxHandshakeBytes) }
                    return
                }
                if ChannelHandshake.preambleBytes > context.maxHandshakeBytes { throw .handshakeTooLarge(max: context.maxHandshakeBytes) }
                let start = consumed
                let auth = try input.withUnsafeBytes { raw in
                    Result { () throws(ChannelError) in
                        try receivedPreamble(UnsafeRawBufferPointer(rebasing: raw[start..<start + ChannelHandshake.preambleBytes]))
                    }
                }.get()
                consumed += ChannelHandshake.preambleBytes
                if !emit(.send(auth)) { return }
            case .awaitingAuth, .open:
                guard let used = try nextFrame(at: consumed, emit) else { return }
                consumed += used.bytes
                if !used.goOn { return }
            case .closed:
                throw .dataAfterClose
            }
        }
    }

    /// nil when the frame at `offset` is not complete yet; else its size and whether to go on.
    private func nextFrame(at offset: Int, _ emit: (Event) -> Bool) throws(ChannelError) -> (bytes: Int, goOn: Bool)? {
        let available = input.count - offset
        guard available >= Self.frameHeaderBytes else { return nil }
        let body = input[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        guard body <= maxFrameBodyBytes else { throw .frameTooLarge(bytes: body, max: maxFrameBodyBytes) }
        if stage == .awaitingAuth, ChannelHandshake.preambleBytes + Self.frameHeaderBytes + body > context.maxHandshakeBytes {
            throw .handshakeTooLarge(max: context.maxHandshakeBytes)
        }
        guard body >= 1 + Self.tagBytes else { throw .frameTooSmall(bytes: body) }
        guard available >= Self.frameHeaderBytes + body else { return nil }
        let goOn = try input.withUnsafeMutableBytes { raw in
            Result { () throws(ChannelError) -> Bool in
                let frame = UnsafeMutableRawBufferPointer(rebasing: raw[offset..<offset + Self.frameHeaderBytes + body])
                let plain = try open(frame)
                return try dispatch(kind: plain[0], payload: UnsafeRawBufferPointer(rebasing: plain[1...]), emit)
            }
        }.get()
        return (Self.frameHeaderBytes + body, goOn)
    }

    /// Opens a whole frame in place; returns its plaintext (kind byte first).
    private func open(_ frame: UnsafeMutableRawBufferPointer) throws(ChannelError) -> UnsafeMutableRawBufferPointer {
        guard let key = receiveKey else { preconditionFailure("frame before keys") }
        let header = UnsafeRawBufferPointer(rebasing: frame[0..<Self.frameHeaderBytes])
        let text = UnsafeMutableRawBufferPointer(rebasing: frame[Self.frameHeaderBytes..<frame.count - Self.tagBytes])
        let tag = UnsafeRawBufferPointer(rebasing: frame[(frame.count - Self.tagBytes)...])
        if stage == .open && !Self.sealsMessageFrames {
            receiveCounter += 1
            return text
        }
        guard XChaCha20Poly1305.open(text, tag: tag, additional: header, nonce: Self.nonce(receiveCounter), key: key) else {
            throw stage == .awaitingAuth ? .authFrameUnopenable : .frameUnopenable(counter: receiveCounter)
        }
        receiveCounter += 1
        return text
    }

    private func dispatch(kind: UInt8, payload: UnsafeRawBufferPointer, _ emit: (Event) -> Bool) throws(ChannelError) -> Bool {
        switch (stage, FrameKind(rawValue: kind)) {
        case (.awaitingAuth, .auth?):
            let auth = try verifiedAuth(payload)
            stage = .open
            return emit(.authenticated(auth))
        case (.open, .message?):
            return emit(.message(payload))
        case (.open, .close?):
            stage = .closed
            _ = emit(.closed)
            return false
        default:
            throw .unexpectedFrameKind(kind)
        }
    }

    private func receivedPreamble(_ bytes: UnsafeRawBufferPointer) throws(ChannelError) -> [UInt8] {
        let (theirs, agreed) = try ChannelHandshake.parsePreamble(bytes, version: context.version)
        version = agreed
        let kx = role == .initiator
            ? KeyExchange.clientSessionKeys(client: ephemeral, serverPublicKey: theirs)
            : KeyExchange.serverSessionKeys(server: ephemeral, clientPublicKey: theirs)
        guard let kx else { throw .badEphemeralKey }
        let credentialKey = ChannelHandshake.credentialKey(context.credential)
        sendKey = ChannelHandshake.directionKey(kxKey: kx.transmit, credentialKey: credentialKey)
        receiveKey = ChannelHandshake.directionKey(kxKey: kx.receive, credentialKey: credentialKey)
        peerEphemeralKey = theirs
        let transcript = ChannelHandshake.transcript(
            version: version, chainId: context.chainId, genesisHash: context.genesisHash,
            initiatorKey: role == .initiator ? ephemeral.publicKey : theirs,
            responderKey: role == .initiator ? theirs : ephemeral.publicKey)
        self.transcript = transcript
        stage = .awaitingAuth
        return sealAuth(authOverride?(transcript) ?? ourAuth(transcript: transcript))
    }

    /// Our auth fields, signed over the transcript, our role and (version 3) our incarnation.
    func ourAuth(transcript: Hash32) -> ChannelAuth {
        let incarnation = version >= 3 ? context.incarnation : 0
        let signed = ChannelHandshake.signedBytes(version: version, transcript: transcript, role: role.rawValue, incarnation: incarnation)
        return ChannelAuth(nodeKey: context.nodeKey.publicKey, signature: context.nodeKey.sign(signed),
                           genesisHash: context.genesisHash, height: context.height, incarnation: incarnation,
                           chainId: context.chainId, nodeId: context.nodeId, p2pAddr: context.p2pAddr, apiAddr: context.apiAddr)
    }

    private func verifiedAuth(_ payload: UnsafeRawBufferPointer) throws(ChannelError) -> ChannelAuth {
        guard let transcript else { preconditionFailure("auth before the transcript") }
        let auth = try ChannelAuth.decode(payload, version: version)
        guard auth.chainId == context.chainId else { throw .chainIdMismatch(ours: context.chainId, theirs: auth.chainId) }
        guard auth.genesisHash == context.genesisHash else {
            throw .genesisHashMismatch(ours: context.genesisHash, theirs: auth.genesisHash)
        }
        let signed = ChannelHandshake.signedBytes(version: version, transcript: transcript, role: role.other.rawValue,
                                                  incarnation: auth.incarnation)
        guard Ed25519.verify(auth.signature, message: signed, publicKey: auth.nodeKey) else { throw .badSignature(nodeKey: auth.nodeKey) }
        return auth
    }

    /// Why the stream's end is not a clean close, or nil when the close frame arrived.
    func endOfStream() -> ChannelError? { stage == .closed ? nil : .truncated }

    // MARK: - Sending

    /// The sealed frame carrying one JSON message (`line`; a trailing newline is left out).
    func seal(line: [UInt8]) -> [UInt8] {
        let count = line.last == UInt8(ascii: "\n") ? line.count - 1 : line.count
        return line.withUnsafeBytes { seal(kind: .message, payload: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }

    /// The sealed close frame; nothing may be sealed after it.
    func sealClose() -> [UInt8] {
        let frame = seal(kind: .close, payload: UnsafeRawBufferPointer(start: nil, count: 0))
        closeSent = true
        return frame
    }

    func sealAuth(_ auth: ChannelAuth) -> [UInt8] {
        auth.encoded(version: version).withUnsafeBytes { seal(kind: .auth, payload: $0) }
    }

    /// length (u32 BE, of what follows) ‖ XChaCha20-Poly1305(kind ‖ payload, ad = length) ‖ tag,
    /// under the next counter nonce. One allocation; the payload is encrypted where it lands.
    private func seal(kind: FrameKind, payload: UnsafeRawBufferPointer) -> [UInt8] {
        guard let key = sendKey, !closeSent else { preconditionFailure("seal before keys or after close") }
        let body = 1 + payload.count + Self.tagBytes
        precondition(body <= Int(UInt32.max), "frame over 4 GiB")
        let nonce = Self.nonce(sendCounter)
        sendCounter += 1
        return [UInt8](unsafeUninitializedCapacity: Self.frameHeaderBytes + body) { out, initialized in
            let raw = UnsafeMutableRawBufferPointer(out)
            for i in 0..<4 { raw[i] = UInt8(truncatingIfNeeded: body >> (24 - 8 * i)) }
            raw[4] = kind.rawValue
            if payload.count > 0 { raw.baseAddress!.advanced(by: 5).copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
            let textEnd = 5 + payload.count
            if kind != .auth && !Self.sealsMessageFrames {
                UnsafeMutableRawBufferPointer(rebasing: raw[textEnd...]).initializeMemory(as: UInt8.self, repeating: 0)
                initialized = Self.frameHeaderBytes + body
                return
            }
            XChaCha20Poly1305.seal(UnsafeMutableRawBufferPointer(rebasing: raw[4..<textEnd]),
                                   tag: UnsafeMutableRawBufferPointer(rebasing: raw[textEnd...]),
                                   additional: UnsafeRawBufferPointer(rebasing: raw[0..<4]), nonce: nonce, key: key)
            initialized = Self.frameHeaderBytes + body
        }
    }

    /// The nonce of frame `counter` in a direction: counter (u64 little-endian) ‖ 16 zero bytes.
    static func nonce(_ counter: UInt64) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: XChaCha20Poly1305.nonceBytes)
        for i in 0..<8 { nonce[i] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(i))) }
        return nonce
    }
}
