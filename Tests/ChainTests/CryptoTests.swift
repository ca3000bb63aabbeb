import Testing
@testable import Chain

@Test func sha256_matchesKnownVectors() {
    #expect(Crypto.sha256([]).hex == "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(Crypto.sha256(Array("abc".utf8)).hex
            == "0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
}

@Test func sha256Hasher_equalsOneShotOverConcatenation() {
    let parts: [[UInt8]] = [Array("hello ".utf8), [], Array("world".utf8), [UInt8](repeating: 7, count: 1000)]
    var hasher = SHA256Hasher()
    for p in parts { hasher.update(p) }
    #expect(hasher.finalize() == Crypto.sha256(parts.flatMap { $0 }))
}

@Test func randomBytes_haveRequestedLengthAndDiffer() {
    #expect(Crypto.randomBytes(0).isEmpty)
    let a = Crypto.randomBytes(32), b = Crypto.randomBytes(32)
    #expect(a.count == 32 && a != b)
}

@Test func keyPair_isDeterministicFromSeed() {
    let a = testKey(1), b = testKey(1)
    #expect(a.publicKey == b.publicKey)
    #expect(a.sign([1, 2, 3]) == b.sign([1, 2, 3]))
    #expect(testKey(2).publicKey != a.publicKey)
}

@Test func ed25519_verifiesOwnSignatureAndRejectsTampering() {
    let key = KeyPair.generate()
    let message: [UInt8] = Array("pay alice".utf8)
    let sig = key.sign(message)
    #expect(Ed25519.verify(sig, message: message, publicKey: key.publicKey))
    #expect(!Ed25519.verify(sig, message: Array("pay mallory".utf8), publicKey: key.publicKey))
    #expect(!Ed25519.verify(sig, message: message, publicKey: testKey(3).publicKey))
    var bad = sig.bytes
    bad[10] ^= 1
    #expect(!Ed25519.verify(Signature(bytes: bad)!, message: message, publicKey: key.publicKey))
}

@Test func developmentKey_seedIsSha256OfItsName() {
    #expect(KeyPair.development.seed == Crypto.sha256(Array("autochain development key".utf8)).bytes)
}

@Test func keyExchange_clientAndServerGetMirroredKeys_andRefuseLowOrderPoints() {
    let client = KeyExchangeKeyPair.generate(), server = KeyExchangeKeyPair.generate()
    let c = KeyExchange.clientSessionKeys(client: client, serverPublicKey: server.publicKey)
    let s = KeyExchange.serverSessionKeys(server: server, clientPublicKey: client.publicKey)
    #expect(c != nil && c?.transmit == s?.receive && c?.receive == s?.transmit && c?.transmit != c?.receive)
    #expect(KeyExchangeKeyPair(seed: [UInt8](repeating: 7, count: 32)).publicKey == KeyExchangeKeyPair(seed: [UInt8](repeating: 7, count: 32)).publicKey)
    #expect(KeyExchange.clientSessionKeys(client: client, serverPublicKey: [UInt8](repeating: 0, count: 32)) == nil)
    #expect(KeyExchange.serverSessionKeys(server: server, clientPublicKey: [UInt8](repeating: 0, count: 32)) == nil)
    #expect(KeyExchange.clientSessionKeys(client: client, serverPublicKey: [1, 2, 3]) == nil, "wrong length")
    #expect(!"\(client)".isEmpty)
}

@Test func blake2b_matchesTheRFC7693Vector_andDependsOnTheKey() {
    // RFC 7693 appendix A: BLAKE2b-512("abc").
    #expect(Hex.encode(BLAKE2b.hash(Array("abc".utf8), outputBytes: 64)) ==
        "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
    let k1 = [UInt8](repeating: 1, count: 32), k2 = [UInt8](repeating: 2, count: 32)
    #expect(BLAKE2b.hash([9], key: k1) != BLAKE2b.hash([9], key: k2) && BLAKE2b.hash([9], key: k1).count == 32)
}

@Test func xchacha20poly1305_opensWhatItSealed_andNothingAltered() {
    let key = Crypto.randomBytes(32), nonce = Crypto.randomBytes(24), ad: [UInt8] = [0, 0, 0, 9]
    var text: [UInt8] = Array("plaintext".utf8), tag = [UInt8](repeating: 0, count: 16)
    text.withUnsafeMutableBytes { t in tag.withUnsafeMutableBytes { g in ad.withUnsafeBytes { a in
        XChaCha20Poly1305.seal(t, tag: g, additional: a, nonce: nonce, key: key) } } }
    #expect(text != Array("plaintext".utf8))
    func opens(_ text: [UInt8], ad: [UInt8] = ad, nonce: [UInt8] = nonce, key: [UInt8] = key) -> [UInt8]? {
        var copy = text
        let ok = copy.withUnsafeMutableBytes { t in tag.withUnsafeBytes { g in ad.withUnsafeBytes { a in
            XChaCha20Poly1305.open(t, tag: g, additional: a, nonce: nonce, key: key) } } }
        return ok ? copy : nil
    }
    #expect(opens(text) == Array("plaintext".utf8))
    var flipped = text
    flipped[0] ^= 1
    #expect(opens(flipped) == nil)
    #expect(opens(text, ad: [0, 0, 0, 8]) == nil)
    #expect(opens(text, nonce: Crypto.randomBytes(24)) == nil)
    #expect(opens(text, key: Crypto.randomBytes(32)) == nil)
}

@Test func keyPair_descriptionDoesNotRevealSeed() {
    let key = testKey(5)
    #expect(!"\(key)".contains(Hex.encode(key.seed)))
    #expect("\(key)".contains(key.publicKey.hex))
}
