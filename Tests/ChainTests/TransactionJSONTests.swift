import Testing
@testable import Chain

private let alice = testKey(1)
private let bob = testKey(2)
private let sample = transfer(alice, to: bob.address, amount: 1000, fee: 1, nonce: 0)

private func withField(_ key: String, _ value: JSON?) -> JSON {
    var o = sample.json.objectValue!
    o[key] = value
    return .object(o)
}

@Test func txJSON_hasTheContractKeysInOrder() {
    #expect(sample.json.objectValue!.keys == ["chainId", "from", "to", "amount", "fee", "nonce", "pubkey", "signature", "hash"])
    #expect(sample.json["amount"] == .int(1000))
    #expect(sample.json["from"]?.stringValue == alice.address.hex)
    #expect(sample.json["pubkey"]?.stringValue == Hex.encode(alice.publicKey.bytes))
}

@Test func txJSON_roundTrips() throws {
    #expect(try Transaction(json: sample.json) == sample)
}

@Test func txJSON_hashIsOptionalAndExtraKeysAreIgnored() throws {
    #expect(try Transaction(json: withField("hash", nil)) == sample)
    #expect(try Transaction(json: withField("memo", "hello")) == sample)
}

@Test func txJSON_acceptsUnprefixedAddressesAndPrefixedKeys() throws {
    let j = withField("from", .string(Hex.encode(alice.address.bytes)))
    var o = j.objectValue!
    o["pubkey"] = .string("0x" + Hex.encode(alice.publicKey.bytes))
    #expect(try Transaction(json: .object(o)) == sample)
}

@Test func txJSON_rejectsNonObject() {
    #expect(throws: TxRejection.invalidJSON("a transaction must be a JSON object, got array")) {
        try Transaction(json: [1, 2])
    }
}

@Test func txJSON_reportsMissingField() {
    for key in ["chainId", "from", "to", "amount", "fee", "nonce", "pubkey", "signature"] {
        #expect(throws: TxRejection.missingField(key)) { try Transaction(json: withField(key, nil)) }
    }
}

@Test func txJSON_reportsWrongTypes() {
    #expect(throws: TxRejection.invalidField(field: "amount", reason: "must be an integer, got string")) {
        try Transaction(json: withField("amount", "1000"))
    }
    #expect(throws: TxRejection.invalidField(field: "fee", reason: "must be an integer, got number")) {
        try Transaction(json: withField("fee", 1.5))
    }
    #expect(throws: TxRejection.invalidField(field: "to", reason: "must be a string, got integer")) {
        try Transaction(json: withField("to", 5))
    }
}

@Test func txJSON_rejectsNegativeAndTooLargeIntegers() {
    #expect(throws: TxRejection.invalidField(field: "nonce", reason: "must not be negative, got -1")) {
        try Transaction(json: withField("nonce", -1))
    }
    #expect(throws: TxRejection.invalidField(field: "amount", reason: "must be at most 2^53-1, got 9007199254740992")) {
        try Transaction(json: withField("amount", .int(1 << 53)))
    }
}

@Test func txJSON_reportsBadHexAndWrongLength() {
    #expect(throws: TxRejection.invalidHex(field: "pubkey", reason: "not even-length hex")) {
        try Transaction(json: withField("pubkey", "zz"))
    }
    #expect(throws: TxRejection.invalidHex(field: "to", reason: "must be 20 bytes, got 2")) {
        try Transaction(json: withField("to", "0xabcd"))
    }
    #expect(throws: TxRejection.invalidHex(field: "signature", reason: "must be 64 bytes, got 32")) {
        try Transaction(json: withField("signature", .string(Hex.encode([UInt8](repeating: 1, count: 32)))))
    }
}

@Test func txJSON_rejectsChainIdOutsideLengthBounds() {
    #expect(throws: TxRejection.invalidField(field: "chainId", reason: "must be 1 to 64 bytes, got 0")) {
        try Transaction(json: withField("chainId", ""))
    }
    #expect(throws: TxRejection.invalidField(field: "chainId", reason: "must be 1 to 64 bytes, got 65")) {
        try Transaction(json: withField("chainId", .string(String(repeating: "a", count: 65))))
    }
}

@Test func txJSON_rejectsHashThatDoesNotMatch() {
    #expect(throws: TxRejection.hashMismatch(claimed: .zero, computed: sample.hash)) {
        try Transaction(json: withField("hash", .string(Hash32.zero.hex)))
    }
}
