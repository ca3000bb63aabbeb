import Chain
import Foundation
import Testing
@testable import P2P

/// The secure channel's state machine without sockets: two channels wired back to back in memory.
@Suite struct SecureChannelTests {
    static let genesis = Hash32(bytes: [UInt8](repeating: 0x33, count: 32))!

    static func context(_ nodeId: String, key: KeyPair = .generate(), credential: String? = "cluster-credential-for-tests",
                        chainId: String = "autochain-dev", genesis: Hash32 = SecureChannelTests.genesis) -> ChannelContext {
        ChannelContext(version: PeerLimits.channelVersion, chainId: chainId, genesisHash: genesis, credential: credential,
                       maxMessageBytes: 1024, nodeKey: key, nodeId: nodeId, p2pAddr: "127.0.0.1:7001",
                       apiAddr: "127.0.0.1:8001", height: 5)
    }

    /// What one side saw: the peer's auth, messages, a close, or the error that ended it.
    final class Side {
        let channel: SecureChannel
        var auth: ChannelAuth?
        var messages: [String] = []
        var closed = false
        var error: ChannelError?
        var outbox: [UInt8] = []

        init(_ channel: SecureChannel) {
            self.channel = channel
            outbox = channel.preamble
        }

        func feed(_ bytes: [UInt8]) {
            let result = bytes.withUnsafeBytes { raw in
                Result { () throws(ChannelError) in
                    try channel.feed(raw) { event in
                        switch event {
                        case .send(let out): outbox += out
                        case .authenticated(let auth): self.auth = auth
                        case .message(let payload): messages.append(String(decoding: payload, as: UTF8.self))
                        case .closed: closed = true
                        }
                        return true
                    }
                }
            }
            if case .failure(let e) = result { error = e }
        }

        func take() -> [UInt8] { defer { outbox = [] }; return outbox }
    }

    /// Initiator and responder with both handshake halves delivered.
    static func pair(_ a: ChannelContext = context("n1"), _ b: ChannelContext = context("n2")) -> (Side, Side) {
        let i = Side(SecureChannel(role: .initiator, context: a))
        let r = Side(SecureChannel(role: .responder, context: b))
        let fromI = i.take(), fromR = r.take()
        i.feed(fromR); r.feed(fromI)  // preambles: each answers with its auth frame
        let authI = i.take(), authR = r.take()
        i.feed(authR); r.feed(authI)
        return (i, r)
    }

