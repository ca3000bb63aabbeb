import Chain
import Consensus
import Foundation
import Testing
@testable import P2P

private func roundTrip(_ message: PeerMessage) throws -> PeerMessage {
    let line = message.encodedLine()
    #expect(line.last == UInt8(ascii: "\n"))
    #expect(line.dropLast().contains(UInt8(ascii: "\n")) == false)
    return try PeerMessage.decode(line: Array(line.dropLast()))
}

private func decodeError(_ text: String) -> PeerDecodeError? {
    do { _ = try PeerMessage.decode(line: Array(text.utf8)); return nil } catch { return error }
}

private let allRaftKinds: [Message.Kind] = [
    .preVote(lastIndex: 5, lastTerm: 2), .preVoteResponse(reject: true),
    .vote(lastIndex: 9, lastTerm: 3, transfer: true), .voteResponse(reject: false),
    .append(prevIndex: 4, prevTerm: 1, entries: [
        Entry(index: 5, term: 2, data: [0, 1, 255]),
        Entry(index: 6, term: 2, data: [], confChange: .addLearner("n4")),
        Entry(index: 7, term: 2, data: [9], confChange: .promote("n4")),
        Entry(index: 8, term: 2, data: [9], confChange: .remove("n2")),
    ], commit: 4),
    .appendResponse(reject: true, index: 4, rejectHint: 2, hintTerm: 1),
    .heartbeat(commit: 12), .heartbeatResponse, .timeoutNow,
]

@Test func test_peerMessage_roundTripsEveryRaftKind() throws {
    for kind in allRaftKinds {
        let message = PeerMessage.raft(Message(from: "n1", to: "n2", term: 7, kind: kind))
        #expect(try roundTrip(message) == message)
    }
}

@Test func test_peerMessage_roundTripsEveryOtherType() throws {
    let key = KeyPair.generate()
    let tx = Transaction.signed(chainId: "c", to: KeyPair.generate().address, amount: 5, fee: 1, nonce: 0, keyPair: key)
    let block = Block.make(height: 1, prevHash: testGenesis, stateRoot: testGenesis, timestamp: 1, term: 1, txs: [tx], proposerKey: key)
    let messages: [PeerMessage] = [
        .ping(height: 1), .pong(height: 2), .peers([PeerAddress(nodeId: "n2", p2pAddr: "127.0.0.1:6001", apiAddr: "a")]),
        .bye(reason: "because"), .getBlocks(from: 10, count: 512), .blocks([block]), .txs(id: 7, txs: [tx, tx]),
        .txsResult(id: 7, answer: .results([.admitted, ForwardedTxResult(code: "already_known", message: "seen"),
                                            ForwardedTxResult(code: "nonce_too_low", message: "used", committed: true)])),
        .txsResult(id: 8, answer: .refused(code: "not_leader", message: "ask n2", leaderHint: "n2")),
        .txsResult(id: 9, answer: .refused(code: "overloaded", message: "", leaderHint: nil)),
        .join(nodeId: "n9", nodeKey: key.publicKey, p2pAddr: "127.0.0.1:6009", apiAddr: "127.0.0.1:8089"),
        .joinResult(nodeId: "n9", accepted: false, reason: "not leader", leaderHint: "n1"),
        .joinResult(nodeId: "n9", accepted: true, reason: "", leaderHint: nil),
        .superseded(IncarnationProof(nodeId: "n9", nodeKey: key.publicKey, incarnation: 1_700_000_000_001, transcript: testGenesis,
                                     role: 2, signature: key.sign([1, 2, 3]))),
    ]
    for message in messages { #expect(try roundTrip(message) == message) }
}

@Test func test_peerMessage_aSupersededNoticeNamesARoleOfTheHandshake() {
    let key = "\"nodeKey\":\"\(String(repeating: "ab", count: 32))\""
    let rest = "\"transcript\":\"\(String(repeating: "cd", count: 32))\",\"signature\":\"\(String(repeating: "ef", count: 64))\""
    #expect(decodeError("{\"type\":\"superseded\",\"nodeId\":\"n1\",\(key),\"incarnation\":5,\(rest),\"role\":3}")
            == .invalidValue(field: "role", reason: "must be 1 or 2"))
    #expect(decodeError("{\"type\":\"superseded\",\"nodeId\":\"n1\",\(key),\"incarnation\":5,\(rest),\"role\":1}") == nil)
    #expect(decodeError("{\"type\":\"superseded\",\"nodeId\":\"N1\",\(key),\"incarnation\":5,\(rest),\"role\":1}") != nil)
}

