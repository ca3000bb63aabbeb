import Testing
@testable import Chain

private func spec(_ chainId: String = "autochain-dev", _ allocations: [(Address, UInt64)] = [(addr(2), 500), (addr(1), 700)])
    -> GenesisSpec
{
    GenesisSpec(chainId: chainId, timestamp: 1_700_000_000_000, allocations: allocations)
}

@Test func genesis_blockFollowsTheDerivationRules() {
    let s = spec()
    let block = s.block()
    #expect(block.height == 0 && block.txs.isEmpty && block.header.txCount == 0 && block.header.term == 0)
    #expect(block.header.prevHash == Crypto.sha256(Array("autochain-genesis-v1".utf8) + [0, 0, 0, 13] + Array("autochain-dev".utf8)))
    #expect(block.header.txRoot == Merkle.root([]))
    let sorted = [Account(address: addr(1), balance: 700), Account(address: addr(2), balance: 500)]
    #expect(block.header.stateRoot == StateRoot.next(previous: .zero, changes: sorted))
    #expect(block.header.proposer == .zero && block.proposerSignature == .zero)
    #expect(s.supply == 1200)
}

@Test func genesis_isDeterministicAndDependsOnChainId() {
    #expect(spec().block().hash == spec().block().hash)
    #expect(spec("chain-a").block().hash != spec("chain-b").block().hash)
}

@Test func genesis_validateRejectsEachProblem() {
    #expect(throws: GenesisError.invalidChainId("must be 1 to 64 bytes, got 0")) { try spec("").validate() }
    #expect(throws: GenesisError.invalidChainId("must be printable ASCII without spaces")) { try spec("a b").validate() }
    #expect(throws: GenesisError.noAllocations) { try spec("c", []).validate() }
    #expect(throws: GenesisError.duplicateAddress(addr(1))) { try spec("c", [(addr(1), 1), (addr(1), 2)]).validate() }
    #expect(throws: GenesisError.zeroBalance(addr(3))) { try spec("c", [(addr(3), 0)]).validate() }
    #expect(throws: GenesisError.supplyTooLarge) {
        try spec("c", [(addr(1), Limits.maxSupply), (addr(2), 1)]).validate()
    }
}

@Test func genesis_acceptsSupplyOfExactlyTheCap() throws {
    try spec("c", [(addr(1), Limits.maxSupply - 1), (addr(2), 1)]).validate()
}

@Test func stateRoot_hashesPreviousThenChangesInOrder() {
    let changes = [Account(address: addr(1), balance: 5, nonce: 1)]
    let expected = Crypto.sha256(Hash32.zero.bytes + addr(1).bytes + [0, 0, 0, 0, 0, 0, 0, 5] + [0, 0, 0, 0, 0, 0, 0, 1])
    #expect(StateRoot.next(previous: .zero, changes: changes) == expected)
    #expect(StateRoot.next(previous: .zero, changes: []) == Crypto.sha256(Hash32.zero.bytes))
}

@Test func account_jsonHasAddressBalanceNonce() {
    let a = Account(address: addr(1), balance: 5, nonce: 2)
    #expect(a.json == ["address": .string(addr(1).hex), "balance": 5, "nonce": 2])
}
