import Foundation
import Testing
@testable import Chain

// Fencing's tombstones in the chain's membership: a removed member's key never comes back.

private let keyA = testKey(0xA1).publicKey
private let keyX = testKey(0xA2).publicKey

private func membershipWithXRemoved() -> ClusterMembership {
    ClusterMembership()
        .applying(MembershipChange(kind: .bootstrap, nodeId: "a", nodeKey: keyA))
        .applying(MembershipChange(kind: .addLearner, nodeId: "x", nodeKey: keyX))
        .applying(MembershipChange(kind: .remove, nodeId: "x"))
}

@Test func membership_aRemovalRetiresTheKeyTheMemberHad() {
    let m = membershipWithXRemoved()
    #expect(m.retired == ["x"] && m.keys["x"] == nil)
    #expect(m.retiredKeys == ["x": keyX])
    #expect(m.retiredOwner(of: keyX) == "x")
}

@Test func membership_aRetiredKeyUnderANewID_isRefusedWithItsOwnCode() {
    let m = membershipWithXRemoved()
    let rejoin = MembershipChange(kind: .addLearner, nodeId: "x-again", nodeKey: keyX)
    #expect(m.rejection(of: rejoin) == .retiredKey(of: "x"))
    #expect(m.rejection(of: rejoin)?.code == "retired_key")
    #expect(m.applying(rejoin) == m, "every node ignores it alike")
    #expect(m.rejection(of: MembershipChange(kind: .addLearner, nodeId: "y", nodeKey: testKey(0xA3).publicKey)) == nil)
}

/// One tombstone per removal: never more retired keys than retired IDs.
@Test func membership_retiredKeys_neverOutnumberRetiredIDs() {
    var m = ClusterMembership().applying(MembershipChange(kind: .bootstrap, nodeId: "a", nodeKey: keyA))
    for i in 1...20 {
        let id = "n\(i)"
        m = m.applying(MembershipChange(kind: .addLearner, nodeId: id, nodeKey: testKey(UInt8(i)).publicKey))
        m = m.applying(MembershipChange(kind: .remove, nodeId: id))
        m = m.applying(MembershipChange(kind: .remove, nodeId: id))  // refused: not a member
    }
    #expect(m.retired.count == 20 && m.retiredKeys.count == 20)
}

@Test func membership_retiredKeys_surviveTheStoredRecord() throws {
    let m = membershipWithXRemoved()
    let parsed = try #require(ClusterMembership(json: try JSON.parse(m.json.serializedString())))
    #expect(parsed == m)
    var old = m.json.objectValue!
    old["retiredKeys"] = nil
    #expect(ClusterMembership.lacksRetiredKeys(.object(old)))
    #expect(ClusterMembership(json: .object(old))?.retiredKeys == [:], "a record of the previous release still parses")
}

/// A data directory written before retired keys were kept: the store derives them from the
/// chain's membership blocks at open, so it refuses the same rejoin as every other node.
@Test func store_aRecordWithoutRetiredKeys_derivesThemFromTheChainsMembershipBlocks() throws {
    let genesis = GenesisSpec(chainId: "retired-keys", timestamp: 1_700_000_000_000, allocations: [(testKey(1).address, 1_000)])
    let dir = NSTemporaryDirectory() + "autochain-retired-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/chain.db"
    let store = try ChainStore(path: path, genesis: genesis)
    let changes = [MembershipChange(kind: .bootstrap, nodeId: "a", nodeKey: keyA),
                   MembershipChange(kind: .addLearner, nodeId: "x", nodeKey: keyX),
                   MembershipChange(kind: .remove, nodeId: "x")]
    var previous = genesis.block()
    var committed: [CommittedBlock] = []
    for (i, change) in changes.enumerated() {
        let block = Block.make(height: UInt64(i + 1), prevHash: previous.hash,
                               stateRoot: StateRoot.next(previous: previous.header.stateRoot, membership: change),
                               timestamp: 1_700_000_000_000, term: 1, txs: [], membership: change, proposerKey: testKey(0xA1))
        committed.append(CommittedBlock(block: block, delta: .empty))
        previous = block
    }
    try store.persist(StoreBatch(hardState: nil, logEntries: [], committed: committed, membership: membershipWithXRemoved()))
    #expect(try ChainStore(path: path, genesis: genesis).membership.retiredKeys == ["x": keyX])

    var old = membershipWithXRemoved().json.objectValue!
    old["retiredKeys"] = nil
    let db = try Database(path: path)
    try db.prepare("UPDATE meta SET value = ? WHERE key = 'membership'").run(.text(JSON.object(old).serializedString()))
    let reopened = try ChainStore(path: path, genesis: genesis)
    #expect(reopened.membership.retiredKeys == ["x": keyX])
    #expect(reopened.membership.rejection(of: MembershipChange(kind: .addLearner, nodeId: "z", nodeKey: keyX))?.code == "retired_key")
}
