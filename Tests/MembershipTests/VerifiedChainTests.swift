import Chain
import Testing
@testable import Membership

/// The registry reads membership from the chain itself (issue 10, item 5): each header links to
/// the one before, is signed by a voter of the configuration in force, and commits to its change.

private func verify(_ entries: [VerifiedChain.Entry], onto chain: VerifiedChain = VerifiedChain()) throws -> VerifiedChain {
    var c = chain
    try c.apply(entries, pinnedKey: ChainBuilder.pinned)
    return c
}

@Test func verifiedChain_followsMembershipChangesFromBlockOne() throws {
    var b = ChainBuilder(voters: ["node1", "node2", "node3"], learners: ["node4"])
    b.add(.remove, "node3", by: "node1")
    let chain = try verify(b.entries)
    #expect(chain.membership.voters == ["node1", "node2"])
    #expect(chain.membership.learners == ["node4"])
    #expect(chain.membership.retired == ["node3"])
    #expect(chain.height == b.head.height && chain.headHash == b.head.hash)
}

@Test func verifiedChain_isKeptIncrementally_eachRoundAppliesOnlyNewHeaders() throws {
    var b = ChainBuilder(voters: ["node1", "node2", "node3"])
    var chain = try verify(b.entries)
    let before = b.blocks.count
    b.addEmpty(by: "node2")
    b.add(.addLearner, "node4", by: "node2")
    chain = try verify(Array(b.entries[before...]), onto: chain)
    #expect(chain.membership.learners == ["node4"])
    #expect(chain.proposer == "node2")
}

@Test func verifiedChain_aForgedSignature_isRefusedAndChangesNothing() throws {
    var b = ChainBuilder(voters: ["node1", "node2", "node3"])
    let good = try verify(b.entries)
    b.add(.remove, "node2", by: "node1")
    var forged = b.entries.last!
    forged.signature = ChainBuilder.key("node1").sign(Array("something else".utf8))
    var chain = good
    #expect(throws: ChainVerificationError.badSignature(height: forged.header.height)) {
        try chain.apply([forged], pinnedKey: ChainBuilder.pinned)
    }
    #expect(chain == good)
}

@Test func verifiedChain_aBlockSignedByANonVoter_isRefused() throws {
    // A learner, a retired node or a stranger signs a block that "removes" the voters.
    var b = ChainBuilder(voters: ["node1", "node2", "node3"], learners: ["node4"])
    let good = try verify(b.entries)
    b.add(.remove, "node1", by: "node4", term: 99)
    var chain = good
    #expect(throws: ChainVerificationError.notAVoter(height: b.head.height)) {
        try chain.apply([b.entries.last!], pinnedKey: ChainBuilder.pinned)
    }
    var stranger = ChainBuilder(voters: ["node1", "node2", "node3"])
    stranger.add(.remove, "node2", by: "evil")
    #expect(throws: ChainVerificationError.notAVoter(height: stranger.head.height)) { try verify(stranger.entries) }
}

@Test func verifiedChain_aBrokenLink_isRefused() throws {
    let a = ChainBuilder(voters: ["node1", "node2", "node3"])
    var other = ChainBuilder(voters: ["node1", "node2"])
    other.addEmpty(by: "node1")
    other.addEmpty(by: "node1")
    other.addEmpty(by: "node1")
    other.add(.remove, "node2", by: "node1")
    // other's next block has the right height for `a` but links to another parent.
    let chainA = try verify(a.entries)
    let next = other.entries.first { $0.header.height == chainA.height + 1 }!
    var chain = chainA
    #expect(throws: ChainVerificationError.brokenLink(height: next.header.height)) {
        try chain.apply([next], pinnedKey: ChainBuilder.pinned)
    }
}