@Test func test_peerMessage_blocksTravelAsLowercaseHexOfTheBinaryCodec() throws {
    let key = KeyPair.generate()
    let block = Block.make(height: 3, prevHash: testGenesis, stateRoot: testGenesis, timestamp: 1, term: 1, txs: [], proposerKey: key)
    let json = PeerMessage.blocks([block]).json
    #expect(json["blocks"]?.arrayValue?.first?.stringValue == Hex.encode(block.encode()))
}

/// Block sync serves blocks as stored: the line it builds from their bytes is the one the
/// decoded blocks would make, so an asker cannot tell the two apart.
@Test func test_peerMessage_blocksLineOfStoredBytesIsTheLineOfTheBlocks() throws {
    let key = KeyPair.generate()
    let tx = Transaction.signed(chainId: "c", to: KeyPair.generate().address, amount: 5, fee: 1, nonce: 0, keyPair: key)
    let blocks = (1...3).map { h in
        Block.make(height: UInt64(h), prevHash: testGenesis, stateRoot: testGenesis, timestamp: 1, term: 1,
                   txs: h == 2 ? [] : [tx], proposerKey: key)
    }
    for count in 0...blocks.count {
        let some = Array(blocks.prefix(count))
        let line = PeerMessage.blocksLine(encoded: some.map { $0.encode() })
        #expect(line == PeerMessage.blocks(some).encodedLine(), "\(count) blocks")
        #expect(try PeerMessage.decode(line: Array(line.dropLast())) == .blocks(some))
    }
}

@Test func test_peerMessage_rejectsMalformedInput() {
    #expect(decodeError("not json") != nil)
    #expect(decodeError("[1,2]") == .notAnObject)
    #expect(decodeError(#"{"type":"gossipz"}"#) == .unknownType("gossipz"))
    #expect(decodeError(#"{"height":1}"#) == .missingField("type"))
    #expect(decodeError(#"{"type":"ping"}"#) == .missingField("height"))
    #expect(decodeError(#"{"type":"ping","height":"1"}"#) == .wrongType(field: "height", expected: "an integer"))
    #expect(decodeError(#"{"type":"ping","height":-1}"#) == .invalidValue(field: "height", reason: "must not be negative"))
    #expect(decodeError(#"{"type":"ping","height":1.5}"#) == .wrongType(field: "height", expected: "an integer"))
    #expect(decodeError(#"{"type":"getBlocks","from":0,"count":513}"#) != nil)
    #expect(decodeError(#"{"type":"getBlocks","from":0,"count":0}"#) != nil)
    #expect(decodeError(#"{"type":"blocks","blocks":["zz"]}"#) == .invalidValue(field: "blocks[]", reason: "not hex"))
    #expect(decodeError(#"{"type":"blocks","blocks":["0102"]}"#) != nil)
    #expect(decodeError(#"{"type":"raft","from":"a","to":"b","term":1,"kind":"steal"}"#) != nil)
    #expect(decodeError(#"{"type":"raft","from":"a","to":"b","term":1,"kind":"append","prevIndex":0,"prevTerm":0,"commit":0,"entries":[{"index":1,"term":1,"data":"0g"}]}"#) != nil)
    #expect(decodeError(#"{"type":"raft","from":"","to":"b","term":1,"kind":"timeoutNow"}"#) != nil)
}

