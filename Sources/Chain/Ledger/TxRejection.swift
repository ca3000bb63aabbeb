/// Why a transaction was refused — by JSON parsing, the stateless checks, the mempool or the
/// ledger. Promises a stable machine `code` (clients switch on it), one HTTP status per case and a
/// human `message` naming the offending field or values.
///
/// Status choice:
///
///     400  invalid_json, missing_field, invalid_field, invalid_hex   malformed request
///     422  hash_mismatch, wrong_chain, bad_signature, from_mismatch,  well-formed but invalid
///          zero_amount, self_transfer, amount_too_large,
///          insufficient_funds, nonce_too_far
///     409  nonce_too_low, nonce_conflict, already_known              conflicts with chain/mempool state
///     429  sender_queue_full                                         this sender should slow down
///     503  mempool_full                                              the node is saturated; retry later
public enum TxRejection: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidJSON(String)
    case missingField(String)
    case invalidField(field: String, reason: String)
    case invalidHex(field: String, reason: String)
    case hashMismatch(claimed: Hash32, computed: Hash32)
    case wrongChain(expected: String, got: String)
    case badSignature
    case fromMismatch(from: Address, pubkeyAddress: Address)
    case zeroAmount
    case selfTransfer
    case amountTooLarge(String)
    case nonceTooLow(expected: UInt64, got: UInt64)
    case nonceTooFar(maxAllowed: UInt64, got: UInt64)
    case nonceConflict(nonce: UInt64)
    case alreadyKnown(Hash32)
    case insufficientFunds(available: UInt64, needed: UInt64)
    case senderQueueFull(limit: Int)
    case mempoolFull(limit: Int)
    case expired(seconds: Int)

    public var code: String {
        switch self {
        case .invalidJSON: "invalid_json"
        case .missingField: "missing_field"
        case .invalidField: "invalid_field"
        case .invalidHex: "invalid_hex"
        case .hashMismatch: "hash_mismatch"
        case .wrongChain: "wrong_chain"
        case .badSignature: "bad_signature"
        case .fromMismatch: "from_mismatch"
        case .zeroAmount: "zero_amount"
        case .selfTransfer: "self_transfer"
        case .amountTooLarge: "amount_too_large"
        case .nonceTooLow: "nonce_too_low"
        case .nonceTooFar: "nonce_too_far"
        case .nonceConflict: "nonce_conflict"
        case .alreadyKnown: "already_known"
        case .insufficientFunds: "insufficient_funds"
        case .senderQueueFull: "sender_queue_full"
        case .mempoolFull: "mempool_full"
        case .expired: "expired"
        }
    }

    public var httpStatus: Int { Self.httpStatus(ofCode: code) ?? 422 }

    /// Every refusal's code (the rows of `httpStatus(ofCode:)`).
    public static let codes = ["invalid_json", "missing_field", "invalid_field", "invalid_hex", "nonce_too_low", "nonce_conflict",
                               "already_known", "sender_queue_full", "mempool_full", "expired", "hash_mismatch", "wrong_chain",
                               "bad_signature", "from_mismatch", "zero_amount", "self_transfer", "amount_too_large",
                               "nonce_too_far", "insufficient_funds"]

    /// The HTTP status of a refusal by its code (the one table: a follower maps the codes a
    /// leader sends it over the peer link with it too); nil for a code that is not a refusal's.
    public static func httpStatus(ofCode code: String) -> Int? {
        switch code {
        case "invalid_json", "missing_field", "invalid_field", "invalid_hex": 400
        case "nonce_too_low", "nonce_conflict", "already_known": 409
        case "sender_queue_full": 429
        case "mempool_full": 503
        case "expired": 410
        case "hash_mismatch", "wrong_chain", "bad_signature", "from_mismatch", "zero_amount", "self_transfer",
             "amount_too_large", "nonce_too_far", "insufficient_funds":
            422
        default: nil
        }
    }

    public var message: String {
        switch self {
        case .invalidJSON(let why): "invalid JSON: \(why)"
        case .missingField(let f): "missing field `\(f)`"
        case .invalidField(let f, let why): "field `\(f)` \(why)"
        case .invalidHex(let f, let why): "field `\(f)`: \(why)"
        case .hashMismatch(let c, let h): "hash \(c) does not match the transaction's hash \(h)"
        case .wrongChain(let e, let g): "chainId \"\(g)\" is not this chain (\"\(e)\")"
        case .badSignature: "signature does not verify against pubkey"
        case .fromMismatch(let f, let p): "from \(f) is not the address of pubkey (\(p))"
        case .zeroAmount: "amount must be greater than 0"
        case .selfTransfer: "from and to must differ"
        case .amountTooLarge(let why): why
        case .nonceTooLow(let e, let g): "nonce \(g) already used (next nonce is \(e))"
        case .nonceTooFar(let m, let g): "nonce \(g) is beyond the accepted window (at most \(m))"
        case .nonceConflict(let n): "another transaction with nonce \(n) from this sender is pending"
        case .alreadyKnown(let h): "transaction \(h) is already known"
        case .insufficientFunds(let a, let n): "insufficient funds: needs \(n), \(a) available"
        case .senderQueueFull(let l): "this sender already has \(l) pending transactions"
        case .mempoolFull(let l): "mempool is full (\(l) transactions); retry later"
        case .expired(let s): "waited over \(s) s for an earlier nonce of its sender that never arrived"
        }
    }

    public var description: String { "\(code): \(message)" }
}
