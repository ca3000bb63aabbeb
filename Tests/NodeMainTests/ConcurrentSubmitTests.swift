import Chain
import Foundation
import Testing

/// `/submit-tx` requests sent at once on many connections, good and bad mixed, and two connections
/// that pipeline a second request whose answer depends on the first (a connection's requests are
/// answered one at a time, in order). Played against a real node: each request must get the
/// answer it would get alone, and every accepted transfer must commit.
@Suite("ProcessTests.ConcurrentSubmit") struct ConcurrentSubmitTests {
    static let dev = KeyPair.development

    static func post(_ target: String, _ body: [UInt8]) -> [UInt8] {
        Array("POST \(target) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
    }

    /// The whole responses at the start of `text` (head and Content-Length body each).
    static func responses(_ text: String) -> [RawAnswer] {
        var out: [RawAnswer] = []
        var rest = Substring(text)
        while let headEnd = rest.range(of: "\r\n\r\n") {
            let head = rest[..<headEnd.lowerBound].lowercased()
            guard let field = head.range(of: "content-length: "), let length = Int(head[field.upperBound...].prefix { $0.isNumber }) else { break }
            let body = rest[headEnd.upperBound...].utf8
            guard body.count >= length else { break }
            let end = body.index(body.startIndex, offsetBy: length)
            out.append(RawAnswer(String(rest[..<end])))
            rest = rest[end...]
        }
        return out
    }

    @Test func submissionsSentAtOnce_eachGetTheirOwnAnswer_andTheAcceptedCommit() throws {
        let node = try NodeProcess()
        try node.start()
        defer { node.stop() }
        let bob = KeyPair.generate()
        func transfer(_ nonce: UInt64, amount: UInt64 = 5) -> Transaction {
            Transaction.signed(chainId: "autochain-dev", to: bob.address, amount: amount, fee: 1, nonce: nonce, keyPair: Self.dev)
        }
        var forged = transfer(7).json.objectValue!
        forged["hash"] = nil
        forged["signature"] = .string(String(repeating: "ab", count: 64))
        let (a, b, c, d) = (transfer(0), transfer(1), transfer(2), transfer(3))
        // One connection each; a connection's requests are answered in order, one at a time. A
        // repeat may find its first already committed (a slow machine): then the nonce is too low.
        let connections: [[(String, [UInt8], Int, Set<String?>)]] = [
            [("first", Self.post("/submit-tx", a.json.serialized()), 202, [nil]),
             ("the first again", Self.post("/submit-tx", a.json.serialized()), 409, ["already_known", "nonce_too_low"])],
            [("second", Self.post("/submit-tx", b.json.serialized()), 202, [nil]),
             ("same nonce, other transfer", Self.post("/submit-tx", transfer(1, amount: 6).json.serialized()), 409, ["nonce_conflict", "nonce_too_low"])],
            [("malformed JSON", Self.post("/submit-tx", Array("{\"amount\":".utf8)), 400, ["invalid_json"])],
            [("bad signature", Self.post("/submit-tx", JSON.object(forged).serialized()), 422, ["bad_signature"])],
            [("bad wait mode", Self.post("/submit-tx?wait=later", c.json.serialized()), 400, ["invalid_query"])],
            [("third, waiting", Self.post("/submit-tx?wait=commit", c.json.serialized()), 200, [nil])],
            [("fourth", Self.post("/submit-tx", d.json.serialized()), 202, [nil])],
        ]
        let sockets = try connections.map { _ in try RawSocket(node.apiAddr) }
        for (socket, requests) in zip(sockets, connections) { #expect(socket.send(requests.flatMap(\.1))) }
        for (socket, requests) in zip(sockets, connections) {
            let text = socket.read(timeout: .seconds(30)) { Self.responses($0).count >= requests.count }
            let answers = Self.responses(text)
            try #require(answers.count == requests.count, "one answer per request: \(text)")
            for ((name, _, status, codes), answer) in zip(requests, answers) {
                #expect(answer.status == status, "\(name): \(answer)")
                #expect(codes.contains(answer.code), "\(name): \(answer)")
            }
        }
        // Every accepted transfer commits (the fourth may come in a block after the third's).
        let deadline = Date().addingTimeInterval(30)
        var status = ""
        while Date() < deadline {
            status = try node.json("GET", "/tx/\(d.hash.hex)").body["status"]?.stringValue ?? ""
            if status == "committed" { break }
            usleep(20_000)
        }
        #expect(status == "committed")
        for tx in [a, b, c] { #expect(try node.json("GET", "/tx/\(tx.hash.hex)").body["status"]?.stringValue == "committed") }
        let balance = try node.json("GET", "/balance/\(bob.address.hex)").body
        #expect(balance["balance"]?.intValue == 20, "four transfers of 5, nothing else: \(balance)")
    }
}
