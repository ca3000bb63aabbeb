import Dispatch

/// A signed transfer (DESIGN §3). Promises: `hash` is SHA-256(signedBytes ‖ signature), computed
/// once at construction; `signedBytes` is the exact layout in docs/PROTOCOL.md. A value may be
/// invalid (bad signature, wrong chain): call `checkStateless` before trusting it.
public struct Transaction: Sendable, Hashable {
    /// Domain tag that starts every signed transaction ("autochain-tx-v1", 15 ASCII bytes).
    public static let domainTag: [UInt8] = Array("autochain-tx-v1".utf8)

    public let chainId: String
    public let from: Address
    public let to: Address
    public let amount: UInt64
    public let fee: UInt64
    public let nonce: UInt64
    public let pubkey: PublicKey
    public let signature: Signature
    public let hash: Hash32

    /// Callers that take `chainId` from clients check its length first (`init(json:)`, `decode`).
    public init(
        chainId: String, from: Address, to: Address, amount: UInt64, fee: UInt64, nonce: UInt64,
        pubkey: PublicKey, signature: Signature
    ) {
        precondition(chainId.utf8.count <= Limits.maxChainIdBytes, "chainId longer than the limit")
        self.chainId = chainId
        self.from = from
        self.to = to
        self.amount = amount
        self.fee = fee
        self.nonce = nonce
        self.pubkey = pubkey
        self.signature = signature
        var preimage = Self.signedBytes(chainId: chainId, from: from, to: to, amount: amount, fee: fee, nonce: nonce)
        signature.append(to: &preimage)
        self.hash = Crypto.sha256(preimage)
    }

    /// The bytes the sender signs: tag ‖ u32be(len chainId) ‖ chainId ‖ from ‖ to ‖ u64be amount,
    /// fee, nonce.
    public var signedBytes: [UInt8] {
        Self.signedBytes(chainId: chainId, from: from, to: to, amount: amount, fee: fee, nonce: nonce)
    }

    static func signedBytes(
        chainId: String, from: Address, to: Address, amount: UInt64, fee: UInt64, nonce: UInt64
    ) -> [UInt8] {
        let chain = Array(chainId.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(domainTag.count + 4 + chain.count + 40 + 24 + Signature.byteCount)
        out.append(contentsOf: domainTag)
        out.appendBE(UInt32(chain.count))
        out.append(contentsOf: chain)
        from.append(to: &out)
        to.append(to: &out)
        out.appendBE(amount)
        out.appendBE(fee)
        out.appendBE(nonce)
        assert(out.count == domainTag.count + 4 + chain.count + 64)
        return out
    }

    /// A transaction from `keyPair`'s address, signed by it.
    public static func signed(
        chainId: String, to: Address, amount: UInt64, fee: UInt64, nonce: UInt64, keyPair: KeyPair
    ) -> Transaction {
        let message = signedBytes(
            chainId: chainId, from: keyPair.address, to: to, amount: amount, fee: fee, nonce: nonce)
        let tx = Transaction(
            chainId: chainId, from: keyPair.address, to: to, amount: amount, fee: fee, nonce: nonce,
            pubkey: keyPair.publicKey, signature: keyPair.sign(message))
        assert(tx.verifySignature())
        return tx
    }

    /// True when `signature` is `pubkey`'s signature of `signedBytes`. Does not check `from`.
    public func verifySignature() -> Bool {
        Ed25519.verify(signature, message: signedBytes, publicKey: pubkey)
    }

    /// `verifySignature()` of every tx, in order, spread over all cores.
    public static func verifyAll(_ txs: [Transaction]) -> [Bool] {
        let chunk = Limits.verifyChunkTxs
        let chunks = (txs.count + chunk - 1) / chunk
        var results = [Bool](repeating: false, count: txs.count)
        results.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out  // each chunk writes a disjoint range
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                for i in c * chunk..<min(txs.count, (c + 1) * chunk) {
                    out[i] = txs[i].verifySignature()
                }
            }
        }
        return results
    }

    /// Every check that needs no account state, the signature last (the expensive one).
    public func checkStateless(chainId expected: String) throws(TxRejection) {
        try checkStatelessExceptSignature(chainId: expected)
        guard verifySignature() else { throw .badSignature }
    }

    /// The cheap stateless checks; used by block structure checks, which verify signatures in bulk.
    public func checkStatelessExceptSignature(chainId expected: String?) throws(TxRejection) {
        if let expected, chainId != expected { throw .wrongChain(expected: expected, got: chainId) }
        let owner = Address(publicKey: pubkey)
        guard from == owner else { throw .fromMismatch(from: from, pubkeyAddress: owner) }
        guard amount > 0 else { throw .zeroAmount }
        guard from != to else { throw .selfTransfer }
        guard amount <= Limits.maxSupply else { throw .amountTooLarge("amount exceeds 2^53-1") }
        guard fee <= Limits.maxSupply else { throw .amountTooLarge("fee exceeds 2^53-1") }
        let (_, overflow) = amount.addingReportingOverflow(fee)
        guard !overflow else { throw .amountTooLarge("amount + fee overflows") }
    }

    /// amount + fee; callers have run the stateless checks, so it cannot overflow.
    public var cost: UInt64 {
        let (sum, overflow) = amount.addingReportingOverflow(fee)
        precondition(!overflow, "cost of a transaction that skipped the stateless checks")
        return sum
    }

    // Hashing by `hash` alone is consistent with the synthesized field-wise `==` and cheaper.
    public func hash(into hasher: inout Hasher) { hasher.combine(hash) }
}

// MARK: - Binary codec (storage, Raft log)

extension Transaction {
    /// Appends: u8 chainId length ‖ chainId ‖ from ‖ to ‖ u64be amount, fee, nonce ‖ pubkey ‖ signature.
    public func encode(into out: inout [UInt8]) {
        let chain = Array(chainId.utf8)
        assert(chain.count <= Limits.maxChainIdBytes)
        out.append(UInt8(chain.count))
        out.append(contentsOf: chain)
        from.append(to: &out)
        to.append(to: &out)
        out.appendBE(amount)
        out.appendBE(fee)
        out.appendBE(nonce)
        pubkey.append(to: &out)
        signature.append(to: &out)
    }

    public static func decode(_ reader: inout ByteReader) throws(DecodeError) -> Transaction {
        let at = reader.offset
        let length = Int(try reader.readUInt8())
        guard length >= 1, length <= Limits.maxChainIdBytes else { throw .invalidValue(offset: at, what: "chainId length") }
        guard let chainId = String(validating: try reader.readBytes(length), as: UTF8.self) else {
            throw .invalidValue(offset: at + 1, what: "chainId UTF-8")
        }
        let from = try reader.read(Address.self)
        let to = try reader.read(Address.self)
        let amount = try reader.readUInt64()
        let fee = try reader.readUInt64()
        let nonce = try reader.readUInt64()
        let pubkey = try reader.read(PublicKey.self)
        let signature = try reader.read(Signature.self)
        return Transaction(
            chainId: chainId, from: from, to: to, amount: amount, fee: fee, nonce: nonce, pubkey: pubkey,
            signature: signature)
    }
}
