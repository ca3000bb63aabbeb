import Chain
import Foundation
import P2P
import Testing

/// Followers reach the leader only over the peer link: forwarded submissions, batches,
/// `?wait=commit` calls and a newcomer's join all work through a follower while the leader's
/// HTTP server sees not one request from another node.
@Suite("ProcessTests.PeerForwarding", .serialized) struct PeerForwardingTests {
    static let dev = KeyPair.development

    /// Requests the node's HTTP API served, by its own count, leaving out the scrapes themselves.
    static func httpRequestsServed(_ node: NodeProcess) throws -> Double {
        let text = String(decoding: try node.request("GET", "/metrics").body, as: UTF8.self)
        var total = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix("autochain_http_requests_total{")
            && !line.contains(#"route="/metrics""#) {
            total += Double(line.split(separator: " ").last ?? "") ?? 0
        }
        return total
    }

    static func transfer(nonce: UInt64, amount: UInt64 = 1) -> Transaction {
        Transaction.signed(chainId: "autochain-dev", to: KeyPair.generate().address, amount: amount, fee: 1, nonce: nonce, keyPair: dev)
    }

    @Test func followerForwardsSubmitsBatchesWaitsAndAJoin_withoutOneHTTPCallToTheLeader() throws {
        let c = try ClusterTests.Cluster.three()
        defer { c.stopAll() }
        let all = ["n1", "n2", "n3"]
        let leaderId = try #require(c.leader(among: all))
        let followerId = all.first { $0 != leaderId }!
        try c.eventually("the follower knows the leader") { c.status(followerId)?["leader"]?.stringValue == leaderId }
        let leader = c.nodes[leaderId]!, follower = c.nodes[followerId]!
        let before = try Self.httpRequestsServed(leader)
        var nonce = UInt64(try follower.json("GET", "/balance/\(Self.dev.address.hex)").body["nonce"]?.intValue ?? 0)

        let single = try follower.request("POST", "/submit-tx", body: Self.transfer(nonce: nonce).json.serialized())
        #expect(single.status == 202 && single.headers["X-Forwarded-To"] == leaderId, "\(single.status) \(single.bodyText)")
        nonce += 1

        let forged = Self.transfer(nonce: nonce + 2)
        let badSignature = Transaction(chainId: forged.chainId, from: forged.from, to: forged.to, amount: forged.amount, fee: forged.fee,
                                       nonce: forged.nonce, pubkey: forged.pubkey, signature: Self.dev.sign([1, 2, 3]))
        let batch = try follower.json("POST", "/submit-txs", ["txs": .array([Self.transfer(nonce: nonce).json,
                                                                             Self.transfer(nonce: nonce + 1).json, badSignature.json])])
        #expect(batch.status == 202 && batch.body["accepted"]?.intValue == 2, "\(batch.body)")
        #expect(batch.body["results"]?.arrayValue?.last?["error"]?["code"]?.stringValue == "bad_signature", "the leader checked the signature")
        nonce += 2

        let waited = Self.transfer(nonce: nonce)
        let committed = try follower.json("POST", "/submit-tx?wait=commit", waited.json)
        #expect(committed.status == 200 && committed.body["status"]?.stringValue == "committed", "\(committed.body)")
        let reused = try follower.request("POST", "/submit-tx", body: Self.transfer(nonce: nonce, amount: 2).json.serialized())
        #expect(reused.status == 409 && reused.headers["X-Forwarded-To"] == leaderId, "\(reused.status) \(reused.bodyText)")
        #expect((try? JSON.parse(reused.body))?["error"]?["code"]?.stringValue == "nonce_too_low")

        // A newcomer told of the follower only: its join reaches the leader through the follower,
        // and the leader's answer comes back the same way.
        try c.start("n4", join: true, via: [followerId], waitUntilReady: false)
        try c.eventually("n4 added as a learner through the follower") {
            c.status(followerId)?["learners"]?.arrayValue?.contains(.string("n4")) == true
        }
        try c.eventually("n4 told it was added") {
            ((try? String(contentsOfFile: c.nodes["n4"]!.logPath, encoding: .utf8)) ?? "").contains(#"msg="join answer" from=\#(followerId) accepted=true"#)
        }
        // ...and it becomes ready: the leader reaches it and replicates to it.
        try c.nodes["n4"]!.waitReady(timeout: 30)

        #expect(try Self.httpRequestsServed(leader) == before, "the leader served HTTP requests from other nodes")
    }
}
