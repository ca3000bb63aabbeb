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
        #expect(height == 2, "bootstrap block, then the transfer")
        #expect(m["autochain_block_height"] == Double(height))
        #expect(m["autochain_txs_committed_total"] == 1)
        #expect(m["autochain_blocks_committed_total"] == 2)
        #expect((m["process_resident_memory_bytes"] ?? 0) > 1_000_000)
        #expect(st["role"]?.stringValue == "leader")

        #expect(m["autochain_raft_term"] == Double(st["term"]?.intValue ?? -1))
        #expect(m["autochain_raft_is_leader"] == 1)
    }

    @Test func storageSpace_isThatOfTheDataDirectorysFilesystemAsDfSeesIt() throws {
        let node = try NodeProcess()
        try node.start()
        defer { node.stop() }
        let m = Self.values(String(decoding: try node.request("GET", "/metrics").body, as: UTF8.self))
        let size = try #require(m["autochain_storage_size_bytes"])
        let available = try #require(m["autochain_storage_available_bytes"])
        // df(1) reads the same filesystem independently: the size is the same, the free space
        // within what other processes on this machine may write meanwhile.
        let df = Process()
        df.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        df.arguments = ["df", "-B1", "--output=size,avail", node.dataDir]
        let out = Pipe()
        df.standardOutput = out
        try df.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        df.waitUntilExit()
        let figures = text.split(separator: "\n").last?.split(separator: " ").compactMap { Double($0) } ?? []
        try #require(figures.count == 2, "df said: \(text)")
        #expect(size == figures[0])
        #expect(abs(available - figures[1]) < 512 * 1024 * 1024, "metrics \(available), df \(figures[1])")
        #expect(available > 0 && available <= size)
    }
}
