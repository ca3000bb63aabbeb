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
