import Chain
import Consensus

/// Every message of the peer protocol (docs/PROTOCOL.md, "Peer protocol"). One JSON object per
/// line; `type` names the case. Application messages reach the delegate; `hello`, `auth`,
/// `ping`, `pong`, `peers` and `bye` are handled by the network itself.
public enum PeerMessage: Sendable, Equatable {
    case hello(PeerHello)
    /// Ed25519 signature over the auth bytes; `mac` when a cluster token is configured.
    case auth(signature: Signature, mac: [UInt8]?)
    case ping(height: UInt64)
    case pong(height: UInt64)
    case peers([PeerAddress])
    case bye(reason: String)
    case raft(Message)
    /// `count` is 1...`PeerLimits.maxBlocksPerMessage`.
    case getBlocks(from: UInt64, count: Int)
    case blocks([Block])
    case txs([Transaction])
    case join(nodeId: String, nodeKey: PublicKey, p2pAddr: String, apiAddr: String)
    case joinResult(accepted: Bool, reason: String, leaderHint: String?)

    /// The wire `type` string.
    public var typeName: String {
        switch self {
        case .hello: "hello"
        case .auth: "auth"
        case .ping: "ping"
        case .pong: "pong"
        case .peers: "peers"
        case .bye: "bye"
        case .raft: "raft"
        case .getBlocks: "getBlocks"
        case .blocks: "blocks"
        case .txs: "txs"
        case .join: "join"
        case .joinResult: "joinResult"
        }
    }

    /// True for the messages handed to the delegate.
    public var isApplication: Bool {
        switch self {
        case .hello, .auth, .ping, .pong, .peers, .bye: false
        case .raft, .getBlocks, .blocks, .txs, .join, .joinResult: true
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
        case .hello(let h):
            pairs += [("protocol", .int(h.protocolVersion)), ("chainId", .string(h.chainId)),
                      ("genesisHash", .string(h.genesisHash.hex)), ("nodeId", .string(h.nodeId)),
                      ("nodeKey", .string(h.nodeKey.hex)), ("nonce", .string(Hex.encode(h.nonce))),
                      ("p2pAddr", .string(h.p2pAddr)), ("apiAddr", .string(h.apiAddr)), ("height", .uint(h.height))]
        case .auth(let signature, let mac):
            pairs.append(("signature", .string(signature.hex)))
            if let mac { pairs.append(("mac", .string(Hex.encode(mac)))) }
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
        case .txs(let txs):
            pairs.append(("txs", .array(txs.map(\.json))))
        case .join(let nodeId, let nodeKey, let p2pAddr, let apiAddr):
            pairs += [("nodeId", .string(nodeId)), ("nodeKey", .string(nodeKey.hex)),
                      ("p2pAddr", .string(p2pAddr)), ("apiAddr", .string(apiAddr))]
        case .joinResult(let accepted, let reason, let leaderHint):
            pairs += [("accepted", .bool(accepted)), ("reason", .string(reason))]
            if let leaderHint { pairs.append(("leaderHint", .string(leaderHint))) }
        }
        return .object(JSONObject(pairs))
    }
}