/// Every integer on the wire is 0...Int64.max: past it (or negative) is a typed error, so
/// `term + 1`, `index + count` and the like can never overflow a UInt64 inside the node.
@Test func test_peerMessage_integersAreBoundedToInt64Range() {
    #expect(decodeError(#"{"type":"getBlocks","from":18446744073709551615,"count":1}"#) == .wrongType(field: "from", expected: "an integer"))
    #expect(decodeError(#"{"type":"getBlocks","from":9223372036854775808,"count":1}"#) == .wrongType(field: "from", expected: "an integer"))
    #expect(decodeError(#"{"type":"getBlocks","from":1,"count":-1}"#) == .invalidValue(field: "count", reason: "must not be negative"))
    #expect(decodeError(#"{"type":"getBlocks","from":1,"count":1e3}"#) != nil)
    #expect(decodeError(#"{"type":"raft","from":"a","to":"b","term":-1,"kind":"timeoutNow"}"#) == .invalidValue(field: "term", reason: "must not be negative"))
    #expect(decodeError(#"{"type":"raft","from":"a","to":"b","term":1,"kind":"appendResponse","reject":false,"index":1e30,"rejectHint":0,"hintTerm":0}"#) != nil)
    let largest = try? PeerMessage.decode(line: Array(#"{"type":"raft","from":"a","to":"b","term":9223372036854775807,"kind":"heartbeat","commit":9223372036854775807}"#.utf8))
    guard case .raft(let m)? = largest else { Issue.record("Int64.max must decode"); return }
    #expect(m.term == UInt64(Int64.max) && m.term < UInt64.max)
    if case .getBlocks(let from, let count)? = try? PeerMessage.decode(line: Array(#"{"type":"getBlocks","from":9223372036854775807,"count":512}"#.utf8)) {
        #expect(from.addingReportingOverflow(UInt64(count)).overflow == false)
    } else {
        Issue.record("largest getBlocks must decode")
    }
}

@Test func test_peerMessage_rejectsOversizedCounts() {
    let many = Array(repeating: #"{"nodeId":"x","p2pAddr":"a","apiAddr":"b"}"#, count: PeerLimits.maxPeersPerGossip + 1)
    let text = #"{"type":"peers","peers":["# + many.joined(separator: ",") + "]}"
    #expect(decodeError(text) == .tooMany(field: "peers", count: PeerLimits.maxPeersPerGossip + 1, max: PeerLimits.maxPeersPerGossip))
    #expect(throws: PeerDecodeError.lineTooLong(bytes: 2000, max: 1024)) {
        try PeerMessage.decode(line: Array(repeating: UInt8(ascii: " "), count: 2000), maxLineBytes: 1024)
    }
}

@Test func test_peerMessage_encodesAndDecodesALargeAppendQuickly() throws {
    let entries = (1...4).map { Entry(index: UInt64($0), term: 1, data: Crypto.randomBytes(300_000)) }
    let message = PeerMessage.raft(Message(from: "n1", to: "n2", term: 1, kind: .append(prevIndex: 0, prevTerm: 0, entries: entries, commit: 0)))
    // CPU time of this thread, not wall time: a busy machine must not fail the test. The bound
    // catches quadratic work (a linear round trip of 1.2 MB takes milliseconds).
    let started = threadCPUSeconds()
    let decoded = try roundTrip(message)
    let elapsed = threadCPUSeconds() - started
    #expect(decoded == message)
    #expect(elapsed < 2, "1.2 MB append round trip took \(elapsed) s of CPU")
}

private func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The JSON `hello`/`auth` of protocol 1 are gone: the secure channel authenticates peers, and
/// such a line inside it is an unknown message that closes the link.
@Test func test_peerMessage_theOldHelloAndAuthAreUnknownTypes() {
    #expect(decodeError(#"{"type":"hello","protocol":1,"chainId":"c"}"#) == .unknownType("hello"))
    #expect(decodeError(#"{"type":"auth","signature":"00"}"#) == .unknownType("auth"))
}

@Test func test_txs_carriesTransfersAsHexOfTheBinaryCodec() throws {
    let key = KeyPair.generate()
    let tx = Transaction.signed(chainId: "c", to: KeyPair.generate().address, amount: 5, fee: 1, nonce: 3, keyPair: key)
    var bytes: [UInt8] = []
    tx.encode(into: &bytes)
    let json = PeerMessage.txs(id: 1, txs: [tx]).json
    #expect(json["txs"]?.arrayValue?.first?.stringValue == Hex.encode(bytes))
    #expect(json["id"]?.intValue == 1)
}

@Test func test_txs_refusesEmptyOversizedOrMalformedTransferLists() {
    let key = KeyPair.generate()
    let tx = Transaction.signed(chainId: "c", to: KeyPair.generate().address, amount: 5, fee: 1, nonce: 3, keyPair: key)
    var bytes: [UInt8] = []
    tx.encode(into: &bytes)
    let hex = Hex.encode(bytes)
    #expect(decodeError(#"{"type":"txs","id":1,"txs":[]}"#) == .invalidValue(field: "txs", reason: "must not be empty"))
    #expect(decodeError(#"{"type":"txs","txs":["\#(hex)"]}"#) == .missingField("id"))
    #expect(decodeError(#"{"type":"txs","id":-1,"txs":["\#(hex)"]}"#) == .invalidValue(field: "id", reason: "must not be negative"))
    #expect(decodeError(#"{"type":"txs","id":1,"txs":["\#(hex)00"]}"#) == .invalidValue(field: "txs[]", reason: "trailing bytes after a transfer"))
    #expect(decodeError(#"{"type":"txs","id":1,"txs":["\#(hex.dropLast(2))"]}"#) != nil)
    #expect(decodeError(#"{"type":"txs","id":1,"txs":[{"chainId":"c"}]}"#) == .wrongType(field: "txs[]", expected: "a hex string"))
    let tooLong = String(repeating: "00", count: PeerLimits.maxTxBytes + 1)
    #expect(decodeError(#"{"type":"txs","id":1,"txs":["\#(tooLong)"]}"#)
        == .invalidValue(field: "txs[]", reason: "not hex of at most \(PeerLimits.maxTxBytes) bytes"))
    let many = Array(repeating: "\"\(hex)\"", count: PeerLimits.maxTxsPerMessage + 1).joined(separator: ",")
    #expect(decodeError(#"{"type":"txs","id":1,"txs":["# + many + "]}")
        == .tooMany(field: "txs", count: PeerLimits.maxTxsPerMessage + 1, max: PeerLimits.maxTxsPerMessage))
}

@Test func test_txsResult_refusesCodesOutsideTheirGrammarAndMixedAnswers() {
    #expect(decodeError(#"{"type":"txsResult","id":1,"results":[{"code":"Bad Code","message":""}]}"#)
        == .invalidValue(field: "code", reason: "must be [a-z0-9_]"))
    #expect(decodeError(#"{"type":"txsResult","id":1,"results":[{"code":"","message":""}]}"#)
        == .invalidValue(field: "code", reason: "must not be empty"))
    #expect(decodeError(#"{"type":"txsResult","id":1,"results":[{"message":"x"}]}"#)
        == .invalidValue(field: "results[]", reason: "an admitted result has no fields"))
    #expect(decodeError(#"{"type":"txsResult","id":1,"results":[],"error":{"code":"x","message":""}}"#)
        == .invalidValue(field: "results", reason: "not with 'error'"))
    #expect(decodeError(#"{"type":"txsResult","id":1,"error":{"code":"not_leader","message":""},"leaderHint":"N2"}"#)
        == .invalidValue(field: "leaderHint", reason: "must match \(NodeIDGrammar.pattern)"))
    #expect(decodeError(#"{"type":"txsResult","id":1}"#) == .missingField("results"))
    let code = String(repeating: "a", count: PeerLimits.maxCodeBytes + 1)
    #expect(decodeError(#"{"type":"txsResult","id":1,"error":{"code":"\#(code)","message":""}}"#) != nil)
}
