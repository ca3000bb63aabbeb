import Chain
import Consensus

extension PeerMessage {
    /// Parses one line (without its newline). Every fault a peer can cause is a `PeerDecodeError`.
    public static func decode(line: UnsafeRawBufferPointer, maxLineBytes: Int = 16 << 20) throws(PeerDecodeError) -> PeerMessage {
        guard line.count <= maxLineBytes else { throw .lineTooLong(bytes: line.count, max: maxLineBytes) }
        let limits = JSONLimits(maxDepth: 16, maxBytes: maxLineBytes, maxStringBytes: maxLineBytes)
        let value: JSON
        do { value = try JSON.parse(line, limits: limits) } catch { throw .invalidJSON(error.description) }
        return try decode(json: value)
    }

    /// Convenience for tests and tools.
    public static func decode(line: [UInt8], maxLineBytes: Int = 16 << 20) throws(PeerDecodeError) -> PeerMessage {
        let result = line.withUnsafeBytes { raw in
            Result { () throws(PeerDecodeError) -> PeerMessage in try decode(line: raw, maxLineBytes: maxLineBytes) }
        }
        return try result.get()
    }

    /// Decodes a parsed message object.
    public static func decode(json: JSON) throws(PeerDecodeError) -> PeerMessage {
        guard let object = json.objectValue else { throw .notAnObject }
        let f = FieldReader(object: object)
        let type = try f.string("type", maxBytes: 32)
        switch type {
        case "ping": return .ping(height: try f.uint("height"))
        case "pong": return .pong(height: try f.uint("height"))
        case "peers": return .peers(try decodePeers(f))
        case "bye": return .bye(reason: try f.string("reason", maxBytes: PeerLimits.maxTextBytes, allowEmpty: true))
        case "raft": return .raft(try RaftCodec.decode(f))
        case "getBlocks":
            let count = try f.uint("count")
            guard count >= 1, count <= UInt64(PeerLimits.maxBlocksPerMessage) else {
                throw .invalidValue(field: "count", reason: "must be 1...\(PeerLimits.maxBlocksPerMessage)")
            }
            return .getBlocks(from: try f.uint("from"), count: Int(count))
        case "blocks": return .blocks(try decodeBlocks(f))
        case "txs": return .txs(id: try f.uint("id"), txs: try decodeTxs(f))
        case "txsResult": return .txsResult(id: try f.uint("id"), answer: try decodeTxsAnswer(f))
        case "join":
            return .join(nodeId: try f.nodeId("nodeId"), nodeKey: try f.fixed("nodeKey", PublicKey.self),
                         p2pAddr: try f.text("p2pAddr"), apiAddr: try f.text("apiAddr"))
        case "joinResult":
            let hint = f.has("leaderHint") ? try f.nodeId("leaderHint") : nil
            return .joinResult(nodeId: try f.nodeId("nodeId"), accepted: try f.bool("accepted"),
                               reason: try f.string("reason", maxBytes: PeerLimits.maxTextBytes, allowEmpty: true),
                               leaderHint: hint)
        case "superseded":
            let role = try f.uint("role")
            guard role == 1 || role == 2 else { throw .invalidValue(field: "role", reason: "must be 1 or 2") }
            return .superseded(IncarnationProof(
                nodeId: try f.nodeId("nodeId"), nodeKey: try f.fixed("nodeKey", PublicKey.self), incarnation: try f.uint("incarnation"),
                transcript: try f.fixed("transcript", Hash32.self), role: UInt8(role), signature: try f.fixed("signature", Signature.self)))
        default:
            throw .unknownType(String(type.prefix(32)))
        }
    }

