import Foundation
import Testing
@testable import Chain

/// The `name = value` lines inside the ```text blocks of docs/PROTOCOL.md.
private func documentedVectors(filePath: String = #filePath) throws -> [String: String] {
    let doc = URL(fileURLWithPath: filePath).deletingLastPathComponent()  // Tests/ChainTests
        .deletingLastPathComponent().deletingLastPathComponent()  // repository root
        .appendingPathComponent("docs/PROTOCOL.md")
    let text = try String(contentsOf: doc, encoding: .utf8)
    var values: [String: String] = [:]
    var inVectorBlock = false
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("```") {
            inVectorBlock = line == "```text"
            continue
        }
        guard inVectorBlock, let range = line.range(of: " = ") else { continue }
        values[String(line[..<range.lowerBound])] = String(line[range.upperBound...])
    }
    return values
}

private let signer = KeyPair(seed: (1...32).map { UInt8($0) })
private let recipient = KeyPair(seed: (33...64).map { UInt8($0) })
private let vectorTx = Transaction.signed(chainId: "autochain-dev", to: recipient.address, amount: 1000, fee: 1,
                                          nonce: 0, keyPair: signer)

@Test func protocolDoc_transactionVectorMatchesCode() throws {
    let v = try documentedVectors()
    #expect(v["key.seed"] == Hex.encode(signer.seed))
    #expect(v["key.publicKey"] == signer.publicKey.hex)
    #expect(v["key.address"] == signer.address.hex)
    #expect(v["to.seed"] == Hex.encode(recipient.seed))
    #expect(v["to.address"] == recipient.address.hex)
    #expect(v["tx.signedBytes"] == Hex.encode(vectorTx.signedBytes))
    #expect(v["tx.signature"] == vectorTx.signature.hex)
    #expect(v["tx.hash"] == vectorTx.hash.hex)
}

@Test func protocolDoc_blockHeaderVectorMatchesCode() throws {
    let v = try documentedVectors()
    let header = BlockHeader(
        height: 1, prevHash: Hash32(bytes: [UInt8](repeating: 0x11, count: 32))!, txRoot: Merkle.root([vectorTx.hash]),
        stateRoot: Hash32(bytes: [UInt8](repeating: 0x22, count: 32))!, timestamp: 1_700_000_000_000, term: 3,
        proposer: signer.publicKey, txCount: 1)
    #expect(v["block.txRoot"] == header.txRoot.hex)
    #expect(v["block.canonicalBytes"] == Hex.encode(header.canonicalBytes))
    #expect(v["block.hash"] == header.hash.hex)
    #expect(v["block.proposerSignature"] == signer.sign(header.hash.bytes).hex)
    let block = Block.make(height: 1, prevHash: header.prevHash, stateRoot: header.stateRoot,
                           timestamp: header.timestamp, term: 3, txs: [vectorTx], proposerKey: signer)
    #expect(block.hash.hex == v["block.hash"])
}

@Test func protocolDoc_genesisAndDevelopmentKeyVectorsMatchCode() throws {
    let v = try documentedVectors()
    let spec = GenesisSpec(chainId: "autochain-dev", timestamp: 1_700_000_000_000,
                           allocations: [(signer.address, 1_000_000)])
    #expect(v["genesis.prevHash"] == spec.prevHash.hex)
    #expect(v["genesis.stateRoot"] == spec.block().header.stateRoot.hex)
    #expect(v["genesis.hash"] == spec.block().hash.hex)
    #expect(v["dev.publicKey"] == KeyPair.development.publicKey.hex)
    #expect(v["dev.address"] == KeyPair.development.address.hex)
}

@Test func protocolDoc_hasEveryVector() throws {
    let names = ["key.seed", "key.publicKey", "key.address", "to.seed", "to.address", "tx.signedBytes", "tx.signature",
                 "tx.hash", "block.txRoot", "block.canonicalBytes", "block.hash", "block.proposerSignature",
                 "genesis.prevHash", "genesis.stateRoot", "genesis.hash", "dev.publicKey", "dev.address"]
    let v = try documentedVectors()
    #expect(names.filter { v[$0] == nil } == [])
}
