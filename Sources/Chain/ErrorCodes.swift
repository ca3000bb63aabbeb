/// The one table from an error's stable `code` to its HTTP status, for every
/// `{"error":{"code","message"}}` answer the project gives: the node API, the registry, the
/// gateway and the HTTP server itself. A code means the same status wherever it is answered.
/// Transfer refusals keep their rows in `TxRejection.httpStatus(ofCode:)` (the follower maps a
/// leader's refusals with it); every other code has its row here, and no code has two.
public enum ErrorCodes {
    /// Every code that is not a transfer refusal, by status.
    static let rows: [(status: Int, codes: [String])] = [
        (400, ["bad_request", "invalid_address", "invalid_hash", "invalid_height", "invalid_query", "invalid_signature_header"]),
        (401, ["unauthorized", "signature_required", "invalid_signature", "stale_timestamp", "replayed", "not_registered"]),
        (403, ["key_mismatch", "key_bound_to_other_node"]),
        (404, ["not_found", "unknown_node"]),
        (405, ["method_not_allowed"]),
        (408, ["request_timeout"]),
        (409, ["membership_refused", "transfer_failed", "retired", "retired_key", "superseded"]),
        (413, ["batch_too_large", "body_too_large"]),
        (414, ["uri_too_long"]),
        (415, ["unsupported_media_type"]),
        (422, ["out_of_range"]),
        (431, ["headers_too_large"]),
        (500, ["internal", "internal_error"]),
        (501, ["not_implemented"]),
        (502, ["node_failed"]),
        (503, ["busy", "draining", "leader_lost", "leader_unreachable", "no_leader", "not_leader", "no_node", "not_ready",
               "overloaded", "registry_full", "too_many_connections"]),
        (504, ["commit_timeout", "leader_timeout"]),
        (505, ["http_version_not_supported"]),
        (507, ["insufficient_storage"]),
    ]

    /// Every code, transfer refusals included.
    public static var allCodes: [String] { TxRejection.codes + rows.flatMap(\.codes) }

    private static let statusByCode: [String: Int] = {
        var table: [String: Int] = [:]
        for row in rows { for code in row.codes { table[code] = row.status } }
        return table
    }()

    /// The status of `code`; nil for a code that is none of ours (e.g. one a faulty peer sent).
    public static func status(of code: String) -> Int? {
        TxRejection.httpStatus(ofCode: code) ?? statusByCode[code]
    }

    /// The status of a code our own code names (a literal): a code without a row is a bug here.
    public static func status(ofOwn code: String) -> Int {
        guard let status = status(of: code) else { preconditionFailure("error code \(code) has no row in ErrorCodes") }
        assert((400..<600).contains(status))
        return status
    }
}
