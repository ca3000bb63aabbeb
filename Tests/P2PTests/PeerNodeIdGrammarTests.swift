import Chain
import Testing
@testable import P2P

// Found by the peer-message fuzz target (fuzz/corpus/peer-message/regression-peers-node-id-outside-
// grammar.jsonl): the decoder took any 1...128-byte string as a node ID, so a peer could hand the
// node IDs such as "n+" or "N1". A `join` with one reached MembershipChange's precondition on the
// leader (a crash); in hello, peers and raft messages they became labels, map keys and log fields.

private func decodeError(_ text: String) -> PeerDecodeError? {
    do { _ = try PeerMessage.decode(line: Array(text.utf8)); return nil } catch { return error }
}

private let outsideGrammar = ["n+", "N1", "n_1", "-n1", "n 1", "é", String(repeating: "a", count: 64)]

@Test func test_peerMessage_refusesANodeIdOutsideTheGrammarInPeers() {
    for id in outsideGrammar {
        let line = #"{"type":"peers","peers":[{"nodeId":"\#(id)","p2pAddr":"127.0.0.1:7002","apiAddr":"127.0.0.1:8002"}]}"#
        #expect(decodeError(line) == .invalidValue(field: "nodeId", reason: "must match \(NodeIDGrammar.pattern)"), "\(id)")
    }
}

@Test func test_peerMessage_refusesANodeIdOutsideTheGrammarInJoin() {
    let key = KeyPair.generate().publicKey.hex
    for id in outsideGrammar {
        let line = #"{"type":"join","nodeId":"\#(id)","nodeKey":"\#(key)","p2pAddr":"a","apiAddr":"b"}"#
        #expect(decodeError(line) == .invalidValue(field: "nodeId", reason: "must match \(NodeIDGrammar.pattern)"), "\(id)")
    }
}

@Test func test_peerMessage_refusesANodeIdOutsideTheGrammarInRaftAndJoinResult() {
    let reason = "must match \(NodeIDGrammar.pattern)"
    #expect(decodeError(#"{"type":"raft","from":"N1","to":"n2","term":1,"kind":"timeoutNow"}"#) == .invalidValue(field: "from", reason: reason))
    #expect(decodeError(#"{"type":"raft","from":"n1","to":"n_2","term":1,"kind":"timeoutNow"}"#) == .invalidValue(field: "to", reason: reason))
    let append = #"{"type":"raft","from":"n1","to":"n2","term":1,"kind":"append","prevIndex":0,"prevTerm":0,"commit":0,"#
        + #""entries":[{"index":1,"term":1,"data":"","conf":{"op":"addLearner","node":"n+"}}]}"#
    #expect(decodeError(append) == .invalidValue(field: "node", reason: reason))
    #expect(decodeError(#"{"type":"joinResult","nodeId":"n4","accepted":false,"reason":"","leaderHint":"N1"}"#) == .invalidValue(field: "leaderHint", reason: reason))
    #expect(decodeError(#"{"type":"joinResult","nodeId":"N4","accepted":false,"reason":""}"#) == .invalidValue(field: "nodeId", reason: reason))
}

@Test func test_peerMessage_acceptsNodeIdsInTheGrammar() throws {
    let longest = String(repeating: "a", count: NodeIDGrammar.maxBytes)
    for id in ["n1", "0", "node-7", longest] {
        let message = try PeerMessage.decode(line: Array(#"{"type":"raft","from":"\#(id)","to":"n2","term":1,"kind":"timeoutNow"}"#.utf8))
        guard case .raft(let m) = message else { Issue.record("not a raft message"); continue }
        #expect(m.from == id)
    }
}
