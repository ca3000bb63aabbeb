/// The JSON form of a block: `GET /block/{height}` and the peer protocol's `blocks` message.
extension Block {
    /// Header fields (with "hash" second) ‖ "proposerSignature" ‖ "txs".
    public var json: JSON { json(transactions: "txs", .array(txs.map(\.json))) }

    /// As `json` with "txHashes" (the transactions' hashes, in block order) in place of "txs":
    /// `GET /block/{height}?txs=hashes`, for a client that only follows which transfers
    /// committed (a tenth of the bytes to write and to parse).
    public var jsonWithTxHashes: JSON { json(transactions: "txHashes", .array(txs.map { .string($0.hash.hex) })) }

    private func json(transactions key: String, _ value: JSON) -> JSON {
        guard case .object(var object) = header.json else { preconditionFailure("header json is an object") }
        assert(object["hash"] == .string(hash.hex))
        object["proposerSignature"] = .string(proposerSignature.hex)
        object[key] = value
        if let membership { object["membership"] = membership.json }
        return .object(object)
    }

    /// Parses a block. When "hash" is present it must equal the computed header hash. Checks the
    /// format only: call `checkStructure` and the signature checks afterwards.
    public init(json: JSON) throws(BlockRejection) {
        guard let object = json.objectValue else {
            throw .invalidJSON("a block must be a JSON object, got \(json.typeName)")
        }
        let header: BlockHeader
        let signature: Signature
        do throws(TxRejection) {
            let txCount = try Transaction.integer(object, "txCount")
            guard txCount <= UInt64(Limits.maxTxsPerBlock) else {
                throw TxRejection.invalidField(field: "txCount", reason: "must be at most \(Limits.maxTxsPerBlock)")
            }
            header = BlockHeader(
                height: try Transaction.integer(object, "height"),
                prevHash: try Transaction.fixed(object, "prevHash"),
                txRoot: try Transaction.fixed(object, "txRoot"),
                stateRoot: try Transaction.fixed(object, "stateRoot"),
                timestamp: try Transaction.integer(object, "timestamp"),
                term: try Transaction.integer(object, "term"),
                proposer: try Transaction.fixed(object, "proposer"),
                txCount: UInt32(txCount))
            signature = try Transaction.fixed(object, "proposerSignature")
        } catch {
            throw .invalidJSON(error.message)
        }
        guard let txValues = object["txs"]?.arrayValue else { throw .invalidJSON("field `txs` must be an array") }
        guard txValues.count <= Limits.maxTxsPerBlock else {
            throw .tooManyTransactions(count: txValues.count, limit: Limits.maxTxsPerBlock)
        }
        var txs: [Transaction] = []
        txs.reserveCapacity(txValues.count)
        for (i, value) in txValues.enumerated() {
            do {
                txs.append(try Transaction(json: value))
            } catch {
                throw .invalidJSON("txs[\(i)]: \(error.message)")
            }
        }
        var membership: MembershipChange?
        if let m = object["membership"], m != .null { membership = try MembershipChange(json: m) }
        self.init(header: header, proposerSignature: signature, txs: txs, membership: membership)
        if let claimedText = object["hash"] {
            guard let text = claimedText.stringValue, let claimed = Hash32(hex: text) else {
                throw .invalidJSON("field `hash` must be a 32-byte hex string")
            }
            guard claimed == hash else { throw .hashMismatch(claimed: claimed, computed: hash) }
        }
    }
}
