import Chain
import Consensus

/// Every message of the peer protocol (docs/PROTOCOL.md, "Peer protocol"): one JSON object per
/// sealed frame, sent only after the secure channel authenticated both sides; `type` names the
/// case. Application messages reach the delegate; `ping`, `pong`, `peers` and `bye` are handled
/// by the network itself.
public enum PeerMessage: Sendable, Equatable {
    case ping(height: UInt64)
    case pong(height: UInt64)
    case peers([PeerAddress])
    case bye(reason: String)
    case raft(Message)
    /// `count` is 1...`PeerLimits.maxBlocksPerMessage`.
    case getBlocks(from: UInt64, count: Int)
    case blocks([Block])
    /// Transfers a member hands to the leader (forwarded submissions, re-offers of `?wait=commit`
    /// transfers, a deposed leader's mempool); `id` names the request in its `txsResult`.
    /// 1...`PeerLimits.maxTxsPerMessage` transfers.
    case txs(id: UInt64, txs: [Transaction])
    /// The answer to the `txs` request `id` of the receiver.
    case txsResult(id: UInt64, answer: ForwardedTxsAnswer)
    /// Asks the leader to add `nodeId` as a learner. A non-member may ask only for itself; a
    /// member relays a newcomer's request to the leader.
    case join(nodeId: String, nodeKey: PublicKey, p2pAddr: String, apiAddr: String)
    /// The answer to a `join` for `nodeId` (relayed back to the newcomer by the member that asked).
    case joinResult(nodeId: String, accepted: Bool, reason: String, leaderHint: String?)
    /// Fencing: a newer copy of the receiver's node runs; the proof is that copy's signed auth.
    /// Sent just before the `bye` that refuses an older copy's link.
    case superseded(IncarnationProof)

    /// The wire `type` string.
    public var typeName: String {
        switch self {
        case .ping: "ping"
        case .pong: "pong"
        case .peers: "peers"
        case .bye: "bye"
        case .raft: "raft"
        case .getBlocks: "getBlocks"
        case .blocks: "blocks"
        case .txs: "txs"
        case .txsResult: "txsResult"
        case .join: "join"
        case .joinResult: "joinResult"
        case .superseded: "superseded"
        }
    }

    /// True for the messages handed to the delegate.
    public var isApplication: Bool {
        switch self {
        case .ping, .pong, .peers, .bye, .superseded: false
        case .raft, .getBlocks, .blocks, .txs, .txsResult, .join, .joinResult: true
        }
    }
}

/// Why a line is not an acceptable peer message. Peers cause these; each closes that connection.
public enum PeerDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    case lineTooLong(bytes: Int, max: Int)
    case invalidJSON(String)
    case notAnObject
    case unknownType(String)
    case missingField(String)
    case wrongType(field: String, expected: String)
    case invalidValue(field: String, reason: String)
    case tooMany(field: String, count: Int, max: Int)

    public var description: String {
        switch self {
        case .lineTooLong(let bytes, let max): "line of \(bytes)+ bytes exceeds the limit of \(max)"
        case .invalidJSON(let detail): "invalid JSON: \(detail)"
        case .notAnObject: "a message must be a JSON object"
        case .unknownType(let type): "unknown message type '\(type)'"
        case .missingField(let field): "missing field '\(field)'"
        case .wrongType(let field, let expected): "field '\(field)' must be \(expected)"
        case .invalidValue(let field, let reason): "field '\(field)': \(reason)"
        case .tooMany(let field, let count, let max): "field '\(field)' has \(count) items, limit \(max)"
        }
    }
}

// MARK: - Encoding

extension PeerMessage {
    /// The message as one wire line, newline included.
    public func encodedLine() -> [UInt8] {
        var out = json.serialized()
        assert(!out.contains(UInt8(ascii: "\n")), "compact JSON never contains a raw newline")
        out.append(UInt8(ascii: "\n"))
        return out
    }

    /// The JSON object for this message.
    public var json: JSON {
        var pairs: [(String, JSON)] = [("type", .string(typeName))]
        switch self {
        case .ping(let height), .pong(let height):
            pairs.append(("height", .uint(height)))
        case .peers(let list):
            pairs.append(("peers", .array(list.map {
                .object(JSONObject([("nodeId", .string($0.nodeId)), ("p2pAddr", .string($0.p2pAddr)),
                                    ("apiAddr", .string($0.apiAddr))]))
            })))
        case .bye(let reason):
            pairs.append(("reason", .string(reason)))
        case .raft(let message):
            pairs += RaftCodec.fields(message)
        case .getBlocks(let from, let count):
            pairs += [("from", .uint(from)), ("count", .int(count))]
        case .blocks(let blocks):
            pairs.append(("blocks", .array(blocks.map { .string(Hex.encode($0.encode())) })))
        case .txs(let id, let txs):
            pairs += [("id", .uint(id)), ("txs", .array(txs.map { tx in
                var bytes: [UInt8] = []
                tx.encode(into: &bytes)
                return .string(Hex.encode(bytes))
            }))]
        case .txsResult(let id, .results(let results)):
            pairs += [("id", .uint(id)), ("results", .array(results.map(\.json)))]
        case .txsResult(let id, .refused(let code, let message, let leaderHint)):
            pairs += [("id", .uint(id)), ("error", .object(JSONObject([("code", .string(code)), ("message", .string(message))])))]
            if let leaderHint { pairs.append(("leaderHint", .string(leaderHint))) }
        case .join(let nodeId, let nodeKey, let p2pAddr, let apiAddr):
            pairs += [("nodeId", .string(nodeId)), ("nodeKey", .string(nodeKey.hex)),
                      ("p2pAddr", .string(p2pAddr)), ("apiAddr", .string(apiAddr))]
        case .joinResult(let nodeId, let accepted, let reason, let leaderHint):
            pairs += [("nodeId", .string(nodeId)), ("accepted", .bool(accepted)), ("reason", .string(reason))]
            if let leaderHint { pairs.append(("leaderHint", .string(leaderHint))) }
        case .superseded(let p):
            pairs += [("nodeId", .string(p.nodeId)), ("nodeKey", .string(p.nodeKey.hex)), ("incarnation", .uint(p.incarnation)),
                      ("transcript", .string(Hex.encode(p.transcript.bytes))), ("role", .uint(UInt64(p.role))),
                      ("signature", .string(p.signature.hex))]
        }
        return .object(JSONObject(pairs))
    }
}
