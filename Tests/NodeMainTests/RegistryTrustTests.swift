import Chain
import Foundation
import Membership
import P2P
import Testing

/// The registry of `autochain up` played against as an attacker (issue 10, items 1, 4, 5, 9):
/// crafted IDs, forged and replayed heartbeats, a known ID from another key. After each: a clear
/// error, the registry still serving, no node retired, no data deleted.
@Suite("ProcessTests.RegistryTrust", .serialized) struct RegistryTrustTests {
    typealias Up = RegistryTests.Up

    /// A node that is not one: signs its calls with its own key.
    final class Impostor: @unchecked Sendable {
        // Unchecked: one test drives it from one task.
        let key: KeyPair
        var sequence: UInt64 = 1

        init(key: KeyPair = .generate()) { self.key = key }

        /// A body as a node's heartbeat has it.
        static func report(_ id: String, role: String = "follower", term: UInt64 = 1, voters: [String] = [],
                           leader: String? = nil) -> JSON {
            .object(JSONObject([("nodeId", .string(id)), ("apiUrl", "http://127.0.0.1:9"), ("p2pAddr", "127.0.0.1:9"),
                                ("height", .uint(1_000_000)), ("commitIndex", .uint(1_000_000)), ("term", .uint(term)),
                                ("role", .string(role)), ("leader", leader.map { .string($0) } ?? .null),
                                ("voters", .array(voters.map { .string($0) })), ("learners", .array([])), ("retired", .array([]))]))
        }

        /// Sends `body` to `path` signed as node `id` (or unsigned); the answer's status and code.
        func send(_ up: Up, _ path: String, _ body: JSON, as id: String, signed: Bool = true, sequence: UInt64? = nil,
                  timestampMs: UInt64? = nil) -> (status: Int, code: String?) {
            let bytes = body.serialized()
            // With the cluster credential: these play a compromised node or credential holder.
            var headers = HTTPHeaders([("Content-Type", "application/json"), NodeProcess.authorization])
            if signed, let kind = SignedRegistryCall.Kind(path: path) {
                let seq = sequence ?? self.sequence
                self.sequence = max(self.sequence, seq) + 1
                let call = SignedRegistryCall(kind: kind, nodeId: id, nodeKey: key.publicKey, sequence: seq,
                                              timestampMs: timestampMs ?? UInt64(Date().timeIntervalSince1970 * 1000), body: bytes)
                for (n, v) in call.headers(signedWith: key) { headers.add(n, v) }
            }
            guard let c = try? HTTPClient(baseURL: up.url) else { return (0, nil) }
            defer { c.close() }
            guard let r = try? c.request(method: "POST", path: path, headers: headers, body: bytes, timeout: .seconds(10)) else { return (0, nil) }
            return (r.status, (try? JSON.parse(r.body))?["error"]?["code"]?.stringValue)
        }
    }

