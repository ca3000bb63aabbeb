/// The signed part of a block (DESIGN §3). Promises: `hash` is SHA-256(`canonicalBytes`), whose
/// layout is fixed in docs/PROTOCOL.md so any language can recompute it.
public struct BlockHeader: Sendable, Hashable {
    /// Domain tag that starts the canonical bytes ("autochain-block-v1", 18 ASCII bytes).
    public static let domainTag: [UInt8] = Array("autochain-block-v1".utf8)
    /// Length of `canonicalBytes`: tag + 3×u64 + 3×32-byte hashes + 32-byte key + u32.
    public static let canonicalByteCount = 18 + 8 + 32 * 3 + 8 + 8 + 32 + 4

    public var height: UInt64
    public var prevHash: Hash32
    public var txRoot: Hash32
    public var stateRoot: Hash32
    /// Milliseconds since the Unix epoch, as the proposer's clock read it.
    public var timestamp: UInt64
    public var term: UInt64
    public var proposer: PublicKey
    public var txCount: UInt32

    public init(
        height: UInt64, prevHash: Hash32, txRoot: Hash32, stateRoot: Hash32, timestamp: UInt64, term: UInt64,
        proposer: PublicKey, txCount: UInt32
    ) {
        self.height = height
        self.prevHash = prevHash
        self.txRoot = txRoot
        self.stateRoot = stateRoot
        self.timestamp = timestamp
        self.term = term
        self.proposer = proposer
        self.txCount = txCount
    }

    /// tag ‖ u64be height ‖ prevHash ‖ txRoot ‖ stateRoot ‖ u64be timestamp ‖ u64be term ‖
    /// proposer ‖ u32be txCount.
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.canonicalByteCount)
        out.append(contentsOf: Self.domainTag)
        appendFields(to: &out)
        assert(out.count == Self.canonicalByteCount)
        return out
    }

    /// The fields after the domain tag; also the header part of the binary block codec.
    func appendFields(to out: inout [UInt8]) {
        out.appendBE(height)
        prevHash.append(to: &out)
        txRoot.append(to: &out)
        stateRoot.append(to: &out)
        out.appendBE(timestamp)
        out.appendBE(term)
        proposer.append(to: &out)
        out.appendBE(txCount)
    }

    static func readFields(_ reader: inout ByteReader) throws(DecodeError) -> BlockHeader {
        BlockHeader(
            height: try reader.readUInt64(), prevHash: try reader.read(Hash32.self),
            txRoot: try reader.read(Hash32.self), stateRoot: try reader.read(Hash32.self),
            timestamp: try reader.readUInt64(), term: try reader.readUInt64(),
            proposer: try reader.read(PublicKey.self), txCount: try reader.readUInt32())
    }

    /// SHA-256 of the canonical bytes: the block hash.
    public var hash: Hash32 { Crypto.sha256(canonicalBytes) }

    /// `{"height","hash","prevHash","txRoot","stateRoot","timestamp","term","proposer","txCount"}`:
    /// the shape of `GET /chain/head`'s `head`.
    public var json: JSON {
        .object(JSONObject([
            ("height", .uint(height)),
            ("hash", .string(hash.hex)),
            ("prevHash", .string(prevHash.hex)),
            ("txRoot", .string(txRoot.hex)),
            ("stateRoot", .string(stateRoot.hex)),
            ("timestamp", .uint(timestamp)),
            ("term", .uint(term)),
            ("proposer", .string(proposer.hex)),
            ("txCount", .int(Int64(txCount))),
        ]))
    }
}
