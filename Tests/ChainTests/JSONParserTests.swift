import Testing
@testable import Chain

private func parse(_ text: String) throws(JSONParseError) -> JSON { try JSON.parse(text) }

private func parseError(_ text: String, limits: JSONLimits = .default) -> JSONParseError? {
    do { _ = try JSON.parse(Array(text.utf8), limits: limits); return nil } catch { return error }
}

@Test func parse_readsEveryValueKind() throws {
    let value = try parse(#" { "a": [1, -2, 3.5, true, false, null, "x"], "b": {} , "c": [] } "#)
    #expect(value == ["a": [1, -2, 3.5, true, false, nil, "x"], "b": .object(JSONObject()), "c": []])
}

@Test func parse_keepsKeyOrder() throws {
    #expect(try parse(#"{"z":1,"a":2,"m":3}"#).objectValue?.keys == ["z", "a", "m"])
}

@Test func parse_integersThatFitInt64StayExact() throws {
    #expect(try parse("9223372036854775807") == .int(Int64.max))
    #expect(try parse("-9223372036854775808") == .int(Int64.min))
    #expect(try parse("-0") == .int(0))
}

@Test func parse_integersBeyondInt64BecomeDouble() throws {
    #expect(try parse("9223372036854775808") == .double(9223372036854775808.0))
    #expect(try parse("-92233720368547758090") == .double(-92233720368547758090.0))
}

@Test func parse_fractionOrExponentMakesDouble() throws {
    #expect(try parse("1.0") == .double(1))
    #expect(try parse("1e2") == .double(100))
    #expect(try parse("-2.5E-3") == .double(-0.0025))
}

@Test func parse_decodesAllEscapes() throws {
    #expect(try parse(#""\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac""#) == .string("\"\\/\u{8}\u{C}\n\r\tAé€"))
}

@Test func parse_decodesSurrogatePairs() throws {
    #expect(try parse(#""\ud83d\ude00x""#) == .string("😀x"))
}

@Test func parse_keepsRawUTF8() throws {
    #expect(try parse("\"héllo 😀 世界\"") == .string("héllo 😀 世界"))
}

@Test func parse_acceptsSlicesAndRawBuffers() throws {
    let bytes = Array("xx[1,2]yy".utf8)
    #expect(try JSON.parse(bytes[2..<7]) == [1, 2])
    let raw = try bytes[2..<7].withUnsafeBytes { raw throws(JSONParseError) in try JSON.parse(raw) }
    #expect(raw == [1, 2])
}

@Test func parse_reportsByteOffsetInMessage() {
    let error = parseError(#"{"a": 1 "b": 2}"#)
    #expect(error?.kind == .unexpectedByte)
    #expect(error?.offset == 8)
    #expect(error?.description == "expected ',' or '}' at byte 8")
}

@Test(arguments: ["[1,]", #"{"a":1,}"#, "[,1]", "{,}"])
func parse_rejectsTrailingAndLeadingCommas(text: String) {
    #expect(parseError(text) != nil)
}

@Test(arguments: ["// c\n1", "/* c */ 1", "[1 /* c */]", "# c\n1"])
func parse_rejectsComments(text: String) {
    #expect(parseError(text)?.kind == .unexpectedByte)
}

@Test(arguments: ["NaN", "Infinity", "-Infinity", "nan"])
func parse_rejectsNonFiniteLiterals(text: String) {
    #expect(parseError(text) != nil)
}

@Test(arguments: ["01", "-01", "00", "1.", ".5", "-", "1e", "1e+", "+1", "0x10", "1.e5"])
func parse_rejectsMalformedNumbers(text: String) {
    let kind = parseError(text)?.kind
    #expect(kind == .invalidNumber || kind == .unexpectedByte || kind == .trailingData)
}

@Test func parse_rejectsNumbersBeyondDoubleRange() {
    #expect(parseError("1e400")?.kind == .invalidNumber)
    #expect(parseError("-1e400")?.kind == .invalidNumber)
}

@Test(arguments: [#""\x""#, #""\u12""#, #""\u12g4""#, #""\U0041""#, "\"\\'\""])
func parse_rejectsInvalidEscapes(text: String) {
    #expect(parseError(text)?.kind == .invalidEscape)
}

@Test(arguments: [#""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, #""\ud800x""#, #""\ude00\ud83d""#])
func parse_rejectsLoneSurrogates(text: String) {
    #expect(parseError(text)?.kind == .loneSurrogate)
}

@Test(arguments: ["\"a\nb\"", "\"\t\"", "\"\u{0}\"", "\"\u{1F}\""])
func parse_rejectsRawControlCharactersInStrings(text: String) {
    #expect(parseError(text)?.kind == .controlCharacter)
}

@Test(arguments: [[0xFF], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC3], [0x80]] as [[UInt8]])
func parse_rejectsInvalidUTF8(sequence: [UInt8]) {
    let bytes = [UInt8(ascii: "\"")] + sequence + [UInt8(ascii: "\"")]
    #expect(throws: JSONParseError.self) { try JSON.parse(bytes) }
    do { _ = try JSON.parse(bytes) } catch { #expect(error.kind == .invalidUTF8 || error.kind == .unexpectedEnd) }
}

@Test func parse_rejectsDuplicateKeys() {
    let error = parseError(#"{"a":1,"b":2,"a":3}"#)
    #expect(error?.kind == .duplicateKey)
    #expect(error?.offset == 13)
}

@Test func parse_rejectsDuplicateKeysInLargeObjects() {
    let keys = (0..<40).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
    #expect(parseError("{\(keys),\"k7\":0}")?.kind == .duplicateKey)
    #expect(parseError("{\(keys)}") == nil)
}

@Test func parse_rejectsDuplicateKeysAfterUnescaping() {
    #expect(parseError(#"{"a":1,"\u0061":2}"#)?.kind == .duplicateKey)
}

@Test(arguments: ["1 2", "[1]]", "{} x", "truex", "nulll"])
func parse_rejectsTrailingData(text: String) {
    #expect(parseError(text)?.kind == .trailingData)
}

@Test(arguments: ["", "   ", "[1,", #"{"a""#, #"{"a":"#, "\"abc", "[", "tru"])
func parse_rejectsTruncatedInput(text: String) {
    let kind = parseError(text)?.kind
    #expect(kind == .unexpectedEnd || kind == .unexpectedByte)
}

@Test func parse_rejectsNestingBeyondMaxDepth() {
    let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
    let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
    #expect(parseError(ok) == nil)
    #expect(parseError(deep)?.kind == .tooDeep)
    #expect(parseError(String(repeating: "[", count: 100_000))?.kind == .tooDeep)
}

@Test func parse_rejectsInputBeyondMaxBytes() {
    let limits = JSONLimits(maxDepth: 8, maxBytes: 10, maxStringBytes: 10)
    #expect(parseError("[1,2,3,4,5,6]", limits: limits)?.kind == .tooLarge)
}

@Test func parse_rejectsStringsBeyondMaxStringBytes() {
    let limits = JSONLimits(maxDepth: 8, maxBytes: 100, maxStringBytes: 4)
    #expect(parseError(#""abcd""#, limits: limits) == nil)
    #expect(parseError(#""abcde""#, limits: limits)?.kind == .stringTooLong)
    #expect(parseError(#""ab\ncde""#, limits: limits)?.kind == .stringTooLong)
}
