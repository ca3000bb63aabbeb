import Chain

/// The leader's verdict on one transfer of a `txs` request, in request order.
public struct ForwardedTxResult: Sendable, Equatable {
    /// nil: admitted into the leader's mempool. Otherwise the refusal's stable code
    /// (`TxRejection.code`, e.g. `already_known`, `nonce_too_low`).
    public var code: String?
    /// Human text of a refusal; empty when admitted.
    public var message: String
    /// For `nonce_too_low`: true when the leader has this exact transfer committed (the nonce
    /// was used by it, not by another transfer). False otherwise.
    public var committed: Bool

    public init(code: String?, message: String = "", committed: Bool = false) {
        self.code = code
        self.message = message
        self.committed = committed
    }

    public static let admitted = ForwardedTxResult(code: nil)
}

/// The answer to one `txs` request.
public enum ForwardedTxsAnswer: Sendable, Equatable {
    /// One result per transfer of the request, in its order.
    case results([ForwardedTxResult])
    /// The request as a whole was not served: `not_leader` (with the answering node's idea of
    /// the leader), `draining`, `overloaded`, `insufficient_storage`.
    case refused(code: String, message: String, leaderHint: String?)
}

extension PeerLimits {
    /// Longest transfer in the binary codec: chainId length byte and chainId, two addresses,
    /// amount, fee and nonce, public key, signature.
    public static let maxTxBytes = 1 + Limits.maxChainIdBytes + 20 + 20 + 24 + 32 + 64
    /// Longest refusal code in a `txsResult`, in bytes (codes are `[a-z0-9_]`).
    public static let maxCodeBytes = 64

    /// A refusal code: 1...`maxCodeBytes` of `[a-z0-9_]` (the node uses codes as metric labels
    /// and in client answers, so a peer cannot put arbitrary text there).
    static func isValidCode(_ code: String) -> Bool {
        !code.isEmpty && code.utf8.count <= maxCodeBytes
            && code.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }
}

// MARK: - Wire form

extension ForwardedTxResult {
    /// `{}` when admitted; `{"code","message"}` (plus `"committed":true`) when refused.
    var json: JSON {
        guard let code else { return .object(JSONObject()) }
        var pairs: [(String, JSON)] = [("code", .string(code)), ("message", .string(message))]
        if committed { pairs.append(("committed", .bool(true))) }
        return .object(JSONObject(pairs))
    }

    static func decode(_ item: JSON) throws(PeerDecodeError) -> ForwardedTxResult {
        guard let object = item.objectValue else { throw .wrongType(field: "results[]", expected: "an object") }
        let f = FieldReader(object: object)
        guard f.has("code") else {
            guard object.count == 0 else { throw .invalidValue(field: "results[]", reason: "an admitted result has no fields") }
            return .admitted
        }
        let code = try f.code("code")
        let committed = f.has("committed") ? try f.bool("committed") : false
        return ForwardedTxResult(code: code, message: try f.text("message"), committed: committed)
    }
}

extension FieldReader {
    func code(_ key: String) throws(PeerDecodeError) -> String {
        let code = try string(key, maxBytes: PeerLimits.maxCodeBytes)
        guard PeerLimits.isValidCode(code) else { throw .invalidValue(field: key, reason: "must be [a-z0-9_]") }
        return code
    }
}
