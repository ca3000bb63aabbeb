import Chain
import Consensus
import Foundation
import Testing
@testable import P2P

/// A faulty voter against real node processes: a 3-voter cluster whose third voter is stopped
/// and replaced by a scripted peer holding its node key (so it is a member, authenticated as
/// that voter, over the real secure channel). Whatever it sends is refused (its link closed or
/// its message ignored, with a metric), and the two honest voters keep serving and committing.
@Suite("ProcessTests.HostileMember", .serialized) struct HostileMemberTests {
    static let dev = KeyPair.development

    /// The cluster, the honest voters, and the stolen identity of the third.
    final class Setup: @unchecked Sendable {
        // Unchecked: one test drives one setup from one task.
        let cluster: ClusterTests.Cluster
        let honest: [String]
        let hostileId: String
        let hostileKey: KeyPair
        let genesis: Hash32

        init(config: String? = nil) throws {
            var path: String?
            if let config {
                let dir = TestDirs.make("hostile-config")
                path = dir + "/config.toml"
                _ = FileManager.default.createFile(atPath: path!, contents: Data(config.utf8))
            }
            let c = try ClusterTests.Cluster.three(config: path)
            try c.eventually("a leader") { c.leader(among: ["n1", "n2", "n3"]) != nil }
            c.nodes["n3"]!.stop()
            try c.eventually("a leader among the honest voters") { c.leader(among: ["n1", "n2"]) != nil }
            let keyFile = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: c.base + "/n3/node.key"))))
            hostileKey = KeyPair(seed: Hex.decode(try #require(keyFile["seed"]?.stringValue))!)
            genesis = try #require(Hash32(hex: c.status("n1")?["genesisHash"]?.stringValue ?? ""))
            cluster = c
            hostileId = "n3"
            honest = ["n1", "n2"]
        }

        var leader: String { cluster.leader(among: honest) ?? "n1" }
        var follower: String { honest.first { $0 != leader }! }
        func node(_ id: String) -> NodeProcess { cluster.nodes[id]! }

        /// The scripted voter, connected to `target` and accepted as a member.
        func connect(to target: String, height: UInt64 = 0) throws -> AdversarialNodeTests.Stranger {
            let peer = try AdversarialNodeTests.Stranger(try #require(cluster.p2p[target]), genesis: genesis, height: height,
                                                         nodeId: hostileId, key: hostileKey)
            guard peer.handshake() else { throw TestFailure("the stolen voter identity was not accepted by \(target)") }
            return peer
        }

        func term(_ id: String) -> UInt64 { UInt64(cluster.status(id)?["term"]?.intValue ?? 0) }
        func height(_ id: String) -> UInt64 { UInt64(cluster.status(id)?["height"]?.intValue ?? 0) }

        func metrics(_ id: String) -> String { (try? node(id).request("GET", "/metrics").bodyText) ?? "" }

        /// Waits (bounded) until `id`'s metrics show `line` (a sample line's prefix).
        func expectMetric(_ id: String, _ line: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let deadline = Date().addingTimeInterval(30)
            while !metrics(id).contains(line), Date() < deadline { usleep(50_000) }
            #expect(metrics(id).contains(line), "\(id) metrics lack \(line):\n\(node(id).tailOfLog().suffix(2000))",
                    sourceLocation: sourceLocation)
        }

        /// The honest voters still serve, and a transfer submitted now commits on both.
        func expectClusterStillCommits(_ after: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            try cluster.eventually("a leader among the honest voters after \(after)") { cluster.leader(among: honest) != nil }
            let via = node(leader)
            let nonce = UInt64(try via.json("GET", "/balance/\(HostileMemberTests.dev.address.hex)").body["nonce"]?.intValue ?? 0)
            let tx = Transaction.signed(chainId: "autochain-dev", to: KeyPair.generate().address, amount: 1, fee: 1, nonce: nonce,
                                        keyPair: HostileMemberTests.dev)
            var committed = false
            for _ in 0..<5 where !committed {  // bounded: a submission can race a leader change
                committed = (try? via.json("POST", "/submit-tx?wait=commit", tx.json))?.status == 200
                    || (try? via.json("GET", "/tx/\(tx.hash.hex)"))?.body["status"]?.stringValue == "committed"
                if !committed { usleep(200_000) }
            }
            #expect(committed, "no commit after \(after)", sourceLocation: sourceLocation)
            try cluster.eventually("the transfer on every honest voter after \(after)") {
                honest.allSatisfy { (try? node($0).json("GET", "/tx/\(tx.hash.hex)"))?.body["status"]?.stringValue == "committed" }
            }
        }

        func stop() { cluster.stopAll() }
    }

    /// `promtool check metrics` on `exposition`, when promtool is installed.
    static func promtoolCheck(_ exposition: String) -> (passed: Bool, output: String)? {
        let tool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let tool else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = output
        guard (try? p.run()) != nil else { return nil }
        input.fileHandleForWriting.write(Data(exposition.utf8))
        try? input.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus == 0, text)
    }

    static func append(from: String, to: String, term: UInt64, at index: UInt64, _ data: [UInt8]) -> PeerMessage {
        .raft(Message(from: from, to: to, term: term,
                      kind: .append(prevIndex: index - 1, prevTerm: term, entries: [Entry(index: index, term: term, data: data)], commit: 0)))
    }

    @Test func raftMessagesInAnotherMembersName_closeTheLink() throws {
        let s = try Setup()
        defer { s.stop() }
        let follower = s.follower
        let hostile = try s.connect(to: follower)
        hostile.send(.raft(Message(from: s.leader, to: follower, term: s.term(follower) + 1, kind: .timeoutNow)))
        let bye = hostile.readBye()
        #expect(bye?.contains("raft message from '\(s.leader)'") == true, "\(String(describing: bye))")
        try s.expectClusterStillCommits("a raft message in another member's name")
    }

    @Test func junkEntries_areRefusedAtTheDoor_neverAppended() throws {
        let s = try Setup()
        defer { s.stop() }
        let follower = s.follower
        let hostile = try s.connect(to: follower)
        let term = s.term(follower)
        let index = s.height(follower) + 1
        // Undecodable bytes, and a well-formed block of this term signed by a key that is not
        // the sender's (the leader of a term signs its blocks).
        hostile.send(Self.append(from: s.hostileId, to: follower, term: term, at: index, Array("junk".utf8)))
        let forged = Block.make(height: index, prevHash: .zero, stateRoot: .zero, timestamp: 1, term: term, txs: [],
                                proposerKey: KeyPair.generate())
        hostile.send(Self.append(from: s.hostileId, to: follower, term: term, at: index, forged.encode()))
        s.expectMetric(follower, #"autochain_peer_refused_total{reason="undecodable_entry"} 1"#)
        s.expectMetric(follower, #"autochain_peer_refused_total{reason="wrong_signer"} 1"#)
        #expect(s.node(follower).tailOfLog().contains("peer message refused"))
        let exposition = s.metrics(follower)
        #expect(MetricsExpositionTests.problems(exposition).isEmpty, "\(MetricsExpositionTests.problems(exposition))")
        if let verdict = Self.promtoolCheck(exposition) { #expect(verdict.passed, "promtool: \(verdict.output)") }
        try s.expectClusterStillCommits("junk entries")
        try s.cluster.eventually("the honest voters on one head") { Set(s.cluster.heads(s.honest)).count == 1 }
        #expect((try s.node(follower).json("GET", "/block/\(index)")).body["hash"]?.stringValue != forged.hash.hex)
    }

    @Test func aFakeHeight_cannotPinAFollowerInBlockSync() throws {
        let s = try Setup(config: "[p2p]\nsync_request_timeout_ms = 500\nsync_ignore_peer_ms = 600000\n")
        defer { s.stop() }
        let follower = s.follower
        let fake = UInt64(Int64.max)
        let hostile = try s.connect(to: follower, height: fake)
        // It claims a height it never serves (it answers no getBlocks) and keeps claiming it.
        let deadline = Date().addingTimeInterval(45)
        var sawSync = false
        var resynced = false
        while Date() < deadline, !resynced {
            hostile.send(.ping(height: fake))
            let state = s.cluster.status(follower)?["sync"]?["state"]?.stringValue
            if state == "syncing" { sawSync = true }
            resynced = sawSync && state == "synced" && (try? s.node(follower).request("GET", "/health/ready"))?.status == 200
            usleep(50_000)
        }
        #expect(resynced, "the follower did not leave block sync: \(String(describing: s.cluster.status(follower)))")
        // Its claim is ignored from now on: pinged again, the follower stays synced and ready.
        let hold = Date().addingTimeInterval(1.5)
        while Date() < hold {
            hostile.send(.ping(height: fake))
            #expect(s.cluster.status(follower)?["sync"]?["state"]?.stringValue == "synced")
            usleep(100_000)
        }
        try s.expectClusterStillCommits("a fake height")
        withExtendedLifetime(hostile) {}
    }
}

extension HostileMemberTests {
    /// A Raft line whose term is UInt64.max: past what the wire's numbers carry (2^63 - 1), so
    /// the encoder cannot write it; the test writes the digits itself.
    static func lineWithTermUInt64Max(_ kind: Message.Kind, from: String, to: String) -> [UInt8] {
        let line = String(decoding: PeerMessage.raft(Message(from: from, to: to, term: UInt64(Int64.max), kind: kind)).encodedLine(),
                          as: UTF8.self)
        return Array(line.replacingOccurrences(of: "\"term\":\(Int64.max)", with: "\"term\":\(UInt64.max)").utf8)
    }

    @Test func aTermOfUInt64Max_closesTheLink_andTheClusterCommits() throws {
        let s = try Setup()
        defer { s.stop() }
        let follower = s.follower
        let termBefore = s.term(follower)
        for kind: Message.Kind in [.heartbeat(commit: 1), .preVote(lastIndex: 1, lastTerm: 1), .timeoutNow] {
            let hostile = try s.connect(to: follower)
            let line = Self.lineWithTermUInt64Max(kind, from: s.hostileId, to: follower)
            #expect(String(decoding: line, as: UTF8.self).contains("\(UInt64.max)"))
            hostile.peer.sendRaw(hostile.peer.channel.seal(line: line))
            let bye = hostile.readBye()
            #expect(bye != nil, "\(kind): link not closed")
        }
        try s.expectClusterStillCommits("terms of UInt64.max")
        #expect(s.term(follower) < UInt64(Int64.max) && s.term(follower) >= termBefore)
        #expect(s.node(follower).process?.isRunning == true, "\(s.node(follower).tailOfLog().suffix(2000))")
    }
}
