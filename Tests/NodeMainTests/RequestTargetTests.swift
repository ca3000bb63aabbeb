import Chain
import Foundation
import P2P
import Testing

/// Every request-target form HTTP/1.1 allows (RFC 9112 §3.2), sent to a follower, which forwards
/// submissions to the leader: the follower answers each with a status and stays up.
@Suite("ProcessTests.RequestTargets", .serialized) struct RequestTargetTests {
    static let dev = KeyPair.development

    /// Sends one raw request to `node` and reads its answer.
    static func raw(_ node: NodeProcess, _ method: String, _ target: String, body: [UInt8] = []) throws -> RawAnswer {
        let socket = try RawSocket(node.apiAddr)
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(node.apiAddr)\r\nConnection: close\r\n"
        if !body.isEmpty || method == "POST" { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        socket.send(Array((head + "\r\n").utf8) + body)
        return RawAnswer(socket.readResponse())
    }

    static func follower(_ c: ClusterTests.Cluster) throws -> NodeProcess {
        let all = ["n1", "n2", "n3"]
        try c.eventually("a leader") { c.leader(among: all) != nil }
        let leader = try #require(c.leader(among: all))
        return try #require(c.nodes[all.first { $0 != leader }!])
    }

    static func isLive(_ node: NodeProcess) -> Bool {
        (try? node.request("GET", "/health/live"))?.status == 200
    }

    /// Regression: an absolute-form target (`POST http://host/submit-tx`) used to reach the
    /// follower's forwarding client as a path and trap there, ending the process.
    @Test func absoluteFormSubmitToFollower_isForwardedAndTheFollowerStaysUp() throws {
        let c = try ClusterTests.Cluster.three()
        defer { c.stopAll() }
        let follower = try Self.follower(c)
        let base = "http://\(follower.apiAddr)"
        let one = Transaction.signed(chainId: "autochain-dev", to: KeyPair.generate().address, amount: 1, fee: 1, nonce: 0, keyPair: Self.dev)
        let single = try Self.raw(follower, "POST", base + "/submit-tx", body: one.json.serialized())
        #expect(single.status == 202, "\(single)")
        #expect(Self.isLive(follower), "the follower exited:\n\(follower.tailOfLog())")

        let two = Transaction.signed(chainId: "autochain-dev", to: KeyPair.generate().address, amount: 1, fee: 1, nonce: 1, keyPair: Self.dev)
        let batch = try Self.raw(follower, "POST", base + "/submit-txs?x=1", body: JSON.object(JSONObject([("txs", .array([two.json]))])).serialized())
        #expect(batch.status == 202, "\(batch)")
        #expect(Self.isLive(follower), "the follower exited:\n\(follower.tailOfLog())")

        let three = Transaction.signed(chainId: "autochain-dev", to: KeyPair.generate().address, amount: 1, fee: 1, nonce: 2, keyPair: Self.dev)
        let waited = try Self.raw(follower, "POST", base + "/submit-tx?wait=commit", body: three.json.serialized())
        #expect(waited.status == 200 && waited.text.contains("\"committed\""), "\(waited)")
        #expect(Self.isLive(follower), "the follower exited:\n\(follower.tailOfLog())")
    }
}
