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

@Test func clusterMAC_verifiesWithSameTokenOnly() {
    let msg: [UInt8] = [1, 2, 3, 4]
    let tag = ClusterMAC.mac(token: "secret", message: msg)
    #expect(tag.count == 32)
    #expect(ClusterMAC.verify(tag: tag, token: "secret", message: msg))
    #expect(!ClusterMAC.verify(tag: tag, token: "Secret", message: msg))
    #expect(!ClusterMAC.verify(tag: tag, token: "secret", message: [1, 2, 3]))
    #expect(!ClusterMAC.verify(tag: Array(tag.prefix(31)), token: "secret", message: msg))
}

@Test func keyPair_descriptionDoesNotRevealSeed() {
    let key = testKey(5)
    #expect(!"\(key)".contains(Hex.encode(key.seed)))
    #expect("\(key)".contains(key.publicKey.hex))
}