@Test func verifiedChain_aReplayedOrSkippedHeader_isRefused() throws {
    let b = ChainBuilder(voters: ["node1", "node2", "node3"])
    let chain = try verify(b.entries)
    var again = chain
    #expect(throws: ChainVerificationError.wrongHeight(expected: chain.height + 1, got: b.head.height)) {
        try again.apply([b.entries.last!], pinnedKey: ChainBuilder.pinned)
    }
    #expect(throws: ChainVerificationError.wrongHeight(expected: 1, got: 2)) { try verify(Array(b.entries.dropFirst())) }
}

@Test func verifiedChain_aChangeTheHeaderDoesNotCommitTo_isRefused() throws {
    var b = ChainBuilder(voters: ["node1", "node2", "node3"])
    b.add(.addLearner, "node4", by: "node1")
    var tampered = b.entries
    tampered[tampered.count - 1].membership = MembershipChange(kind: .remove, nodeId: "node2")
    #expect(throws: ChainVerificationError.membershipNotSigned(height: b.head.height)) { try verify(tampered) }
}

@Test func verifiedChain_aChangeWithheldByTheServingNode_isRefused() throws {
    var b = ChainBuilder(voters: ["node1", "node2", "node3"])
    b.add(.remove, "node3", by: "node1")
    var withheld = b.entries
    withheld[withheld.count - 1].membership = nil
    #expect(throws: ChainVerificationError.membershipWithheld(height: b.head.height)) { try verify(withheld) }
}

/// Regression: the registry expected an empty block to hash its stateRoot forward, while nodes
/// require it unchanged, so the first block of every new term stopped the registry's view of the
/// chain. The builder's empty block is checked with the nodes' own rule (BlockCheck) first.
@Test func verifiedChain_anEmptyTermStartBlockAsNodesMakeIt_isVerified() throws {
    struct NoAccounts: AccountSource { func account(_ a: Address) -> Account { Account(address: a, balance: 0, nonce: 0) } }
    var b = ChainBuilder(voters: ["node1", "node2", "node3"])
    let before = try b.verified()
    b.addEmpty(by: "node2")
    _ = try BlockCheck.verifyAndExecute(b.head, index: b.head.height, term: nil, prevHash: before.headHash,
                                        prevStateRoot: before.headStateRoot, membership: before.membership,
                                        accounts: NoAccounts())
    let after = try b.verified()
    #expect(after.height == b.head.height)
    #expect(after.headStateRoot == before.headStateRoot)
}

@Test func verifiedChain_anEmptyBlockThatMovesTheStateRoot_isRefused() throws {
    var b = ChainBuilder(voters: ["node1", "node2", "node3"])
    let prev = b.head
    b.addEmpty(by: "node1")
    var moved = b.entries
    moved[moved.count - 1] = VerifiedChain.Entry(Block.make(
        height: prev.height + 1, prevHash: prev.hash, stateRoot: StateRoot.next(previous: prev.header.stateRoot, changes: []),
        timestamp: prev.header.timestamp + 1, term: prev.header.term, txs: [], proposerKey: ChainBuilder.key("node1")))
    #expect(throws: ChainVerificationError.membershipWithheld(height: prev.height + 1)) { try verify(moved) }
}

@Test func verifiedChain_blockOneMustBootstrapAPinnedKey() throws {
    let b = ChainBuilder(voters: ["node1"])
    var chain = VerifiedChain()
    #expect(throws: ChainVerificationError.unknownBootstrap("node1")) { try chain.apply(b.entries, pinnedKey: { _ in nil }) }
    #expect(throws: ChainVerificationError.bootstrapKeyMismatch("node1")) {
        try chain.apply(b.entries, pinnedKey: { _ in ChainBuilder.key("someone").publicKey })
    }
    #expect(!chain.isVerified)
}

@Test func verifiedChain_headersServedAsJSON_parseBack() throws {
    var b = ChainBuilder(voters: ["node1", "node2"])
    b.addEmpty(by: "node2")
    for block in b.blocks {
        guard case .object(var o) = block.json else { Issue.record("not an object"); return }
        o["txs"] = nil
        o["membership"] = block.membership?.json ?? .null
        #expect(try VerifiedChain.Entry(json: .object(o)) == VerifiedChain.Entry(block))
    }
}
