import Chain
import Foundation
import Testing

/// Real node processes forming clusters on loopback: replication, failover, catch-up, joining,
/// and refusing a node of another chain. Every wait is bounded.
@Suite("ProcessTests.Cluster", .serialized) struct ClusterTests {
    static let dev = KeyPair.development

    final class Cluster: @unchecked Sendable {
        // Unchecked: one test drives one cluster from one task.
        var nodes: [String: NodeProcess] = [:]
        var p2p: [String: String] = [:]
        let base = TestDirs.make("cluster")

        /// `via`: the only nodes it is told of (default: every node started so far).
        func start(_ id: String, join: Bool, config: String? = nil, via: [String]? = nil, waitUntilReady: Bool = true,
                   environment: [String: String] = [:]) throws {
            let node = try NodeProcess(dataDir: base + "/" + id, config: config)
            let port = try p2p[id] ?? "127.0.0.1:\(freePort())"
            p2p[id] = port
            var args = ["--node-id", id, "--p2p-addr", port]
            let peers = p2p.filter { $0.key != id && (via?.contains($0.key) ?? true) }.values.sorted()
            if !peers.isEmpty { args += ["--peers", peers.joined(separator: ",")] }
            if join { args.append("--join") }
            try node.start(extraArgs: args, environment: environment, waitUntilReady: waitUntilReady)
            nodes[id] = node
        }

        func restart(_ id: String) throws {
            let old = try #require(nodes[id])
            var args = ["--node-id", id, "--p2p-addr", p2p[id]!]
            let peers = p2p.filter { $0.key != id }.values.sorted()
            args += ["--peers", peers.joined(separator: ",")]
            try old.start(extraArgs: args)
        }

        func status(_ id: String) -> JSON? { try? nodes[id]?.json("GET", "/status").body }

        func leader(among ids: [String]) -> String? {
            ids.first { status($0)?["role"]?.stringValue == "leader" }
        }

        /// Waits (bounded) until `condition` holds.
        func eventually(_ what: String, timeout: Double = 60, _ condition: () -> Bool) throws {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if condition() { return }
                usleep(50_000)
            }
            throw TestFailure("not within \(timeout) s: \(what)\n" + nodes.map { "--- \($0.key):\n\($0.value.tailOfLog())" }.joined(separator: "\n"))
        }

        func heads(_ ids: [String]) -> [String] {
            ids.map { status($0)?["headHash"]?.stringValue ?? "?" }
        }

        func stopAll() { for n in nodes.values { n.stop() } }

