import Chain
import Foundation
import P2P
import Testing

/// GET /metrics on a real node tells the same story as GET /status and GET /chain/head.
@Suite("MetricsProcessTests") struct MetricsProcessTests {
    /// Unlabelled sample values by metric name.
    static func values(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.contains("{") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let v = Double(parts[1]) { out[String(parts[0])] = v }
        }
        return out
    }

    @Test func metrics_agreeWithStatusAfterACommit() throws {
        let node = try NodeProcess()
        try node.start()
        defer { node.stop() }
        let tx = Transaction.signed(chainId: "autochain-dev", to: KeyPair.generate().address, amount: 5, fee: 1,
                                    nonce: 0, keyPair: KeyPair.development)
        let (status, answer) = try node.json("POST", "/submit-tx?wait=commit", tx.json)
        #expect(status == 200, "\(answer)")

        let (_, st) = try node.json("GET", "/status")
        let response = try node.request("GET", "/metrics")
        #expect(response.status == 200)
        #expect(response.headers["Content-Type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let m = Self.values(String(decoding: response.body, as: UTF8.self))
        let height = try #require(st["height"]?.intValue)
        #expect(height == 1)
        #expect(m["autochain_block_height"] == Double(height))
        #expect(m["autochain_txs_committed_total"] == 1)
        #expect(m["autochain_blocks_committed_total"] == 1)
        #expect((m["process_resident_memory_bytes"] ?? 0) > 1_000_000)
        #expect(st["role"]?.stringValue == "leader")

        // Node bug: the autochain_raft_term and autochain_raft_is_leader gauges are registered in
        // NodeMetrics but never set, so they read 0 while /status says term >= 1, role leader.
        // When the runtime sets them, drop withKnownIssue.
        withKnownIssue("autochain_raft_term / autochain_raft_is_leader are never updated") {
            #expect(m["autochain_raft_term"] == Double(st["term"]?.intValue ?? -1))
            #expect(m["autochain_raft_is_leader"] == 1)
        }
    }
}