    /// For `seconds`, while `during` runs every 200 ms: the registry serves, the three voters
    /// stay, no node is retired or removed and every node's data directory is still there.
    static func nothingHappens(_ up: Up, voters: [String], seconds: Double, during: () -> Void) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            during()
            #expect(up.process?.isRunning == true, "the registry process is running")
            let st = try #require(up.status(), "the registry answers /status")
            #expect(st["voters"]?.arrayValue?.compactMap(\.stringValue).sorted() == voters.sorted())
            let kinds = up.eventKinds()
            #expect(!kinds.contains("node_retired") && !kinds.contains("remove_member") && !kinds.contains("retire"), "\(kinds)")
            for id in voters { #expect(FileManager.default.fileExists(atPath: up.base + "/nodes/\(id)/chain.db"), "\(id)'s data") }
            usleep(200_000)
        }
    }

    @Test func forgedLeaderHeartbeatsListingOtherVoters_retireNothing() throws {
        let up = try Up()
        try up.start()
        defer { up.stop() }
        _ = try up.healthyLeader()
        let voters = up.voters()
        let evil = Impostor()
        // A "leader" of a much later term whose configuration has none of the real nodes.
        #expect(evil.send(up, "/register", Impostor.report("evil", role: "leader", term: 1_000, voters: ["evil", "ghost1", "ghost2"],
                                                            leader: "evil"), as: "evil").status == 200)
        try Self.nothingHappens(up, voters: voters, seconds: 6) {
            _ = evil.send(up, "/heartbeat", Impostor.report("evil", role: "leader", term: 1_000, voters: ["evil", "ghost1", "ghost2"],
                                                             leader: "evil"), as: "evil")
            // And the same claim, unsigned, in the real leader's name.
            _ = evil.send(up, "/heartbeat", Impostor.report(voters[0], role: "leader", term: 1_001, voters: ["ghost1"], leader: voters[0]),
                          as: voters[0], signed: false)
        }
        try up.eventually("the same three voters alive on one head after the forgeries") { up.healthy(voters: 3) }
    }

    @Test func aHeartbeatForAKnownIdFromAnotherKey_isRefusedAndCounted() throws {
        let up = try Up()
        try up.start()
        defer { up.stop() }
        _ = try up.healthyLeader()
        let voters = up.voters()
        let evil = Impostor()
        let forged = Impostor.report(voters[1], role: "leader", term: 1_000, voters: [voters[1]], leader: voters[1])
        let r = evil.send(up, "/register", forged, as: voters[1])
        #expect(r.status == 403 && r.code == "key_mismatch", "\(r)")
        let h = evil.send(up, "/heartbeat", forged, as: voters[1])
        #expect(h.status == 403 && h.code == "key_mismatch", "\(h)")
        let metricsClient = try HTTPClient(baseURL: up.url)
        defer { metricsClient.close() }
        let metrics = String(decoding: try metricsClient.request(method: "GET", path: "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("autochain_registry_node_calls_refused_total{code=\"key_mismatch\"}"), "refusals are counted")
        #expect(up.eventKinds().contains("node_call_refused"))
        try Self.nothingHappens(up, voters: voters, seconds: 2) {}
    }

    @Test func unsignedReplayedAndStaleHeartbeats_areRefusedWithTheirCodes() throws {
        let up = try Up()
        try up.start()
        defer { up.stop() }
        _ = try up.healthyLeader()
        let voters = up.voters()
        let node = Impostor()
        #expect(node.send(up, "/register", Impostor.report("visitor"), as: "visitor", sequence: 100).status == 200)
        let unsigned = node.send(up, "/heartbeat", Impostor.report("visitor"), as: "visitor", signed: false)
        #expect(unsigned.status == 401 && unsigned.code == "signature_required", "\(unsigned)")
        let replayed = node.send(up, "/heartbeat", Impostor.report("visitor"), as: "visitor", sequence: 100)
        #expect(replayed.status == 401 && replayed.code == "replayed", "\(replayed)")
        let stale = node.send(up, "/heartbeat", Impostor.report("visitor"), as: "visitor", sequence: 101,
                              timestampMs: UInt64(Date().timeIntervalSince1970 * 1000) - 10 * 60 * 1000)
        #expect(stale.status == 401 && stale.code == "stale_timestamp", "\(stale)")
        let stranger = Impostor().send(up, "/heartbeat", Impostor.report("stranger"), as: "stranger")
        #expect(stranger.status == 401 && stranger.code == "not_registered", "\(stranger)")
        #expect(node.send(up, "/heartbeat", Impostor.report("visitor"), as: "visitor", sequence: 102).status == 200, "the next one is fine")
        try Self.nothingHappens(up, voters: voters, seconds: 2) {}
    }

    @Test func aCraftedDotDotIdIsRefused_andNothingOutsideTheDataDirIsTouched() throws {
        let up = try Up()
        let sentinel = up.base + "/keep-me"
        try "precious".write(toFile: sentinel, atomically: true, encoding: .utf8)
        try up.start()
        defer { up.stop() }
        _ = try up.healthyLeader()
        let voters = up.voters()
        let evil = Impostor()
        for id in ["..", ".", "../..", "nodes/..", "a/../../x"] {
            let r = evil.send(up, "/register", Impostor.report(id), as: id)
            #expect(r.status == 400 && r.code == "invalid_field", "\(id): \(r)")
            let d = (try? HTTPClientFor(up.url))?.raw("DELETE", "/nodes/" + id)
            #expect(d?.status == 400 || d?.status == 404, "DELETE /nodes/\(id): \(d?.status ?? 0)")
            #expect((try? HTTPClientFor(up.url))?.raw("GET", "/health?node_id=" + id)?.status == 400)
        }
        try Self.nothingHappens(up, voters: voters, seconds: 2) {}
        #expect(FileManager.default.fileExists(atPath: sentinel) && FileManager.default.fileExists(atPath: up.configPath))
    }

    @Test func anIdWhoseNumberOverflows_thenScale_keepsTheRegistryServing() throws {
        let up = try Up()
        try up.start()
        defer { up.stop() }
        _ = try up.healthyLeader()
        let evil = Impostor()
        #expect(evil.send(up, "/register", Impostor.report("node9223372036854775807"), as: "node9223372036854775807").status == 200)
        let scaled = (try HTTPClientFor(up.url)).post("/scale", ["target_nodes": 4])
        #expect(scaled?["status"]?.stringValue == "accepted")
        try up.eventually("a fourth node spawned, the registry still serving") {
            up.process?.isRunning == true && up.eventKinds().contains("node_spawned")
                && (up.status()?["learners"]?.arrayValue?.count ?? 0) + up.voters().count >= 4
        }
        #expect(up.nodePids()["node4"] != nil, "the new node is node4: the overflowing number is not the registry's")
    }

    @Test func chainHeadersEndpoint_servesSignedHeaders_andRefusesBadQueries() throws {
        let up = try Up()
        try up.start()
        defer { up.stop() }
        let (_, url) = try up.healthyLeader()
        let c = try HTTPClientFor(url)
        let answer = try #require(c.get("/chain/headers?from=1&count=3"))
        let headers = try #require(answer["headers"]?.arrayValue)
        #expect(headers.count == 3)
        #expect(headers.first?["membership"]?["op"]?.stringValue == "bootstrap")
        #expect(headers.allSatisfy { $0["txs"] == nil && $0["proposerSignature"]?.stringValue?.count == 128 })
        for bad in ["count=0", "count=257", "from=-1", "from=99999999999999999999", "count=1e3", "from=%201"] {
            let r = c.raw("GET", "/chain/headers?" + bad)
            #expect(r?.status == 400 && r?.json?["error"]?["code"]?.stringValue == "invalid_query", "\(bad): \(r?.text ?? "")")
        }
        #expect(c.get("/chain/headers?from=1000000")?["headers"]?.arrayValue?.isEmpty == true)
    }
}
