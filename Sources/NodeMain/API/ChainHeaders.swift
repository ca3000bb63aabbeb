import Chain
import P2P

/// `GET /chain/headers?from=H&count=N`: committed headers from height H on, with their proposer
/// signatures and membership changes, without transactions — what the registry needs to verify
/// membership from the chain itself (Membership's `VerifiedChain`), compact enough to read often.
extension NodeAPI {
    /// Headers per answer, at most (and the default count).
    static let maxHeadersPerAnswer = 256
    /// Stored block bytes read for one answer, about (at least one block is read).
    static let maxHeaderReadBytes = 8 * 1024 * 1024

    func headersJSON(_ request: HTTPRequest) throws -> JSON {
        let from = try Self.boundedQueryInteger(request, "from", default: 1, range: 0...UInt64(Int64.max))
        let count = try Self.boundedQueryInteger(request, "count", default: UInt64(Self.maxHeadersPerAnswer),
                                                 range: 1...UInt64(Self.maxHeadersPerAnswer))
        let blocks = try reader.blocks(from: from, count: Int(count), maxBytes: Self.maxHeaderReadBytes)
        let headers = blocks.map { b -> JSON in
            guard case .object(var o) = b.header.json else { return .null }
            o["proposerSignature"] = .string(b.proposerSignature.hex)
            o["membership"] = b.membership?.json ?? .null
            return .object(o)
        }
        return .object(JSONObject([("headers", .array(headers)), ("height", .uint(state.head.header.height))]))
    }

    /// A query parameter that must be a whole number in `range` (absent: `default`).
    static func boundedQueryInteger(_ request: HTTPRequest, _ name: String, default value: UInt64,
                                    range: ClosedRange<UInt64>) throws -> UInt64 {
        guard let raw = request.query(name) else { return value }
        guard (1...20).contains(raw.utf8.count), raw.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let n = UInt64(raw), range.contains(n) else {
            throw APIError.badRequest("invalid_query", "\(name) must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return n
    }
}
