import Chain
import FuzzSupport

/// Transaction decoding, binary (storage, Raft log) and JSON (REST, peer `txs`). Properties:
/// - a transaction decoded from bytes re-encodes to exactly the bytes it was read from;
/// - one read from JSON gives back, through `json`, an equal transaction with the same hash, and
///   survives the binary codec unchanged;
/// - every failure is a typed error (a trap here is a crash a client could cause).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    checkBinary(bytes)
    checkJSON(bytes)
    return 0
}

private func checkBinary(_ bytes: [UInt8]) {
    var reader = ByteReader(bytes)
    guard let tx = try? Transaction.decode(&reader) else { return }
    require(reader.offset > 0 && reader.offset <= bytes.count, "read \(reader.offset) of \(bytes.count) bytes")
    var encoded: [UInt8] = []
    tx.encode(into: &encoded)
    require(encoded[...] == bytes[..<reader.offset], "re-encoding differs from the \(reader.offset) bytes read")
    // The binary codec carries any u64; JSON (the client contract) only amounts up to 2^53-1.
    if [tx.amount, tx.fee, tx.nonce].allSatisfy({ $0 <= Limits.maxSupply }) { checkJSONRoundTrip(tx) }
}

private func checkJSON(_ bytes: [UInt8]) {
    guard let value = try? JSON.parse(bytes), let tx = try? Transaction(json: value) else { return }
    checkJSONRoundTrip(tx)
    var encoded: [UInt8] = []
    tx.encode(into: &encoded)
    var reader = ByteReader(encoded)
    let decoded = try? Transaction.decode(&reader)
    require(decoded == tx && reader.remaining == 0, "binary round trip of a JSON transaction")
}

private func checkJSONRoundTrip(_ tx: Transaction) {
    let text = tx.json.serialized()
    guard let value = try? JSON.parse(text) else { return require(false, "tx.json does not parse") }
    do {
        let again = try Transaction(json: value)
        require(again == tx && again.hash == tx.hash, "JSON round trip changed the transaction")
    } catch {
        require(false, "tx.json is refused: \(error)")
    }
}
