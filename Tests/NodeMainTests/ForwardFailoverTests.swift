import Chain
import Foundation
import P2P
import Synchronization
import Testing

/// A follower that forwarded `?wait=commit` transfers to a leader which is then killed must not
/// leave its callers hanging for `commit_wait_ms`: it hands the transfers to the new leader (or
/// answers 503 when no leader takes them in time), and everything it acknowledged is committed.
@Suite("ProcessTests.ForwardFailover", .serialized) struct ForwardFailoverTests {
    static let clients = 16
    /// Bound on any answer: below `commit_wait_ms` (30 s), the answer a caller left hanging would
    /// get, and well above an election plus `leader_wait_ms` (5 s) on a busy 2-core machine.
    static let answerBoundS = 25.0

    struct Outcome: Sendable {
        let hash: Hash32
        let startedS: Double
        let answeredS: Double
        let status: Int
        let code: String?
    }

    /// Keeps one `?wait=commit` transfer in flight through `node` until `stop` is set; the next
    /// nonce only after a 200, and the client stops at its first other answer (its nonce is then
    /// unknown).
    final class Shared: Sendable {
        let stop = Atomic<Bool>(false)
        let outcomes = Mutex<[Outcome]>([])
    }

    static func client(_ key: KeyPair, url: String, t0: Double, shared: Shared) {
        var nonce: UInt64 = 0
        while !shared.stop.load(ordering: .relaxed) {
            let tx = Transaction.signed(chainId: "autochain-dev", to: KeyPair.development.address, amount: 1, fee: 1,
                                        nonce: nonce, keyPair: key)
            let started = now() - t0
            var status = 0
            var code: String?
            if let client = try? HTTPClient(baseURL: url),
               let r = try? client.request(method: "POST", path: "/submit-tx?wait=commit",
                                           headers: HTTPHeaders([("Content-Type", "application/json")]),
                                           body: tx.json.serialized(), timeout: .seconds(40)) {
                status = r.status
                code = (try? JSON.parse(r.body))?["error"]?["code"]?.stringValue
                client.close()
            }
            shared.outcomes.withLock { $0.append(Outcome(hash: tx.hash, startedS: started, answeredS: now() - t0, status: status, code: code)) }
            guard status == 200 else { return }
            nonce += 1
        }
    }

    static func now() -> Double { Date().timeIntervalSince1970 }

