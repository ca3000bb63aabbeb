import Chain
import Testing
@testable import P2P

// Fencing on peer links (DESIGN-NOTES, Fencing): the decisions alone, without sockets.

private let ownKey = KeyPair(seed: [UInt8](repeating: 0x0A, count: 32))
private let peerKey = KeyPair(seed: [UInt8](repeating: 0x0B, count: 32))
private let transcript = Crypto.sha256(Array("a connection".utf8))

/// `key`'s real signed word that `nodeId` runs `incarnation` (as its auth frame carries it).
private func proof(_ nodeId: String, _ incarnation: UInt64, key: KeyPair = peerKey) -> IncarnationProof {
    let signed = ChannelHandshake.signedBytes(version: 3, transcript: transcript, role: 1, incarnation: incarnation)
    return IncarnationProof(nodeId: nodeId, nodeKey: key.publicKey, incarnation: incarnation, transcript: transcript,
                            role: 1, signature: key.sign(signed))
}

private func claim(_ nodeId: String, _ incarnation: UInt64, key: KeyPair = peerKey) -> IncarnationClaim {
    IncarnationClaim(nodeId: nodeId, nodeKey: key.publicKey, incarnation: incarnation, proof: proof(nodeId, incarnation, key: key))
}

private func fence(incarnation: UInt64 = 10) -> IncarnationFence {
    IncarnationFence(nodeId: "n1", nodeKey: ownKey.publicKey, incarnation: incarnation)
}

private let members: Set<String> = ["n1", "n2", "n3"]

@Test func fence_aLowerIncarnationOfAMember_isRefusedWithTheProofOfTheHigherOne() {
    var f = fence()
    #expect(f.admit(claim("n2", 7), members: members) == .accept)
    guard case .refuse(let reason, let newer) = f.admit(claim("n2", 6), members: members) else {
        Issue.record("a lower incarnation was not refused")
        return
    }
    #expect(reason.contains("n2 incarnation 6 is superseded by incarnation 7"))
    #expect(newer == proof("n2", 7) && newer?.verifies() == true)
}

@Test func fence_anEqualIncarnation_isAccepted() {
    var f = fence()
    #expect(f.admit(claim("n2", 7), members: members) == .accept)
    #expect(f.admit(claim("n2", 7), members: members) == .accept, "a reconnect of the same copy")
}

@Test func fence_aHigherIncarnation_replacesTheOneToBeat() {
    var f = fence()
    _ = f.admit(claim("n2", 7), members: members)
    #expect(f.admit(claim("n2", 8), members: members) == .accept)
    #expect(f.highest["n2"]?.incarnation == 8)
    #expect(f.refusal(of: "n2", incarnation: 7) != nil, "the link of the copy it replaced is an older copy's now")
    #expect(f.admit(claim("n2", 7), members: members) != .accept)
}

@Test func fence_aVersion2Peer_countsAsIncarnation0() {
    var f = fence()
    let old = IncarnationClaim(nodeId: "n2", nodeKey: peerKey.publicKey, incarnation: 0, proof: nil)
    #expect(f.admit(old, members: members) == .accept, "nothing known yet: like a node started by hand")
    _ = f.admit(claim("n2", 3), members: members)
    guard case .refuse(_, let newer) = f.admit(old, members: members) else {
        Issue.record("a version-2 copy was accepted after a started copy connected")
        return
    }
    #expect(newer?.incarnation == 3)
}

@Test func fence_ourOwnIdUnderOurKeyWithAHigherIncarnation_meansThisCopyIsSuperseded() {
    var f = fence(incarnation: 10)
    #expect(f.admit(claim("n1", 11, key: ownKey), members: members) == .superseded(proof("n1", 11, key: ownKey)))
}

@Test func fence_ourOwnIdOtherwise_isASelfDial_neverASupersession() {
    var f = fence(incarnation: 10)
    #expect(f.admit(claim("n1", 10, key: ownKey), members: members) == .ownId, "a self-dial")
    #expect(f.admit(claim("n1", 9, key: ownKey), members: members) == .ownId, "an older copy of us")
    #expect(f.admit(claim("n1", 99, key: peerKey), members: members) == .ownId, "another key cannot stop us")
    let unsigned = IncarnationClaim(nodeId: "n1", nodeKey: ownKey.publicKey, incarnation: 99, proof: nil)
    #expect(f.admit(unsigned, members: members) == .ownId, "a version-2 claim proves no incarnation")
}

@Test func fence_aPassedOnProof_stopsThisCopyOnlyWhenItIsOurKeysValidSignatureOverAHigherIncarnation() {
    let f = fence(incarnation: 10)
    #expect(f.learned(proof("n1", 11, key: ownKey)) == .superseded(proof("n1", 11, key: ownKey)))
    #expect(f.learned(proof("n1", 10, key: ownKey)) == nil, "not higher")
    #expect(f.learned(proof("n1", 11, key: peerKey)) == nil, "another key")
    #expect(f.learned(proof("n2", 11, key: ownKey)) == nil, "another ID")
    var forged = proof("n1", 11, key: ownKey)
    forged.incarnation = 12
    #expect(f.learned(forged) == nil, "the signature covers the incarnation")
    var reflected = proof("n1", 11, key: ownKey)
    reflected.role = 3
    #expect(f.learned(reflected) == nil)
}

@Test func fence_keepsMembersOnly_andForgetsARemovedMember() {
    var f = fence()
    #expect(f.admit(claim("stranger", 5), members: members) == .accept)
    #expect(f.highest["stranger"] == nil, "a non-member is never recorded")
    _ = f.admit(claim("n2", 5), members: members)
    _ = f.admit(claim("n3", 5), members: members)
    #expect(f.highest.count == 2)
    _ = f.admit(claim("n3", 6), members: ["n1", "n3"])
    #expect(Set(f.highest.keys) == ["n3"], "n2 was removed: its entry is gone")
    #expect(f.admit(claim("n2", 1), members: ["n1", "n3"]) == .accept, "no entry for a non-member (membership refuses it)")
}

@Test func fence_tableNeverHoldsMoreThanTheMembership() {
    var f = fence()
    let many = Set((1...50).map { "m\($0)" })
    for id in many { _ = f.admit(claim(id, 1), members: many) }
    for i in 1...500 { _ = f.admit(claim("x\(i)", 1), members: many) }
    #expect(f.highest.count == 50)
    _ = f.admit(claim("m1", 2), members: ["m1"])
    #expect(f.highest.count == 1)
}

@Test func fence_knowingNoMembershipYet_recordsNothing() {
    var f = fence()
    #expect(f.admit(claim("n2", 5), members: []) == .accept)
    #expect(f.admit(claim("n2", 4), members: []) == .accept)
    #expect(f.highest.isEmpty)
}
