import Chain
import FuzzSupport

/// Block decoding, binary (storage, Raft log, peer `blocks`) and JSON (`GET /block`). Properties:
/// - a block decoded from bytes re-encodes to exactly those bytes and keeps its hash;
/// - one read from JSON gives back, through `json`, an equal block; when its structure checks
///   pass, it also survives the binary codec unchanged;
/// - every failure is a typed error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    checkBinary(bytes)
    checkJSON(bytes)
    return 0
}

private func checkBinary(_ bytes: [UInt8]) {
    guard let block = try? Block.decode(bytes) else { return }
    require(block.encode() == bytes, "re-encoding differs from the bytes read")
    require(block.hash == block.header.hash, "hash is not the header hash")
    require(Int(block.header.txCount) == block.txs.count, "txCount \(block.header.txCount) but \(block.txs.count) txs")
    let fitsJSON = block.txs.allSatisfy { [$0.amount, $0.fee, $0.nonce].allSatisfy { $0 <= Limits.maxSupply } }
        && [block.header.height, block.header.timestamp, block.header.term].allSatisfy { $0 <= Limits.maxSupply }
    if fitsJSON { checkJSONRoundTrip(block) }
}

private func checkJSON(_ bytes: [UInt8]) {
    guard let value = try? JSON.parse(bytes), let block = try? Block(json: value) else { return }
    checkJSONRoundTrip(block)
    guard (try? block.checkStructure()) != nil else { return }
    let decoded = try? Block.decode(block.encode())
    require(decoded == block, "binary round trip of a JSON block")
}

private func checkJSONRoundTrip(_ block: Block) {
    guard let value = try? JSON.parse(block.json.serialized()) else { return require(false, "block.json does not parse") }
    do {
        let again = try Block(json: value)
        require(again == block && again.header == block.header, "JSON round trip changed the block")
    } catch {
        require(false, "block.json is refused: \(error)")
    }
}