    /// Waits (at most 60 s) until the outcomes so far satisfy `condition`.
    static func await(_ what: String, _ shared: Shared, _ condition: ([Outcome]) -> Bool) throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if condition(shared.outcomes.withLock { $0 }) { return }
            usleep(20_000)
        }
        let outcomes = shared.outcomes.withLock { $0 }
        throw TestFailure("not within 60 s: \(what); \(outcomes.count) answers, statuses \(Set(outcomes.map(\.status)).sorted())")
    }

    @Test func leaderKilledWhileForwardedWaitsAreInFlight_everyCallerAnsweredFast_acknowledgedCommitted() throws {
        // Blocks are cut at most every 1.5 s, so at the kill the leader holds forwarded transfers
        // in its mempool that no follower has: only handing them to the new leader commits them.
        let c = try Self.slowBlockCluster("forward-failover")
        defer { c.stopAll() }
        let all = ["n1", "n2", "n3"]
        let leader = try #require(c.leader(among: all))
        let follower = all.first { $0 != leader }!
        let keys = (0..<Self.clients).map { _ in KeyPair.generate() }
        try fund(keys, via: c.nodes[leader]!)

        let shared = Shared()
        let t0 = Self.now()
        let url = c.nodes[follower]!.url
        let group = DispatchGroup()
        for key in keys {
            group.enter()
            Thread { defer { group.leave() }; Self.client(key, url: url, t0: t0, shared: shared) }.start()
        }
        // The kill comes once the clients are committing (bounded wait): from then on each keeps a
        // forwarded transfer in flight, so some are in flight at the kill.
        try Self.await("a transfer acknowledged through \(follower) before the kill", shared) { outcomes in
            outcomes.contains { $0.status == 200 }
        }
        let killedAt = Self.now() - t0
        c.nodes[leader]!.kill9()
        // The load stops once the cluster commits again after the kill, or once every client has
        // stopped at an answer other than 200 (the assertions below then say which).
        try Self.await("a transfer started after the kill acknowledged, or every client stopped", shared) { outcomes in
            outcomes.contains { $0.status == 200 && $0.startedS > killedAt } || outcomes.filter { $0.status != 200 }.count == Self.clients
        }
        shared.stop.store(true, ordering: .relaxed)
        #expect(group.wait(timeout: .now() + 45) == .success, "every client got an answer")

        let results = shared.outcomes.withLock { $0 }
        let atKill = results.filter { $0.startedS < killedAt && $0.answeredS > killedAt }
        #expect(!atKill.isEmpty, "some forwarded transfers were in flight when the leader died")
        for o in results {
            #expect(o.answeredS - o.startedS < Self.answerBoundS, "answered in \(o.answeredS - o.startedS) s: \(o.status) \(o.code ?? "")")
            #expect(o.status == 200 || o.status == 503, "status \(o.status) \(o.code ?? "")")
        }
        let acked = results.filter { $0.status == 200 }
        #expect(acked.count > atKill.count, "transfers commit before and after the failover")
        let survivors = all.filter { $0 != leader }
        try c.eventually("every acknowledged transfer is committed on both survivors", timeout: 60) {
            acked.allSatisfy { o in
                survivors.allSatisfy { id in
                    (try? c.nodes[id]!.json("GET", "/tx/\(o.hash.hex)"))?.body["status"]?.stringValue == "committed"
                }
            }
        }
        print("forward failover: \(results.count) answers, \(acked.count) committed, \(atKill.count) in flight at the kill: " +
              atKill.map { "\($0.status) \($0.code ?? "-") " + String(format: "%.2fs", $0.answeredS - killedAt) }.joined(separator: ", "))
    }

    /// A leader that loses leadership (here by a transfer an operator asked for) while it holds
    /// accepted, uncommitted transfers hands them to the new leader: all of them commit.
    @Test func deposedLeaderHandsItsAcceptedTransfersToTheNewLeader() throws {
        let c = try Self.slowBlockCluster("stranded-mempool")
        defer { c.stopAll() }
        let all = ["n1", "n2", "n3"]
        let leader = try #require(c.leader(among: all))
        let successor = all.first { $0 != leader }!
        let (key, txs) = try acceptFifty(via: c.nodes[leader]!)
        let moved = try c.nodes[leader]!.json("POST", "/leadership/transfer", ["to": .string(successor)], authorized: true)
        #expect(moved.status == 200, "\(moved.body)")
        try c.eventually("all 50 accepted transfers commit on every node", timeout: 60) {
            all.allSatisfy { id in
                (try? c.nodes[id]!.json("GET", "/tx/\(txs.last!.hash.hex)"))?.body["status"]?.stringValue == "committed"
            }
        }
        #expect(try c.nodes[successor]!.json("GET", "/balance/\(key.address.hex)").body["nonce"]?.intValue == 50)
    }

    /// A leader stopped with SIGTERM transfers leadership first and hands on what it accepted:
    /// every accepted transfer commits on the two nodes that remain.
    @Test func leaderStoppedWithSigtermHandsItsAcceptedTransfersOn() throws {
        let c = try Self.slowBlockCluster("sigterm-handover")
        defer { c.stopAll() }
        let all = ["n1", "n2", "n3"]
        let leader = try #require(c.leader(among: all))
        let (_, txs) = try acceptFifty(via: c.nodes[leader]!)
        c.nodes[leader]!.stop()
        let rest = all.filter { $0 != leader }
        try c.eventually("all 50 accepted transfers commit on the remaining nodes", timeout: 60) {
            rest.allSatisfy { id in
                (try? c.nodes[id]!.json("GET", "/tx/\(txs.last!.hash.hex)"))?.body["status"]?.stringValue == "committed"
            }
        }
    }

    /// 50 transfers from a freshly funded key, accepted (not yet committed) by the leader.
    func acceptFifty(via leader: NodeProcess) throws -> (KeyPair, [Transaction]) {
        let key = KeyPair.generate()
        try fund([key], via: leader)
        let txs = (0..<50).map { i in
            Transaction.signed(chainId: "autochain-dev", to: KeyPair.development.address, amount: 1, fee: 1, nonce: UInt64(i), keyPair: key)
        }
        let accepted = try leader.json("POST", "/submit-txs", ["txs": .array(txs.map(\.json))])
        #expect(accepted.body["accepted"]?.intValue == 50, "\(accepted.body)")
        return (key, txs)
    }

    /// Three nodes that cut a block at most every 1.5 s, so a leader holds transfers no follower has.
    static func slowBlockCluster(_ name: String) throws -> ClusterTests.Cluster {
        let config = TestDirs.make(name) + "/slow-blocks.toml"
        _ = FileManager.default.createFile(atPath: config, contents: Data("[consensus]\nblock_interval_ms = 1500\n".utf8))
        return try ClusterTests.Cluster.three(config: config)
    }

    /// Funds each key from the development key, through the leader, and waits for the commit.
    func fund(_ keys: [KeyPair], via leader: NodeProcess) throws {
        let start = UInt64(try leader.json("GET", "/balance/\(KeyPair.development.address.hex)").body["nonce"]?.intValue ?? 0)
        let txs = keys.enumerated().map { i, k in
            Transaction.signed(chainId: "autochain-dev", to: k.address, amount: 1_000_000, fee: 1, nonce: start + UInt64(i),
                               keyPair: .development)
        }
        let r = try leader.json("POST", "/submit-txs", ["txs": .array(txs.map(\.json))])
        #expect(r.body["accepted"]?.intValue == Int64(keys.count), "\(r.body)")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if try leader.json("GET", "/tx/\(txs.last!.hash.hex)").body["status"]?.stringValue == "committed" { return }
            usleep(50_000)
        }
        throw TestFailure("funding not committed within 60 s")
    }
}
