import Testing
@testable import Chain

@Test func hex_encodesLowercaseWithoutPrefix() {
    #expect(Hex.encode([0x00, 0xab, 0xFF, 0x10]) == "00abff10")
    #expect(Hex.encode([UInt8]()) == "")
}

@Test func hex_decodeAcceptsOptionalPrefixAndEitherCase() {
    #expect(Hex.decode("00abFF10") == [0x00, 0xab, 0xff, 0x10])
    #expect(Hex.decode("0x00ab") == [0x00, 0xab])
    #expect(Hex.decode("0X00ab") == [0x00, 0xab])
    #expect(Hex.decode("0x") == [])
    #expect(Hex.decode("") == [])
}

@Test func hex_decodeRejectsOddLengthAndBadCharacters() {
    #expect(Hex.decode("abc") == nil)
    #expect(Hex.decode("0xabc") == nil)
    #expect(Hex.decode("zz") == nil)
    #expect(Hex.decode("0g") == nil)
    #expect(Hex.decode(" 00") == nil)
    #expect(Hex.decode("é0") == nil)
}

@Test func hex_roundTripsEveryByte() {
    let all = (0...255).map { UInt8($0) }
    #expect(Hex.decode(Hex.encode(all)) == all)
}

@Test func hex_matchesANaiveCodecOnRandomBytesAndSubstrings() {
    var rng = SystemRandomNumberGenerator()
    for length in [1, 2, 31, 64, 1_000, 70_000] {
        let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let naive = bytes.map { String($0, radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
        #expect(Hex.encode(bytes) == naive)
        #expect(Hex.decode(naive.uppercased()) == bytes)
        let framed = "[\"0x" + naive + "\"]"
        #expect(Hex.decode(framed.dropFirst(2).dropLast(2)) == bytes, "a Substring in the middle of a line")
    }
}

@Test func hex_appendWritesWhatEncodeSpellsAfterWhatIsThere() {
    let bytes: [UInt8] = [0x00, 0x0f, 0xa5, 0xff]
    var out = Array("x:".utf8)
    Hex.append(bytes, to: &out)
    #expect(out == Array("x:000fa5ff".utf8))
    Hex.append([], to: &out)
    #expect(String(decoding: out, as: UTF8.self) == "x:" + Hex.encode(bytes))
}
