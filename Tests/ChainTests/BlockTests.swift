import Testing
@testable import Chain

private let proposer = testKey(7)
private let alice = testKey(1)
private let bob = testKey(2)

private func sampleBlock(txCount: Int = 3) -> Block {
    let txs = (0..<txCount).map { transfer(alice, to: bob.address, nonce: UInt64($0)) }
    return Block.make(height: 5, prevHash: Crypto.sha256([9]), stateRoot: Crypto.sha256([8]),
                      timestamp: 1_700_000_000_000, term: 2, txs: txs, proposerKey: proposer)
}

@Test func blockHeader_canonicalBytesFollowTheDocumentedLayout() {
    let h = BlockHeader(height: 1, prevHash: Crypto.sha256([1]), txRoot: Crypto.sha256([2]),
                        stateRoot: Crypto.sha256([3]), timestamp: 4, term: 5, proposer: proposer.publicKey, txCount: 6)
    var expected = Array("autochain-block-v1".utf8) + [0, 0, 0, 0, 0, 0, 0, 1]
    expected += h.prevHash.bytes + h.txRoot.bytes + h.stateRoot.bytes
    expected += [0, 0, 0, 0, 0, 0, 0, 4] + [0, 0, 0, 0, 0, 0, 0, 5] + proposer.publicKey.bytes + [0, 0, 0, 6]
    #expect(h.canonicalBytes == expected)
    #expect(h.canonicalBytes.count == BlockHeader.canonicalByteCount)
    #expect(h.hash == Crypto.sha256(expected))
}

@Test func block_makeDerivesTxRootCountAndValidSignature() throws {
    let block = sampleBlock()
    #expect(block.header.txCount == 3)
    #expect(block.header.txRoot == Merkle.root(block.txs.map(\.hash)))
    #expect(block.hash == block.header.hash)
    #expect(block.verifyProposerSignature())
    #expect(Ed25519.verify(block.proposerSignature, message: block.hash.bytes, publicKey: proposer.publicKey))
    try block.checkStructure(chainId: testChain)
}

@Test func block_signatureFailsWhenHeaderChanges() {
    let block = sampleBlock()
    var header = block.header
    header.timestamp += 1
    #expect(!Block(header: header, proposerSignature: block.proposerSignature, txs: block.txs).verifyProposerSignature())
}

@Test func block_checkStructureRejectsWrongCountRootAndDuplicates() {
    let block = sampleBlock()
    var header = block.header
    header.txCount = 2
    #expect(throws: BlockRejection.txCountMismatch(header: 2, actual: 3)) {
        try Block(header: header, proposerSignature: .zero, txs: block.txs).checkStructure()
    }
    let swapped = [block.txs[1], block.txs[0], block.txs[2]]
    #expect(throws: BlockRejection.txRootMismatch(header: block.header.txRoot, computed: Merkle.root(swapped.map(\.hash)))) {
        try Block(header: block.header, proposerSignature: .zero, txs: swapped).checkStructure()
    }
    let dup = Block.make(height: 1, prevHash: .zero, stateRoot: .zero, timestamp: 0, term: 0,
                         txs: [block.txs[0], block.txs[0]], proposerKey: proposer)
    #expect(throws: BlockRejection.duplicateTransaction(index: 1, hash: block.txs[0].hash)) { try dup.checkStructure() }
}

@Test func block_checkStructureRejectsTransactionOfAnotherChain() {
    let block = sampleBlock(txCount: 1)
    #expect(throws: BlockRejection.invalidTransaction(index: 0, hash: block.txs[0].hash,
                                                      reason: .wrongChain(expected: "other", got: testChain))) {
        try block.checkStructure(chainId: "other")
    }
}

@Test func block_jsonHasContractKeysAndRoundTrips() throws {
    let block = sampleBlock()
    #expect(block.json.objectValue!.keys == ["height", "hash", "prevHash", "txRoot", "stateRoot", "timestamp", "term",
                                             "proposer", "txCount", "proposerSignature", "txs"])
    let parsed = try Block(json: block.json)
    #expect(parsed == block)
    #expect(parsed.verifyProposerSignature())
}

@Test func block_jsonRejectsHashMismatchAndBadTx() {
    var o = sampleBlock().json.objectValue!
    o["timestamp"] = 1
    #expect(throws: BlockRejection.self) { try Block(json: .object(o)) }
    var o2 = sampleBlock().json.objectValue!
    o2["txs"] = [["chainId": "x"]]
    #expect(throws: BlockRejection.invalidJSON("txs[0]: missing field `from`")) { try Block(json: .object(o2)) }
    #expect(throws: BlockRejection.invalidJSON("a block must be a JSON object, got null")) { try Block(json: nil) }
}

@Test func block_binaryCodecRoundTripsIncludingEmpty() throws {
    for block in [sampleBlock(), sampleBlock(txCount: 0)] {
        let decoded = try Block.decode(block.encode())
        #expect(decoded == block)
        #expect(decoded.header == block.header)
    }
}

@Test func block_binaryDecodeRejectsTruncatedTrailingAndUnknownVersion() {
    let bytes = sampleBlock().encode()
    for cut in [0, 1, 100, bytes.count - 1] {
        #expect(throws: DecodeError.self) { try Block.decode(Array(bytes.prefix(cut))) }
    }
    #expect(throws: DecodeError.trailingBytes(count: 1)) { try Block.decode(bytes + [0]) }
    #expect(throws: DecodeError.unsupportedVersion(9)) { try Block.decode([9] + bytes.dropFirst()) }
}
