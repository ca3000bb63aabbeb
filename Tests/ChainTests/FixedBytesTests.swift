import Testing
@testable import Chain

@Test func fixedBytes_roundTripThroughBytesAndHex() {
    let bytes = (0..<32).map { UInt8($0 * 7 &+ 3) }
    let h = Hash32(bytes: bytes)!
    #expect(h.bytes == bytes)
    #expect(h.hex == "0x" + Hex.encode(bytes))
    #expect(Hash32(hex: h.hex) == h)
    #expect(Hash32(hex: Hex.encode(bytes)) == h)
    let sigBytes = (0..<64).map { UInt8($0) }
    #expect(Signature(bytes: sigBytes)!.bytes == sigBytes)
    #expect(Signature(hex: Hex.encode(sigBytes))!.hex == Hex.encode(sigBytes))
    let a = Address(bytes: bytes.prefix(20))!
    #expect(a.bytes == Array(bytes.prefix(20)))
    #expect(a.hex.count == 42)
}

@Test func fixedBytes_rejectWrongLength() {
    #expect(Hash32(bytes: [UInt8](repeating: 1, count: 31)) == nil)
    #expect(Address(bytes: [UInt8](repeating: 1, count: 32)) == nil)
    #expect(PublicKey(hex: "00") == nil)
    #expect(Signature(hex: "xyz") == nil)
}

@Test func fixedBytes_hexPrefixes() {
    #expect(Hash32.zero.hex.hasPrefix("0x"))
    #expect(Address.zero.hex == "0x" + String(repeating: "0", count: 40))
    #expect(PublicKey.zero.hex == String(repeating: "0", count: 64))
    #expect(Signature.zero.hex == String(repeating: "0", count: 128))
}

@Test func fixedBytes_orderIsBytewiseLexicographic() {
    // Compare against the naive order of the byte arrays, on values that differ in each word.
    var values: [Address] = []
    for i in 0..<20 {
        for v: UInt8 in [0, 1, 0x80, 0xff] {
            var b = [UInt8](repeating: 0x40, count: 20)
            b[i] = v
            values.append(Address(bytes: b)!)
        }
    }
    for x in values {
        for y in values {
            #expect((x < y) == x.bytes.lexicographicallyPrecedes(y.bytes))
        }
    }
    let sigs = [Signature.zero, Signature(bytes: [0] + [UInt8](repeating: 1, count: 63))!,
                Signature(bytes: [UInt8](repeating: 0, count: 63) + [1])!]
    for x in sigs { for y in sigs { #expect((x < y) == x.bytes.lexicographicallyPrecedes(y.bytes)) } }
}

@Test func address_isFirst20BytesOfSha256OfPublicKey() {
    let key = testKey(9)
    #expect(key.address.bytes == Array(Crypto.sha256(key.publicKey.bytes).bytes.prefix(20)))
    #expect(Address(publicKey: key.publicKey) == key.address)
}
