import Chain
import P2P
import Testing
@testable import NodeMain

/// Who may talk to this node on the peer link, from the membership it applied.
@Suite struct PeerAccessTests {
    static let keyA = KeyPair(seed: [UInt8](repeating: 0xC1, count: 32)).publicKey
    static let keyX = KeyPair(seed: [UInt8](repeating: 0xC2, count: 32)).publicKey
    static let membership = ClusterMembership()
        .applying(MembershipChange(kind: .bootstrap, nodeId: "a", nodeKey: keyA))
        .applying(MembershipChange(kind: .addLearner, nodeId: "x", nodeKey: keyX))
        .applying(MembershipChange(kind: .remove, nodeId: "x"))

    @Test func aRetiredNodesKey_isRefusedUnderANewID() {
        let access = PeerTransport.access(Self.membership, nodeId: "x-again", nodeKey: Self.keyX)
        #expect(access == .refuse(reason: "the node key of retired node x is never admitted again"))
    }

    @Test func aRetiredID_isRefused_aMember_isOne_aNewcomer_mayOnlyAskToJoin() {
        #expect(PeerTransport.access(Self.membership, nodeId: "x", nodeKey: KeyPair.generate().publicKey)
                == .refuse(reason: "node ID x was removed from the cluster and is retired"))
        #expect(PeerTransport.access(Self.membership, nodeId: "a", nodeKey: Self.keyA) == .member)
        #expect(PeerTransport.access(Self.membership, nodeId: "n", nodeKey: KeyPair.generate().publicKey) == .joinOnly)
    }
}