    private static func decodePeers(_ f: FieldReader) throws(PeerDecodeError) -> [PeerAddress] {
        let items = try f.array("peers", max: PeerLimits.maxPeersPerGossip)
        var out: [PeerAddress] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let object = item.objectValue else { throw .wrongType(field: "peers[]", expected: "an object") }
            let e = FieldReader(object: object)
            out.append(PeerAddress(nodeId: try e.nodeId("nodeId"), p2pAddr: try e.text("p2pAddr"), apiAddr: try e.text("apiAddr")))
        }
        return out
    }

    private static func decodeBlocks(_ f: FieldReader) throws(PeerDecodeError) -> [Block] {
        let items = try f.array("blocks", max: PeerLimits.maxBlocksPerMessage)
        var out: [Block] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let text = item.stringValue else { throw .wrongType(field: "blocks[]", expected: "a hex string") }
            guard let bytes = Hex.decode(text) else { throw .invalidValue(field: "blocks[]", reason: "not hex") }
            do { out.append(try Block.decode(bytes)) } catch {
                throw .invalidValue(field: "blocks[]", reason: "undecodable block: \(error)")
            }
        }
        return out
    }

    /// Hex of the binary codec (as in blocks), each string exactly one transfer.
    private static func decodeTxs(_ f: FieldReader) throws(PeerDecodeError) -> [Transaction] {
        let items = try f.array("txs", max: PeerLimits.maxTxsPerMessage)
        guard !items.isEmpty else { throw .invalidValue(field: "txs", reason: "must not be empty") }
        var out: [Transaction] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let text = item.stringValue else { throw .wrongType(field: "txs[]", expected: "a hex string") }
            guard text.utf8.count <= 2 * PeerLimits.maxTxBytes, let bytes = Hex.decode(text) else {
                throw .invalidValue(field: "txs[]", reason: "not hex of at most \(PeerLimits.maxTxBytes) bytes")
            }
            var reader = ByteReader(bytes)
            let tx: Transaction
            do { tx = try Transaction.decode(&reader) } catch {
                throw .invalidValue(field: "txs[]", reason: "undecodable transfer: \(error)")
            }
            guard reader.remaining == 0 else { throw .invalidValue(field: "txs[]", reason: "trailing bytes after a transfer") }
            out.append(tx)
        }
        return out
    }

    /// `results` (one per transfer) or `error` (the whole request), never both.
    private static func decodeTxsAnswer(_ f: FieldReader) throws(PeerDecodeError) -> ForwardedTxsAnswer {
        if f.has("error") {
            guard !f.has("results") else { throw .invalidValue(field: "results", reason: "not with 'error'") }
            guard let object = try f.value("error").objectValue else { throw .wrongType(field: "error", expected: "an object") }
            let e = FieldReader(object: object)
            let hint = f.has("leaderHint") ? try f.nodeId("leaderHint") : nil
            return .refused(code: try e.code("code"), message: try e.text("message"), leaderHint: hint)
        }
        let items = try f.array("results", max: PeerLimits.maxTxsPerMessage)
        var out: [ForwardedTxResult] = []
        out.reserveCapacity(items.count)
        for item in items { out.append(try ForwardedTxResult.decode(item)) }
        return .results(out)
    }
}

/// Typed access to the fields of one message object; every fault names the field.
struct FieldReader {
    let object: JSONObject

    func has(_ key: String) -> Bool { object[key] != nil }

    func value(_ key: String) throws(PeerDecodeError) -> JSON {
        guard let v = object[key] else { throw .missingField(key) }
        return v
    }

    func int(_ key: String) throws(PeerDecodeError) -> Int64 {
        guard let v = try value(key).intValue else { throw .wrongType(field: key, expected: "an integer") }
        return v
    }

    func uint(_ key: String) throws(PeerDecodeError) -> UInt64 {
        let v = try int(key)
        guard v >= 0 else { throw .invalidValue(field: key, reason: "must not be negative") }
        return UInt64(v)
    }

    func bool(_ key: String) throws(PeerDecodeError) -> Bool {
        guard let v = try value(key).boolValue else { throw .wrongType(field: key, expected: "a boolean") }
        return v
    }

    func string(_ key: String, maxBytes: Int, allowEmpty: Bool = false) throws(PeerDecodeError) -> String {
        guard let v = try value(key).stringValue else { throw .wrongType(field: key, expected: "a string") }
        let count = v.utf8.count
        guard count <= maxBytes else { throw .invalidValue(field: key, reason: "longer than \(maxBytes) bytes") }
        guard allowEmpty || count > 0 else { throw .invalidValue(field: key, reason: "must not be empty") }
        return v
    }

    func text(_ key: String) throws(PeerDecodeError) -> String {
        try string(key, maxBytes: PeerLimits.maxTextBytes, allowEmpty: true)
    }

    /// A node ID in the one grammar (`NodeIDGrammar`): the node builds membership changes (which
    /// trap on any other), paths and metric labels from the IDs peers send.
    func nodeId(_ key: String) throws(PeerDecodeError) -> String {
        let id = try string(key, maxBytes: PeerLimits.maxNodeIdBytes)
        guard PeerLimits.isValidNodeId(id) else {
            throw .invalidValue(field: key, reason: "must match \(NodeIDGrammar.pattern)")
        }
        return id
    }

    func hex(_ key: String, maxBytes: Int) throws(PeerDecodeError) -> [UInt8] {
        let text = try string(key, maxBytes: maxBytes * 2 + 2, allowEmpty: true)
        guard let bytes = Hex.decode(text) else { throw .invalidValue(field: key, reason: "not hex") }
        return bytes
    }

    func optionalHex(_ key: String, maxBytes: Int) throws(PeerDecodeError) -> [UInt8]? {
        has(key) ? try hex(key, maxBytes: maxBytes) : nil
    }

    func fixed<T: FixedBytes>(_ key: String, _ type: T.Type) throws(PeerDecodeError) -> T {
        let bytes = try hex(key, maxBytes: T.byteCount)
        guard let v = T(bytes: bytes) else { throw .invalidValue(field: key, reason: "must be \(T.byteCount) bytes") }
        return v
    }

    func array(_ key: String, max: Int) throws(PeerDecodeError) -> [JSON] {
        guard let items = try value(key).arrayValue else { throw .wrongType(field: key, expected: "an array") }
        guard items.count <= max else { throw .tooMany(field: key, count: items.count, max: max) }
        return items
    }
}