        /// A 3-voter cluster: n1 starts it, n2 and n3 join and are promoted.
        static func three(config: String? = nil) throws -> Cluster {
            let c = Cluster()
            try c.start("n1", join: false, config: config)
            try c.start("n2", join: true, config: config)
            try c.start("n3", join: true, config: config)
            try c.eventually("three voters") { c.status("n1")?["voters"]?.arrayValue?.count == 3 }
            return c
        }
    }

    func transfer(_ node: NodeProcess, nonce: UInt64, to: Address = KeyPair.generate().address) throws -> (Int, JSON) {
        let tx = Transaction.signed(chainId: "autochain-dev", to: to, amount: 1, fee: 1, nonce: nonce, keyPair: Self.dev)
        let r = try node.json("POST", "/submit-tx?wait=commit", tx.json)
        return (r.status, r.body)
    }

    func nonce(_ node: NodeProcess) throws -> UInt64 {
        UInt64(try node.json("GET", "/balance/\(Self.dev.address.hex)").body["nonce"]?.intValue ?? 0)
    }

    @Test func followerSubmitCommitsEverywhere_leaderKill9FailsOver_oldLeaderRejoins() throws {
        let c = try Cluster.three()
        defer { c.stopAll() }
        let all = ["n1", "n2", "n3"]
        let leader = try #require(c.leader(among: all))
        let follower = all.first { $0 != leader }!
        let (status, answer) = try transfer(c.nodes[follower]!, nonce: 0)
        #expect(status == 200, "submitted to follower \(follower): \(answer)")
        let height = try #require(answer["height"]?.intValue)
        try c.eventually("all three at height \(height) with one head hash") {
            all.allSatisfy { c.status($0)?["height"]?.intValue ?? 0 >= height } && Set(c.heads(all)).count == 1
        }

        c.nodes[leader]!.kill9()
        let survivors = all.filter { $0 != leader }
        // The leader seen is kept, not read again: on a busy machine leadership may move between two reads.
        var seen: String?
        try c.eventually("a new leader among the survivors") { seen = c.leader(among: survivors); return seen != nil }
        let newLeader = try #require(seen)
        #expect(newLeader != leader)
        let (s2, a2) = try transfer(c.nodes[survivors.first { $0 != newLeader }!]!, nonce: 1)
        #expect(s2 == 200, "commit after failover: \(a2)")

        try c.restart(leader)
        try c.eventually("the old leader rejoins as a follower and catches up") {
            c.status(leader)?["role"]?.stringValue == "follower" && Set(c.heads(all)).count == 1
        }
    }

    /// Nodes that joined through n1 alone learn of each other once admitted (gossip), so they
    /// elect a leader between them when n1 dies.
    @Test func nodesJoinedThroughOneNodeFindEachOther_andFailOverWithoutIt() throws {
        let c = Cluster()
        defer { c.stopAll() }
        try c.start("n1", join: false)
        try c.start("n2", join: true, via: ["n1"])
        try c.start("n3", join: true, via: ["n1"])
        // Every node, not only n1, must have applied both promotions: a membership change takes
        // effect when applied, so a survivor that never learned n3's promotion was committed counts
        // two voters, one of them dead, and cannot elect (as with etcd: not a fault of the survivors).
        try c.eventually("three voters on every node") {
            ["n1", "n2", "n3"].allSatisfy { c.status($0)?["voters"]?.arrayValue?.count == 3 }
        }
        func knows(_ a: String, _ b: String) -> Bool {
            (try? c.nodes[a]!.json("GET", "/peers").body)?["peers"]?.arrayValue?.contains { $0["nodeId"]?.stringValue == b } ?? false
        }
        try c.eventually("n2 and n3 connected to each other") { knows("n2", "n3") && knows("n3", "n2") }
        let leader = try #require(c.leader(among: ["n1", "n2", "n3"]))
        c.nodes[leader]!.kill9()
        let survivors = ["n1", "n2", "n3"].filter { $0 != leader }
        try c.eventually("a new leader among the survivors") { c.leader(among: survivors) != nil }
        let (status, answer) = try transfer(c.nodes[survivors[0]]!, nonce: 0)
        #expect(status == 200, "commit after failover: \(answer)")
    }

    @Test func sigstoppedFollowerCatchesUpAfterSigcont() throws {
        let c = try Cluster.three()
        defer { c.stopAll() }
        let all = ["n1", "n2", "n3"]
        let leader = try #require(c.leader(among: all))
        let paused = all.first { $0 != leader }!
        let pid = try #require(c.nodes[paused]?.process?.processIdentifier)
        kill(pid, SIGSTOP)
        var n = try nonce(c.nodes[leader]!)
        for _ in 0..<5 {
            #expect(try transfer(c.nodes[leader]!, nonce: n).0 == 200, "the other two keep committing")
            n += 1
        }
        Thread.sleep(forTimeInterval: 1.5)
        kill(pid, SIGCONT)
        try c.eventually("the paused follower catches up") { Set(c.heads(all)).count == 1 }
    }

    @Test func emptyFourthNodeSyncsJoinsAsLearnerAndIsPromotedWhenAVoterLeaves() throws {
        let c = try Cluster.three()
        defer { c.stopAll() }
        let leader = try #require(c.leader(among: ["n1", "n2", "n3"]))
        // More blocks than the block-sync threshold, so the newcomer syncs by ranges first.
        var n = try nonce(c.nodes[leader]!)
        for _ in 0..<40 {
            #expect(try transfer(c.nodes[leader]!, nonce: n).0 == 200)
            n += 1
        }
        try c.start("n4", join: true)
        try c.eventually("n4 is a learner with the whole chain") {
            let s = c.status("n4")
            return s?["learners"]?.arrayValue?.contains(.string("n4")) == true
                && s?["headHash"] == c.status(leader)?["headHash"]
        }
        let log = (try? String(contentsOfFile: c.nodes["n4"]!.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("block sync started"), "a newcomer this far behind block-syncs")
        #expect(c.status(leader)?["voters"]?.arrayValue?.count == 3, "no promotion while three voters suffice")

        let leaving = ["n1", "n2", "n3"].first { $0 != leader }!
        let r = try c.nodes[leader]!.json("POST", "/members/remove", ["nodeId": .string(leaving)], authorized: true)
        #expect(r.status == 202, "\(r.body)")
        try c.eventually("n4 is promoted to voter") {
            c.status(leader)?["voters"]?.arrayValue?.contains(.string("n4")) == true
        }
        #expect(try transfer(c.nodes["n4"]!, nonce: n).0 == 200, "the new voter takes transfers")
    }

    @Test func nodeOfAnotherGenesisIsRefusedWithAReason() throws {
        let c = Cluster()
        defer { c.stopAll() }
        try c.start("n1", join: false)
        let other = c.base + "/other.toml"
        _ = FileManager.default.createFile(atPath: other, contents: Data("[genesis]\nchain_id = \"other-chain\"\n".utf8))
        let stranger = try NodeProcess(dataDir: c.base + "/x1", config: other)
        try stranger.start(extraArgs: ["--node-id", "x1", "--peers", c.p2p["n1"]!])
        defer { stranger.stop() }
        try c.eventually("the refusal is logged on both sides") {
            let mine = (try? String(contentsOfFile: c.nodes["n1"]!.logPath, encoding: .utf8)) ?? ""
            let theirs = (try? String(contentsOfFile: stranger.logPath, encoding: .utf8)) ?? ""
            return mine.contains("other-chain") && theirs.contains("autochain-dev")
        }
        #expect(try c.nodes["n1"]!.json("GET", "/peers").body["peers"]?.arrayValue?.isEmpty == true)
    }
}
