import Chain
import P2P
import Testing
@testable import Membership

/// Nodes prove who they are to the registry (issue 10, item 4): the signed envelope, and the
/// pins that bind an ID to its key and refuse replays.

private let nodeA = KeyPair(seed: Array(repeating: 1, count: 32))
private let nodeB = KeyPair(seed: Array(repeating: 2, count: 32))
private let body = Array(#"{"nodeId":"node1","apiUrl":"http://127.0.0.1:1"}"#.utf8)
private let now: UInt64 = 1_800_000_000_000

private func call(_ id: String = "node1", key: KeyPair = nodeA, seq: UInt64 = 10, at: UInt64 = now,
                  kind: SignedRegistryCall.Kind = .register, body: [UInt8] = body) -> SignedRegistryCall {
    SignedRegistryCall(kind: kind, nodeId: id, nodeKey: key.publicKey, sequence: seq, timestampMs: at, body: body)
}

private func headers(_ c: SignedRegistryCall, signer: KeyPair) -> HTTPHeaders { HTTPHeaders(c.headers(signedWith: signer)) }

@Test func signedCall_verifiesOverTheExactBody() throws {
    let c = call()
    let read = try SignedRegistryCall.verified(kind: .register, headers: headers(c, signer: nodeA), body: body, nodeId: "node1")
    #expect(read == c)
}

@Test func signedCall_aChangedBody_doesNotVerify() {
    let h = headers(call(), signer: nodeA)
    #expect(throws: RegistryCallRefusal.badSignature) {
        try SignedRegistryCall.verified(kind: .register, headers: h, body: body + [0x20], nodeId: "node1")
    }
}

@Test func signedCall_forAnotherNodeIdOrRoute_doesNotVerify() {
    let h = headers(call(), signer: nodeA)
    #expect(throws: RegistryCallRefusal.badSignature) {
        try SignedRegistryCall.verified(kind: .register, headers: h, body: body, nodeId: "node2")
    }
    #expect(throws: RegistryCallRefusal.badSignature) {
        try SignedRegistryCall.verified(kind: .heartbeat, headers: h, body: body, nodeId: "node1")
    }
}

@Test func signedCall_signedByAnotherKeyThanItNames_doesNotVerify() {
    #expect(throws: RegistryCallRefusal.badSignature) {
        try SignedRegistryCall.verified(kind: .register, headers: headers(call(), signer: nodeB), body: body, nodeId: "node1")
    }
}

@Test func signedCall_missingOrMalformedHeaders_haveTheirOwnCodes() {
    #expect(throws: RegistryCallRefusal.signatureRequired) {
        try SignedRegistryCall.verified(kind: .register, headers: HTTPHeaders(), body: body, nodeId: "node1")
    }
    for (name, value) in [(SignedRegistryCall.sequenceHeader, "-1"), (SignedRegistryCall.sequenceHeader, "99999999999999999999999"),
                          (SignedRegistryCall.timestampHeader, " 5"), (SignedRegistryCall.keyHeader, "zz"),
                          (SignedRegistryCall.signatureHeader, "00")] {
        var list = call().headers(signedWith: nodeA).filter { $0.0 != name }
        list.append((name, value))
        let refusal = #expect(throws: RegistryCallRefusal.self) {
            try SignedRegistryCall.verified(kind: .register, headers: HTTPHeaders(list), body: body, nodeId: "node1")
        }
        #expect(refusal?.code == "invalid_signature_header", "\(name): \(value)")
    }
}

@Test func pins_firstRegistrationPinsTheKey_anotherKeyForThatIdIsRefused() throws {
    var pins = KeyPins()
    try pins.admit(call(), nowMs: now, maxSkewMs: 30_000, expectedKey: nil, slotFree: true, slotLimit: 8)
    #expect(throws: RegistryCallRefusal.keyMismatch(nodeId: "node1")) {
        try pins.admit(call(key: nodeB, seq: 11, kind: .heartbeat), nowMs: now, maxSkewMs: 30_000, expectedKey: nil, slotFree: true, slotLimit: 8)
    }
    #expect(pins.keyOf["node1"] == nodeA.publicKey)
}

@Test func pins_aKeyMaySpeakOnlyForItsOwnId() throws {
    var pins = KeyPins()
    try pins.admit(call(), nowMs: now, maxSkewMs: 30_000, expectedKey: nil, slotFree: true, slotLimit: 8)
    #expect(throws: RegistryCallRefusal.keyBoundToOtherNode(nodeId: "node1")) {
        try pins.admit(call("node2", seq: 11), nowMs: now, maxSkewMs: 30_000, expectedKey: nil, slotFree: true, slotLimit: 8)
    }
    #expect(pins.count == 1)
}

