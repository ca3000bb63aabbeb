import Testing
@testable import Chain

@Test func serialized_isCompactWithKeysInOrder() {
    let value: JSON = ["z": 1, "a": [true, nil, 2.5], "s": "x"]
    #expect(value.serializedString() == #"{"z":1,"a":[true,null,2.5],"s":"x"}"#)
}

@Test func serialized_escapesQuotesBackslashAndControlCharacters() {
    let value = JSON.string("a\"b\\c\n\r\t\u{0}\u{1F}é😀")
    #expect(value.serializedString() == #""a\"b\\c\n\r\t\u0000\u001fé😀""#)
}

@Test func serialized_writesIntegerExtremes() {
    #expect(JSON.array([.int(Int64.min), .int(Int64.max), .int(0), .int(-7)]).serializedString()
        == "[-9223372036854775808,9223372036854775807,0,-7]")
}

@Test func serialized_writesDoublesSoTheyStayDoubles() {
    #expect(JSON.double(1).serializedString() == "1.0")
    #expect(JSON.double(1e-5).serializedString() == "1e-05")
    #expect((try? JSON.parse(JSON.double(1e300).serialized())) == .double(1e300))
}

@Test func serialized_doublesRoundTripExactly() throws {
    var rng = SplitMix64(seed: 42)
    for _ in 0..<2_000 {
        let d = Double(bitPattern: rng.next())
        guard d.isFinite else { continue }
        let back = try JSON.parse(JSON.double(d).serialized())
        #expect(back.doubleValue?.bitPattern == d.bitPattern)
    }
}

@Test func serializedPretty_indentsTwoSpaces() {
    let value: JSON = ["a": [1, 2], "b": .object(JSONObject()), "c": []]
    #expect(value.serializedPretty() == "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": []\n}")
}

@Test func serialized_roundTripsThroughParse() throws {
    let value: JSON = ["tx": ["from": "0xab", "amount": 5, "fee": 1, "memo": "π \"q\"\n"], "ok": true, "n": nil]
    #expect(try JSON.parse(value.serialized()) == value)
    #expect(try JSON.parse(value.serializedPretty()) == value)
}
