import Chain
import Consensus

/// The JSON form of a Consensus `Message` inside a `raft` peer message:
/// `{"from","to","term","kind", ...kind fields}`; entry data is lowercase hex.
enum RaftCodec {
    static func fields(_ m: Message) -> [(String, JSON)] {
        var out: [(String, JSON)] = [("from", .string(m.from)), ("to", .string(m.to)), ("term", .uint(m.term))]
        switch m.kind {
        case .preVote(let lastIndex, let lastTerm):
            out += [("kind", "preVote"), ("lastIndex", .uint(lastIndex)), ("lastTerm", .uint(lastTerm))]
        case .preVoteResponse(let reject):
            out += [("kind", "preVoteResponse"), ("reject", .bool(reject))]
        case .vote(let lastIndex, let lastTerm, let transfer):
            out += [("kind", "vote"), ("lastIndex", .uint(lastIndex)), ("lastTerm", .uint(lastTerm)),
                    ("transfer", .bool(transfer))]
        case .voteResponse(let reject):
            out += [("kind", "voteResponse"), ("reject", .bool(reject))]
        case .append(let prevIndex, let prevTerm, let entries, let commit):
            out += [("kind", "append"), ("prevIndex", .uint(prevIndex)), ("prevTerm", .uint(prevTerm)),
                    ("commit", .uint(commit)), ("entries", .array(entries.map(entryJSON)))]
        case .appendResponse(let reject, let index, let rejectHint, let hintTerm):
            out += [("kind", "appendResponse"), ("reject", .bool(reject)), ("index", .uint(index)),
                    ("rejectHint", .uint(rejectHint)), ("hintTerm", .uint(hintTerm))]
        case .heartbeat(let commit):
            out += [("kind", "heartbeat"), ("commit", .uint(commit))]
        case .heartbeatResponse:
            out.append(("kind", "heartbeatResponse"))
        case .timeoutNow:
            out.append(("kind", "timeoutNow"))
        }
        return out
    }

    static func decode(_ f: FieldReader) throws(PeerDecodeError) -> Message {
        let from = try f.nodeId("from")
        let to = try f.nodeId("to")
        let term = try f.uint("term")
        let kind: Message.Kind
        switch try f.string("kind", maxBytes: 32) {
        case "preVote": kind = .preVote(lastIndex: try f.uint("lastIndex"), lastTerm: try f.uint("lastTerm"))
        case "preVoteResponse": kind = .preVoteResponse(reject: try f.bool("reject"))
        case "vote":
            kind = .vote(lastIndex: try f.uint("lastIndex"), lastTerm: try f.uint("lastTerm"), transfer: try f.bool("transfer"))
        case "voteResponse": kind = .voteResponse(reject: try f.bool("reject"))
        case "append":
            let items = try f.array("entries", max: PeerLimits.maxEntriesPerAppend)
            var entries: [Entry] = []
            entries.reserveCapacity(items.count)
            for item in items { entries.append(try entry(item)) }
            kind = .append(prevIndex: try f.uint("prevIndex"), prevTerm: try f.uint("prevTerm"), entries: entries,
                           commit: try f.uint("commit"))
        case "appendResponse":
            kind = .appendResponse(reject: try f.bool("reject"), index: try f.uint("index"),
                                   rejectHint: try f.uint("rejectHint"), hintTerm: try f.uint("hintTerm"))
        case "heartbeat": kind = .heartbeat(commit: try f.uint("commit"))
        case "heartbeatResponse": kind = .heartbeatResponse
        case "timeoutNow": kind = .timeoutNow
        case let other: throw .invalidValue(field: "kind", reason: "unknown raft kind '\(other)'")
        }
        return Message(from: from, to: to, term: term, kind: kind)
    }

    private static func entryJSON(_ e: Entry) -> JSON {
        var pairs: [(String, JSON)] = [("index", .uint(e.index)), ("term", .uint(e.term)), ("data", .string(Hex.encode(e.data)))]
        if let change = e.confChange {
            let (op, node): (String, String) = switch change {
            case .addLearner(let n): ("addLearner", n)
            case .promote(let n): ("promote", n)
            case .remove(let n): ("remove", n)
            }
            pairs.append(("conf", .object(JSONObject([("op", .string(op)), ("node", .string(node))]))))
        }
        return .object(JSONObject(pairs))
    }

    private static func entry(_ json: JSON) throws(PeerDecodeError) -> Entry {
        guard let object = json.objectValue else { throw .wrongType(field: "entries[]", expected: "an object") }
        let f = FieldReader(object: object)
        guard let dataText = try f.value("data").stringValue else { throw .wrongType(field: "data", expected: "a hex string") }
        guard let data = Hex.decode(dataText) else { throw .invalidValue(field: "data", reason: "not hex") }
        var change: ConfChange?
        if f.has("conf") {
            guard let conf = try f.value("conf").objectValue else { throw .wrongType(field: "conf", expected: "an object") }
            let c = FieldReader(object: conf)
            let node = try c.nodeId("node")
            switch try c.string("op", maxBytes: 32) {
            case "addLearner": change = .addLearner(node)
            case "promote": change = .promote(node)
            case "remove": change = .remove(node)
            case let other: throw .invalidValue(field: "conf.op", reason: "unknown op '\(other)'")
            }
        }
        return Entry(index: try f.uint("index"), term: try f.uint("term"), data: data, confChange: change)
    }
}