@Test func pins_aSpawnedNodesKeyWinsOverItsFirstRegistration() {
    var pins = KeyPins()
    #expect(throws: RegistryCallRefusal.keyMismatch(nodeId: "node1")) {
        try pins.admit(call(key: nodeB), nowMs: now, maxSkewMs: 30_000, expectedKey: nodeA.publicKey, slotFree: true, slotLimit: 8)
    }
    #expect(pins.count == 0)
}

@Test func pins_aHeartbeatFromAnUnknownKey_isRefused() {
    var pins = KeyPins()
    #expect(throws: RegistryCallRefusal.notRegistered) {
        try pins.admit(call(kind: .heartbeat), nowMs: now, maxSkewMs: 30_000, expectedKey: nil, slotFree: true, slotLimit: 8)
    }
}

@Test func pins_aReplayedOrOlderSequence_isRefused() throws {
    var pins = KeyPins()
    try pins.admit(call(seq: 10), nowMs: now, maxSkewMs: 30_000, expectedKey: nil, slotFree: true, slotLimit: 8)
    #expect(throws: RegistryCallRefusal.replayed(sequence: 10, last: 10)) {
        try pins.admit(call(seq: 10, kind: .heartbeat), nowMs: now, maxSkewMs: 30_000, expectedKey: nil, slotFree: true, slotLimit: 8)
    }
    #expect(throws: RegistryCallRefusal.replayed(sequence: 9, last: 10)) {
        try pins.admit(call(seq: 9, kind: .heartbeat), nowMs: now, maxSkewMs: 30_000, expectedKey: nil, slotFree: true, slotLimit: 8)
    }
    try pins.admit(call(seq: 11, kind: .heartbeat), nowMs: now, maxSkewMs: 30_000, expectedKey: nil, slotFree: true, slotLimit: 8)
}

@Test func pins_aTimestampTooFarFromNow_isRefused_eitherWay() {
    var pins = KeyPins()
    for at in [now - 30_001, now + 30_001] {
        #expect(throws: RegistryCallRefusal.staleTimestamp(skewMs: 30_001)) {
            try pins.admit(call(at: at), nowMs: now, maxSkewMs: 30_000, expectedKey: nil, slotFree: true, slotLimit: 8)
        }
    }
    #expect(pins.count == 0)
}

@Test func pins_aNewNodeWithoutAFreeSlot_isRefused_aPinnedOneStillBeats() throws {
    var pins = KeyPins()
    try pins.admit(call(), nowMs: now, maxSkewMs: 30_000, expectedKey: nil, slotFree: true, slotLimit: 1)
    #expect(throws: RegistryCallRefusal.registryFull(limit: 1)) {
        try pins.admit(call("node2", key: nodeB), nowMs: now, maxSkewMs: 30_000, expectedKey: nil, slotFree: false, slotLimit: 1)
    }
    try pins.admit(call(seq: 11, kind: .heartbeat), nowMs: now, maxSkewMs: 30_000, expectedKey: nil, slotFree: false, slotLimit: 1)
}

/// Every refusal of a signed call, and every request the HTTP server refuses, answers the status
/// of its code's row in `ErrorCodes` (they have no table of their own).
@Test func signedCallAndHTTPRefusals_everyCodeHasItsRowInTheOneTable() {
    let refusals: [RegistryCallRefusal] = [
        .signatureRequired, .malformed(""), .badSignature, .staleTimestamp(skewMs: 1), .replayed(sequence: 1, last: 2),
        .keyMismatch(nodeId: "n1"), .keyBoundToOtherNode(nodeId: "n2"), .notRegistered, .registryFull(limit: 1),
    ]
    for r in refusals { #expect(ErrorCodes.status(of: r.code) == r.status, "\(r.code)") }
    #expect(RegistryCallRefusal.registryFull(limit: 1).status == 503 && RegistryCallRefusal.keyMismatch(nodeId: "n").status == 403)
    let parse: [HTTPParseError] = [.badRequest(""), .uriTooLong, .headersTooLarge, .bodyTooLarge(limitBytes: 1),
                                   .versionNotSupported(""), .notImplemented(""), .requestTimeout, .overloaded("")]
    for e in parse { #expect(ErrorCodes.status(of: e.code) != nil, "\(e.code)") }
    #expect(HTTPParseError.headersTooLarge.status == 431 && HTTPParseError.uriTooLong.status == 414)
}