    @Test func bothRoles_authenticateEachOther_andExchangeMessagesBothWays() {
        let ki = KeyPair.generate(), kr = KeyPair.generate()
        let (i, r) = Self.pair(Self.context("n1", key: ki), Self.context("n2", key: kr))
        #expect(i.error == nil && r.error == nil)
        #expect(i.auth?.nodeId == "n2" && i.auth?.nodeKey == kr.publicKey)
        #expect(r.auth?.nodeId == "n1" && r.auth?.nodeKey == ki.publicKey && r.auth?.height == 5)
        #expect(i.channel.transcript == r.channel.transcript)
        r.feed(i.channel.seal(line: Array(#"{"type":"ping","height":1}"#.utf8) + [0x0A]))
        i.feed(r.channel.seal(line: Array(#"{"type":"pong","height":2}"#.utf8)))
        #expect(r.messages == [#"{"type":"ping","height":1}"#] && i.messages == [#"{"type":"pong","height":2}"#])
    }

    @Test func framesSplitAtEveryByte_stillOpen() {
        let (i, r) = Self.pair()
        let frames = (0..<3).flatMap { n in i.channel.seal(line: Array("message \(n)".utf8)) }
        for byte in frames { r.feed([byte]) }
        #expect(r.messages == ["message 0", "message 1", "message 2"] && r.error == nil)
        #expect(r.channel.bufferedBytes == 0)
    }

    @Test func tamperedCiphertext_doesNotOpen() {
        let (i, r) = Self.pair()
        var frame = i.channel.seal(line: Array("hello".utf8))
        frame[6] ^= 0x01
        r.feed(frame)
        #expect(r.error == .frameUnopenable(counter: 1) && r.messages.isEmpty)
    }

    @Test func tamperedLengthPrefix_doesNotOpen() {
        let (i, r) = Self.pair()
        var frame = i.channel.seal(line: Array("hello".utf8))
        frame.append(0)
        frame[3] += 1  // one byte longer: the header is the additional data, so the tag fails
        r.feed(frame)
        #expect(r.error == .frameUnopenable(counter: 1))
    }

    @Test func replayedFrame_doesNotOpen() {
        let (i, r) = Self.pair()
        let frame = i.channel.seal(line: Array("once".utf8))
        r.feed(frame)
        r.feed(frame)
        #expect(r.messages == ["once"] && r.error == .frameUnopenable(counter: 2))
    }

    @Test func reorderedFrames_doNotOpen() {
        let (i, r) = Self.pair()
        let first = i.channel.seal(line: Array("first".utf8)), second = i.channel.seal(line: Array("second".utf8))
        r.feed(second)
        #expect(r.error == .frameUnopenable(counter: 1) && r.messages.isEmpty)
        _ = first
    }

    @Test func aFrameSealedForTheOtherDirection_doesNotOpen() {
        let (i, r) = Self.pair()
        let own = r.channel.seal(line: Array("mine".utf8))
        r.feed(own)  // reflected back to its sender: the other direction's key
        #expect(r.error == .frameUnopenable(counter: 1))
        _ = i
    }

    @Test func cleanClose_isToldFromATruncatedStream() {
        let (i, r) = Self.pair()
        #expect(r.channel.endOfStream() == .truncated, "no close frame yet: a cut-off stream")
        let frame = i.channel.seal(line: Array("last".utf8))
        r.feed(Array(frame.prefix(7)))
        #expect(r.channel.endOfStream() == .truncated)
        r.feed(Array(frame.dropFirst(7)) + i.channel.sealClose())
        #expect(r.closed && r.messages == ["last"] && r.channel.endOfStream() == nil)
        #expect(!i.channel.canSeal, "nothing is sealed after the close frame")
    }

    @Test func bytesAfterTheCloseFrame_areRefused() {
        let (i, r) = Self.pair()
        r.feed(i.channel.sealClose() + [1, 2, 3])
        #expect(r.closed)
        r.feed([4])
        #expect(r.error == .dataAfterClose)
    }

    @Test func oversizedLengthPrefix_isRefusedBeforeItsBodyArrives() {
        let (_, r) = Self.pair()
        r.feed([0x00, 0x00, 0x04, 0x12])  // 1,042 bytes: one over kind (1) + maxMessageBytes (1,024) + tag (16)
        #expect(r.error == .frameTooLarge(bytes: 1042, max: 1041))
        let (_, r2) = Self.pair()
        r2.feed([0xFF, 0xFF, 0xFF, 0xFF])
        #expect(r2.error == .frameTooLarge(bytes: 0xFFFF_FFFF, max: 1041))
        let (_, r3) = Self.pair()
        r3.feed([0, 0, 0, 16])
        #expect(r3.error == .frameTooSmall(bytes: 16))
    }

    @Test func beforeAuth_onlyAnAuthFrameOfAtMost1200BytesIsLookedAt() {
        let r = Side(SecureChannel(role: .responder, context: Self.context("n2")))
        let i = Side(SecureChannel(role: .initiator, context: Self.context("n1")))
        r.feed(i.take())
        r.feed([0x00, 0x00, 0x04, 0xB1])  // 1,201
        #expect(r.error == .frameTooLarge(bytes: 1201, max: ChannelHandshake.maxAuthFrameBodyBytes))
    }

    @Test func aHandshakeOverTheBudget_isRefusedBeforeItsAuthFrameIsRead() {
        var small = Self.context("n2")
        small.maxHandshakeBytes = 100
        let r = Side(SecureChannel(role: .responder, context: small))
        let i = Side(SecureChannel(role: .initiator, context: Self.context("n1")))
        r.feed(i.take())
        i.feed(r.take())
        r.feed(Array(i.take().prefix(4)))  // the auth frame's header: 38 + 4 + its body > 100
        #expect(r.error == .handshakeTooLarge(max: 100) && r.auth == nil)
    }

    @Test func zeroAndLowOrderEphemeralKeys_areRefusedByTheKeyExchange() {
        // The all-zero point and a point of order 8 on Curve25519: the shared secret would be zero.
        let lowOrder = [UInt8](Hex.decode("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")!)
        for key in [[UInt8](repeating: 0, count: 32), [1] + [UInt8](repeating: 0, count: 31), lowOrder] {
            for role in [ChannelHandshake.Role.initiator, .responder] {
                let side = Side(SecureChannel(role: role, context: Self.context("n1")))
                side.feed(ChannelHandshake.preamble(version: PeerLimits.channelVersion, ephemeralPublicKey: key))
                #expect(side.error == .badEphemeralKey, "\(Hex.encode(key)) as \(role)")
                #expect(side.take() == side.channel.preamble, "no auth frame is sent for a bad key")
            }
        }
    }

    @Test func badMagicOrVersion_isRefused() {
        let side = Side(SecureChannel(role: .responder, context: Self.context("n2")))
        side.feed(Array(#"{"type":"hello","protocol":1,"chainId":"autochain-dev"}"#.utf8))
        #expect(side.error == .badPreamble("not an autochain peer (bad magic)"))
        let other = Side(SecureChannel(role: .responder, context: Self.context("n2")))
        other.feed(ChannelHandshake.preamble(version: 1, ephemeralPublicKey: KeyExchangeKeyPair.generate().publicKey))
        #expect(other.error == .badPreamble("protocol version mismatch: ours 3, theirs 1"))
    }

    @Test func wrongCredential_cannotOpenTheAuthFrame() {
        let (i, r) = Self.pair(Self.context("n1", credential: "credential-one-0000"), Self.context("n2", credential: "credential-two-0000"))
        #expect(i.error == .authFrameUnopenable && r.error == .authFrameUnopenable)
        #expect(i.auth == nil && r.auth == nil)
        let (a, b) = Self.pair(Self.context("n1", credential: nil), Self.context("n2", credential: "credential-two-0000"))
        #expect(a.error == .authFrameUnopenable && b.error == .authFrameUnopenable)
    }

    @Test func otherChainOrGenesis_isNamedInTheRefusal() {
        let (i, _) = Self.pair(Self.context("n1"), Self.context("n2", chainId: "other-chain"))
        #expect(i.error == .chainIdMismatch(ours: "autochain-dev", theirs: "other-chain"))
        let other = Hash32(bytes: [UInt8](repeating: 0x44, count: 32))!
        let (j, _) = Self.pair(Self.context("n1"), Self.context("n2", genesis: other))
        #expect(j.error == .genesisHashMismatch(ours: Self.genesis, theirs: other))
    }

    @Test func signatureRelayedFromAnotherConnection_isRefused() {
        let attacker = KeyPair.generate()
        // The attacker's honest signature on connection 1 ...
        let (first, _) = Self.pair(Self.context("evil", key: attacker), Self.context("n2"))
        let relayed = first.channel.ourAuth(transcript: first.channel.transcript!)
        // ... replayed inside connection 2, whose transcript has other ephemeral keys.
        let i = Side(SecureChannel(role: .initiator, context: Self.context("evil", key: attacker)))
        i.channel.authOverride = { _ in relayed }
        let r = Side(SecureChannel(role: .responder, context: Self.context("n2")))
        let fromI = i.take(), fromR = r.take()
        i.feed(fromR); r.feed(fromI)
        r.feed(i.take())
        #expect(r.error == .badSignature(nodeKey: attacker.publicKey) && r.auth == nil)
    }

    @Test func signatureReflectedToItsSender_isRefused() {
        // The responder's own auth (its key, its signature over this transcript as responder)
        // sent back to it by the initiator: the role byte differs, so it does not verify.
        let victim = KeyPair.generate()
        let r = Side(SecureChannel(role: .responder, context: Self.context("n2", key: victim)))
        let i = Side(SecureChannel(role: .initiator, context: Self.context("evil")))
        let fromI = i.take(), fromR = r.take()
        r.feed(fromI)
        let victimAuthFrame = r.take()
        i.channel.authOverride = { [victimChannel = r.channel] transcript in victimChannel.ourAuth(transcript: transcript) }
        i.feed(fromR + victimAuthFrame)
        #expect(i.auth?.nodeKey == victim.publicKey, "the attacker saw the victim's auth")
        r.feed(i.take())
        #expect(r.error == .badSignature(nodeKey: victim.publicKey) && r.auth == nil)
    }

    @Test func aMessageFrameInPlaceOfTheAuthFrame_isRefused() {
        let i = Side(SecureChannel(role: .initiator, context: Self.context("n1")))
        let r = Side(SecureChannel(role: .responder, context: Self.context("n2")))
        let fromI = i.take()
        i.feed(r.take())
        _ = i.take()  // its auth frame, withheld
        r.feed(fromI + i.channel.seal(line: Array(#"{"type":"ping","height":1}"#.utf8)))
        #expect(r.error == .authFrameUnopenable, "sealed under the next nonce, not the auth frame's")
        #expect(r.messages.isEmpty)
    }
}
