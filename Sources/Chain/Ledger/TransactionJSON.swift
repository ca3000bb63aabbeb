/// The JSON form of a transaction (DESIGN §3): the client contract.
extension Transaction {
    /// `{"chainId","from","to","amount","fee","nonce","pubkey","signature","hash"}`, integers for
    /// amounts, "0x" hex for addresses and the hash, plain hex for pubkey and signature.
    public var json: JSON {
        .object(JSONObject([
            ("chainId", .string(chainId)),
            ("from", .string(from.hex)),
            ("to", .string(to.hex)),
            ("amount", .uint(amount)),
            ("fee", .uint(fee)),
            ("nonce", .uint(nonce)),
            ("pubkey", .string(pubkey.hex)),
            ("signature", .string(signature.hex)),
            ("hash", .string(hash.hex)),
        ]))
    }

    /// Parses a client's transaction, naming the first problem found. Unknown keys are ignored,
    /// except `hash`, which must match the computed hash when present. Performs no semantic
    /// checks (`checkStateless` does).
    public init(json: JSON) throws(TxRejection) {
        guard let object = json.objectValue else {
            throw .invalidJSON("a transaction must be a JSON object, got \(json.typeName)")
        }
        let chainId = try Self.string(object, "chainId")
        let length = chainId.utf8.count
        guard length >= 1, length <= Limits.maxChainIdBytes else {
            throw .invalidField(field: "chainId", reason: "must be 1 to \(Limits.maxChainIdBytes) bytes, got \(length)")
        }
        let from: Address = try Self.fixed(object, "from")
        let to: Address = try Self.fixed(object, "to")
        let amount = try Self.integer(object, "amount")
        let fee = try Self.integer(object, "fee")
        let nonce = try Self.integer(object, "nonce")
        let pubkey: PublicKey = try Self.fixed(object, "pubkey")
        let signature: Signature = try Self.fixed(object, "signature")
        self.init(
            chainId: chainId, from: from, to: to, amount: amount, fee: fee, nonce: nonce, pubkey: pubkey,
            signature: signature)
        if object["hash"] != nil {
            let claimed: Hash32 = try Self.fixed(object, "hash")
            guard claimed == hash else { throw .hashMismatch(claimed: claimed, computed: hash) }
        }
    }

    static func string(_ object: JSONObject, _ field: String) throws(TxRejection) -> String {
        guard let value = object[field] else { throw .missingField(field) }
        guard let s = value.stringValue else {
            throw .invalidField(field: field, reason: "must be a string, got \(value.typeName)")
        }
        return s
    }

    static func integer(_ object: JSONObject, _ field: String) throws(TxRejection) -> UInt64 {
        guard let value = object[field] else { throw .missingField(field) }
        guard let i = value.intValue else {
            throw .invalidField(field: field, reason: "must be an integer, got \(value.typeName)")
        }
        guard i >= 0 else { throw .invalidField(field: field, reason: "must not be negative, got \(i)") }
        guard UInt64(i) <= Limits.maxSupply else {
            throw .invalidField(field: field, reason: "must be at most 2^53-1, got \(i)")
        }
        return UInt64(i)
    }

    static func fixed<T: FixedBytes>(_ object: JSONObject, _ field: String) throws(TxRejection) -> T {
        let text = try string(object, field)
        guard let bytes = Hex.decode(text) else {
            throw .invalidHex(field: field, reason: "not even-length hex")
        }
        guard let value = T(bytes: bytes) else {
            throw .invalidHex(field: field, reason: "must be \(T.byteCount) bytes, got \(bytes.count)")
        }
        return value
    }
}
