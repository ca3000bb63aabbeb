import Chain
import Consensus
import Foundation
import Testing
@testable import P2P

/// Plays the attacker against real node processes: every request-target form, oversized and
/// malformed input, absurd numbers, floods that hit each limit, and junk on the peer port.
/// After each attack: a clear error (status and code), the process still serving, and the
/// transfer acknowledged before the attack still committed.
@Suite("ProcessTests.Adversarial", .serialized) struct AdversarialNodeTests {
    static let dev = KeyPair.development

    /// A node with a known peer port, and one transfer it acknowledged as committed.
    final class Target: @unchecked Sendable {
        // Unchecked: one test drives one target from one task.
        let node: NodeProcess
        let p2pAddr: String
        private(set) var acknowledged: Hash32?

        init(config: String = "") throws {
            let dir = TestDirs.make("adversarial")
            let path = dir + "/config.toml"
            _ = FileManager.default.createFile(atPath: path, contents: Data(config.utf8))
            node = try NodeProcess(dataDir: dir + "/data", config: path)
            p2pAddr = "127.0.0.1:\(try freePort())"
            try node.start(extraArgs: ["--node-id", "target", "--p2p-addr", p2pAddr])
            let tx = Transaction.signed(chainId: "autochain-dev", to: KeyPair.generate().address, amount: 5, fee: 1, nonce: 0,
                                        keyPair: AdversarialNodeTests.dev)
            let r = try node.json("POST", "/submit-tx?wait=commit", tx.json)
            guard r.status == 200 else { throw TestFailure("setup transfer not committed: \(r.body)") }
            acknowledged = tx.hash
        }

        func stop() { node.stop() }

        /// One raw request on its own connection; its answer.
        func raw(_ head: String, body: [UInt8] = []) throws -> RawAnswer {
            let socket = try RawSocket(node.apiAddr)
            socket.send(Array(head.utf8) + body)
            return RawAnswer(socket.readResponse())
        }

        /// Still serving (within a bounded wait for the attacker's connections to close), and
        /// what it acknowledged is still committed.
        func expectServingAndNothingLost(_ after: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let deadline = Date().addingTimeInterval(30)
            var live = try? node.request("GET", "/health/live")
            while live?.status != 200, Date() < deadline {
                usleep(20_000)
                live = try? node.request("GET", "/health/live")
            }
            #expect(live?.status == 200, "not serving after \(after):\n\(node.tailOfLog())", sourceLocation: sourceLocation)
            guard let hash = acknowledged else { return }
            var tx = try? node.json("GET", "/tx/\(hash.hex)")
            while tx?.status == 503, Date() < deadline {  // overloaded: retry shortly, as it says
                usleep(20_000)
                tx = try? node.json("GET", "/tx/\(hash.hex)")
            }
            #expect(tx?.body["status"]?.stringValue == "committed", "acknowledged transfer lost after \(after)", sourceLocation: sourceLocation)
        }
    }

    static func request(_ method: String, _ target: String, _ extra: String = "", body: [UInt8] = []) -> String {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra
        if !body.isEmpty || method == "POST" { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        return head + "\r\n"
    }

    // MARK: - REST

    @Test func everyRequestTargetForm_getsAStatusAndACode_andTheNodeServesOn() throws {
        let t = try Target()
        defer { t.stop() }
        let base = "http://\(t.node.apiAddr)"
        let cases: [(method: String, target: String, status: Int, code: String?)] = [
            ("GET", "/status", 200, nil),                                 // origin form
            ("GET", base + "/status", 200, nil),                          // absolute form
            ("GET", base, 404, "not_found"),                              // absolute form, no path
            ("GET", "https://elsewhere.example/chain/head", 200, nil),    // absolute form, another host
            ("POST", base + "/submit-tx?wait=commit", 400, "invalid_json"),  // absolute form to a mutating route, empty body
            ("CONNECT", t.node.apiAddr, 404, "not_found"),                // authority form
            ("POST", t.node.apiAddr, 404, "not_found"),
            ("OPTIONS", "*", 404, "not_found"),                           // asterisk form
            ("GET", "*", 404, "not_found"),
            ("GET", "//status", 404, "not_found"),
            ("GET", "/block/../status", 404, "not_found"),
            ("GET", "/tx/%00%ff", 400, "invalid_hash"),
            ("GET", "/status#frag", 200, nil),
            ("GET", "http:/status", 404, "not_found"),
            ("DELETE", "/submit-tx", 405, "method_not_allowed"),
            ("BREW", "/status", 405, "method_not_allowed"),
        ]
        for c in cases {
            let answer = try t.raw(Self.request(c.method, c.target))
            #expect(answer.status == c.status && answer.code == c.code, "\(c.method) \(c.target) → \(answer)")
        }
        t.expectServingAndNothingLost("every request-target form")
    }

    @Test func oversizedAndMalformedInput_getsClearErrors() throws {
        let t = try Target(config: "[api]\nmax_batch_txs = 10\nmax_body_bytes = 4096\n")
        defer { t.stop() }
        let tx = Transaction.signed(chainId: "autochain-dev", to: KeyPair.generate().address, amount: 1, fee: 1, nonce: 1, keyPair: Self.dev)
        let batch = JSON.object(JSONObject([("txs", .array(Array(repeating: tx.json, count: 11)))])).serialized()
        let absurdTx = #"{"chainId":"autochain-dev","from":"0x0000000000000000000000000000000000000001","to":"0x0000000000000000000000000000000000000002","amount":18446744073709551616,"fee":-1,"nonce":1e999,"publicKey":"0x00","signature":"0x00"}"#
        let cases: [(what: String, head: String, body: [UInt8], status: Int, code: String)] = [
            ("oversized header", Self.request("GET", "/status", "X-Big: \(String(repeating: "a", count: 20_000))\r\n"), [], 431, "headers_too_large"),
            ("oversized request line", Self.request("GET", "/tx/" + String(repeating: "a", count: 9_000)), [], 414, "uri_too_long"),
            ("oversized body", "POST /submit-tx HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", [UInt8](repeating: 0x20, count: 5000), 413, "body_too_large"),
            ("huge Content-Length", "POST /submit-tx HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", [], 400, "bad_request"),
            ("oversized batch", Self.request("POST", "/submit-txs", body: batch), batch, 413, "batch_too_large"),
            ("malformed JSON", Self.request("POST", "/submit-tx", body: Array("{\"a\":".utf8)), Array("{\"a\":".utf8), 400, "invalid_json"),
            ("deep JSON", Self.request("POST", "/submit-tx", body: Array(repeating: 0x5B, count: 4000)), Array(repeating: 0x5B, count: 4000), 400, "invalid_json"),
            ("absurd numbers", Self.request("POST", "/submit-tx", body: Array(absurdTx.utf8)), Array(absurdTx.utf8), 400, "invalid_json"),
            ("malformed chunk size", "POST /submit-tx HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", [], 400, "bad_request"),
            ("chunk size overflow", "POST /submit-tx HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffff\r\n", [], 413, "body_too_large"),
            ("two Content-Lengths", "POST /submit-tx HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", [], 400, "bad_request"),
            ("height past UInt64", Self.request("GET", "/block/18446744073709551616"), [], 400, "invalid_height"),
            ("largest height", Self.request("GET", "/block/18446744073709551615"), [], 404, "not_found"),
            ("bad wait mode", Self.request("POST", "/submit-tx?wait=forever", body: tx.json.serialized()), tx.json.serialized(), 400, "invalid_query"),
            ("unknown version", "GET /status HTTP/9.9\r\nHost: x\r\n\r\n", [], 505, "http_version_not_supported"),
        ]
        for c in cases {
            let answer = try t.raw(c.head, body: c.body)
            #expect(answer.status == c.status && answer.code == c.code, "\(c.what) → \(answer)")
        }
        t.expectServingAndNothingLost("oversized and malformed input")
    }

    // MARK: - Floods

    @Test func connectionsFromOneAddressOverTheLimit_areRefused_othersServed() throws {
        let t = try Target(config: "[api]\nmax_connections_per_address = 3\n")
        defer { t.stop() }
        var held: [RawSocket]? = try (0..<3).map { _ in try RawSocket(t.node.apiAddr) }
        for socket in held! { socket.send("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n") }
        #expect(held!.allSatisfy { RawAnswer($0.readResponse()).status == 200 })
        let refused = RawAnswer(try RawSocket(t.node.apiAddr).readUntilClose())
        #expect(refused.status == 503 && refused.code == "too_many_connections", "\(refused)")
        let metrics = RawAnswer(held![0].send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n") ? held![0].readResponse() : "")
        #expect(metrics.text.contains("autochain_http_refused_connections_total 1"), "\(metrics.text.suffix(2000))")
        held = nil  // the attacker leaves: its places come back
        t.expectServingAndNothingLost("a connection flood from one address")
    }

    @Test func bodiesOverTheInFlightBudget_get503Overloaded() throws {
        let t = try Target(config: "[api]\nmax_body_bytes = 40000\nmax_batch_body_bytes = 40000\nmax_body_bytes_in_flight = 50000\n")
        defer { t.stop() }
        // A slow client holds 40 KB of announced body; the next 20 KB does not fit.
        let slow = try RawSocket(t.node.apiAddr)
        slow.send("POST /submit-tx HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40000\r\n\r\n{")
        let deadline = Date().addingTimeInterval(30)
        var answer = RawAnswer("")
        repeat {  // bounded: until the slow request's head was read (its body reserved)
            let body = [UInt8](repeating: 0x20, count: 20_000)
            answer = try t.raw("POST /submit-tx HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20000\r\n\r\n", body: body)
        } while answer.status != 503 && Date() < deadline
        #expect(answer.status == 503 && answer.code == "overloaded", "\(answer)")
        withExtendedLifetime(slow) {}
        t.expectServingAndNothingLost("a body flood")
    }

    @Test func requestsOverTheWorkQueueBound_get503Overloaded() throws {
        let t = try Target(config: "[api]\nmax_queued_requests = 1\n")
        defer { t.stop() }
        // A large batch keeps the one work slot busy (signature checks); a read meanwhile is refused.
        let key = KeyPair.generate()
        let txs = (0..<10_000).map { i in
            Transaction.signed(chainId: "autochain-dev", to: Self.dev.address, amount: 1, fee: 1, nonce: UInt64(i), keyPair: key).json
        }
        let body = JSON.object(JSONObject([("txs", .array(txs))])).serialized()
        var refused: RawAnswer?
        for _ in 0..<5 where refused == nil {  // bounded: each round is one busy batch
            let batch = try RawSocket(t.node.apiAddr)
            batch.send(Array(Self.request("POST", "/submit-txs", body: body).utf8) + body)
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let read = try t.raw(Self.request("GET", "/block/1"))
                if read.status == 503 { refused = read; break }
                usleep(1_000)
            }
            _ = batch.readResponse(timeout: .seconds(30))
        }
        #expect(refused?.code == "overloaded", "\(String(describing: refused))")
        t.expectServingAndNothingLost("a work-queue flood")
    }

    // MARK: - Peer port

    /// A stranger on the peer port: it has a key of its own and (unless told otherwise) the
    /// cluster credential, so it gets as far as join-only. It speaks the real secure channel.
    final class Stranger {
        let socket: RawSocket
        let key: KeyPair
        let peer: ChannelPeer

        init(_ address: String, genesis: Hash32 = Hash32(bytes: [UInt8](repeating: 0, count: 32))!, height: UInt64 = 0,
             credential: String? = NodeProcess.testCredential, nodeId: String = "stranger", key: KeyPair = .generate()) throws {
            socket = try RawSocket(address)
            self.key = key
            let context = ChannelContext(
                version: PeerLimits.channelVersion, chainId: "autochain-dev", genesisHash: genesis, credential: credential,
                maxMessageBytes: 16 << 20, nodeKey: key, nodeId: nodeId, p2pAddr: "127.0.0.1:9", apiAddr: "127.0.0.1:1",
                height: height)
            peer = ChannelPeer(fd: socket.fd, context: context)
        }

        func send(_ message: PeerMessage) { peer.send(message) }
        func readMessage(timeout: Duration = .seconds(20)) -> PeerMessage? { peer.readMessage(timeout: timeout) }
        func readBye() -> String? { peer.readBye() }

        /// The channel, then peers both ways; true when the node accepted it (as join-only).
        func handshake() -> Bool {
            guard peer.openChannel(), case .peers? = readMessage() else { return false }
            send(.peers([]))
            return true
        }
    }

    static func genesis(of t: Target) throws -> Hash32 {
        try #require(Hash32(hex: try t.node.json("GET", "/status").body["genesisHash"]?.stringValue ?? ""))
    }

    @Test func junkOnThePeerPort_isClosedPerConnection_andTheNodeServesOn() throws {
        let t = try Target()
        defer { t.stop() }
        let inputs: [(what: String, bytes: [UInt8])] = [
            ("junk", Array("junk\n".utf8)),
            ("invalid UTF-8", [0xFF, 0xFE, 0x00, 0x0A]),
            ("oversized pre-auth input", [UInt8](repeating: 0x7B, count: 100_000)),
            ("plaintext JSON instead of a preamble", Array(#"{"type":"getBlocks","from":1,"count":1}"#.utf8) + [0x0A]),
            ("a zero ephemeral key", Array("ACHN".utf8) + [0, 2] + [UInt8](repeating: 0, count: 32)),
        ]
        for input in inputs {
            let s = try Stranger(t.p2pAddr)
            s.peer.sendRaw(input.bytes)
            #expect(s.peer.isClosedByPeer(), "\(input.what): not closed")
        }
        t.expectServingAndNothingLost("junk on the peer port")
    }

    @Test func strangerWithoutTheCredential_cannotOpenTheChannel() throws {
        let t = try Target()
        defer { t.stop() }
        for credential in [nil, "a-guessed-credential-0000"] {
            let s = try Stranger(t.p2pAddr, genesis: try Self.genesis(of: t), credential: credential)
            #expect(!s.peer.openChannel())
            #expect(s.peer.failure == .authFrameUnopenable)
        }
        // The node logs each refusal on its own loop: wait (bounded) for both lines to be written.
        let refusals = { t.node.tailOfLog().components(separatedBy: "wrong cluster credential").count - 1 }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, refusals() < 2 { usleep(20_000) }
        #expect(refusals() >= 2)
        t.expectServingAndNothingLost("strangers without the credential")
    }

    @Test func relayedAndReflectedHandshakeSignatures_areRefused() throws {
        let t = try Target()
        defer { t.stop() }
        let genesis = try Self.genesis(of: t)
        // Connection A: an honest handshake; keep what each side signed there.
        let a = try Stranger(t.p2pAddr, genesis: genesis)
        #expect(a.peer.openChannel())
        let nodeAuth = try #require(a.peer.peerAuth)
        let ourAuthOnA = a.peer.channel.ourAuth(transcript: try #require(a.peer.channel.transcript))
        // Connection B relays the stranger's signature from A; connection C reflects the node's own.
        for (what, auth) in [("relayed", ourAuthOnA), ("reflected", nodeAuth)] {
            let b = try Stranger(t.p2pAddr, genesis: genesis)
            b.peer.channel.authOverride = { _ in var forged = auth; forged.nodeId = "forger"; return forged }
            _ = b.peer.openChannel()
            #expect(b.peer.isClosedByPeer(), "\(what) signature: not closed")
        }
        let log = t.node.tailOfLog()
        #expect(log.components(separatedBy: "bad auth signature").count - 1 >= 2, "\(log.suffix(2000))")
        withExtendedLifetime(a) {}
        t.expectServingAndNothingLost("relayed and reflected signatures")
    }

    @Test func tamperedReplayedOversizedAndTruncatedFrames_closeThatConnectionOnly() throws {
        let t = try Target()
        defer { t.stop() }
        let genesis = try Self.genesis(of: t)
        let attacks: [(what: String, act: (Stranger) -> Void)] = [
            ("tampered", { s in var f = s.peer.channel.seal(line: PeerMessage.ping(height: 0).encodedLine()); f[6] ^= 1; s.peer.sendRaw(f) }),
            ("replayed", { s in let f = s.peer.channel.seal(line: PeerMessage.ping(height: 0).encodedLine()); s.peer.sendRaw(f + f) }),
            ("oversized", { s in s.peer.sendRaw([0xFF, 0xFF, 0xFF, 0xFF]) }),
        ]
        for attack in attacks {
            let s = try Stranger(t.p2pAddr, genesis: genesis)
            #expect(s.handshake(), "\(attack.what)")
            attack.act(s)
            #expect(s.readBye() != nil, "\(attack.what): no bye")
        }
        let cut = try Stranger(t.p2pAddr, genesis: genesis)
        #expect(cut.handshake())
        let frame = cut.peer.channel.seal(line: PeerMessage.ping(height: 0).encodedLine())
        cut.peer.sendRaw(Array(frame.prefix(10)))
        shutdown(cut.socket.fd, Int32(SHUT_WR))
        #expect(cut.peer.isClosedByPeer())
        let deadline = Date().addingTimeInterval(30)
        while !t.node.tailOfLog().contains("truncated"), Date() < deadline { usleep(20_000) }
        #expect(t.node.tailOfLog().contains("truncated"))
        t.expectServingAndNothingLost("hostile frames")
    }

    /// A node that holds the credential but is not a member (join-only): it may read blocks and
    /// ask to join, nothing else, and absurd values change nothing.
    @Test func joinOnlyPeer_absurdGetBlocksAndForgedRaft_changeNothing() throws {
        let t = try Target()
        defer { t.stop() }
        let status = try t.node.json("GET", "/status").body
        let genesis = try #require(Hash32(hex: status["genesisHash"]?.stringValue ?? ""))
        let termBefore = status["term"]?.intValue
        let s = try Stranger(t.p2pAddr, genesis: genesis)
        #expect(s.handshake(), "a node with the credential and a key of its own is join-only")
        // The largest start a message can carry, the largest count: an empty answer, no overflow.
        s.send(.getBlocks(from: UInt64(Int64.max), count: PeerLimits.maxBlocksPerMessage))
        var answered = false
        for _ in 0..<16 where !answered { if case .blocks(let b)? = s.readMessage() { answered = b.isEmpty } }
        #expect(answered)
        // A flood of reads: beyond max_pending_peer_requests they are dropped, nothing grows.
        let line = PeerMessage.getBlocks(from: 1, count: PeerLimits.maxBlocksPerMessage).encodedLine()
        s.peer.sendRaw((0..<5_000).flatMap { _ in s.peer.channel.seal(line: line) })
        // A forged Raft message with a huge term from a non-member: refused, the term stays.
        s.send(.raft(Message(from: "stranger", to: "target", term: UInt64(Int64.max), kind: .timeoutNow)))
        let bye = s.readBye()
        #expect(bye?.contains("join-only") == true, "\(String(describing: bye)) \(String(describing: s.peer.failure)) \(t.node.tailOfLog().suffix(1500))")
        #expect(try t.node.json("GET", "/status").body["term"]?.intValue == termBefore)
        t.expectServingAndNothingLost("an authenticated stranger's requests")
    }

    /// Found by the hostile simulator: a fresh `--join` node (no members known yet) stepped every
    /// sender's Raft messages (it followed a stranger as leader; committed junk that decodes halted
    /// it). It now hears only the peers it was told to join (docs/SECURITY.md, "A fresh node").
    @Test func aStranger_isNotFollowedByAFreshJoiningNode() throws {
        let node = try NodeProcess(dataDir: TestDirs.make("fresh-join"))
        defer { node.stop() }
        let p2p = "127.0.0.1:\(try freePort())"
        let nowhere = "127.0.0.1:\(try freePort())"  // the cluster it was told to join is not up
        try node.start(extraArgs: ["--node-id", "fresh", "--p2p-addr", p2p, "--peers", nowhere, "--join"], waitUntilReady: false)
        var status: JSON?
        let deadline = Date().addingTimeInterval(60)
        while status == nil, Date() < deadline {
            status = try? node.json("GET", "/status").body
            if status == nil { usleep(20_000) }
        }
        let genesis = try #require(Hash32(hex: status?["genesisHash"]?.stringValue ?? ""))
        let s = try Stranger(p2p, genesis: genesis)
        #expect(s.handshake())
        s.send(.raft(Message(from: "stranger", to: "fresh", term: 5, kind: .heartbeat(commit: 0))))
        let refused = "autochain_raft_refused_messages_total{reason=\"not_member\"} 1"
        let until = Date().addingTimeInterval(30)
        var metrics = ""
        while !metrics.contains(refused), Date() < until, node.process?.isRunning == true {
            metrics = (try? node.request("GET", "/metrics")).map { String(decoding: $0.body, as: UTF8.self) } ?? ""
            usleep(20_000)
        }
        #expect(metrics.contains(refused), "\(node.tailOfLog())")
        #expect(node.process?.isRunning == true, "\(node.tailOfLog())")
        #expect(metrics.contains("autochain_raft_term 0"), "the stranger's term was not taken")
        withExtendedLifetime(s) {}
    }

    /// Regression: a non-member's hello claiming a huge height made a follower believe it was far
    /// behind: it switched to block sync (asking that peer for blocks) and reported not ready.
    /// (The peer here holds the credential; without it the handshake already fails.)
    @Test func strangerClaimingAHugeHeight_doesNotPutAFollowerIntoSync() throws {
        let c = try ClusterTests.Cluster.three()
        defer { c.stopAll() }
        try c.eventually("a leader") { c.leader(among: ["n1", "n2", "n3"]) != nil }
        let leader = try #require(c.leader(among: ["n1", "n2", "n3"]))
        let id = ["n1", "n2", "n3"].first { $0 != leader }!
        let follower = try #require(c.nodes[id])
        let genesis = try #require(Hash32(hex: try follower.json("GET", "/status").body["genesisHash"]?.stringValue ?? ""))
        let s = try Stranger(try #require(c.p2p[id]), genesis: genesis, height: UInt64(Int64.max))
        #expect(s.handshake())
        s.send(.ping(height: UInt64(Int64.max)))
        // Bounded look over many runtime rounds: the follower stays synced and ready.
        let deadline = Date().addingTimeInterval(1.5)
        while Date() < deadline {
            let status = try follower.json("GET", "/status").body
            let ready = try follower.request("GET", "/health/ready").status
            #expect(status["sync"]?["state"]?.stringValue == "synced" && ready == 200, "\(status)")
            if ready != 200 { break }
            usleep(100_000)
        }
        withExtendedLifetime(s) {}
    }

    @Test func aJoinOnlyConnection_expiresAfterItsTimeout() throws {
        let t = try Target(config: "[p2p]\njoin_only_timeout_ms = 500\n")
        defer { t.stop() }
        let s = try Stranger(t.p2pAddr, genesis: try Self.genesis(of: t))
        #expect(s.handshake())
        let bye = s.readBye()
        #expect(bye?.contains("join-only connection expired") == true, "\(String(describing: bye))")
        let metrics = try t.node.request("GET", "/metrics").bodyText
        #expect(metrics.contains(#"autochain_peer_refused_total{reason="join_only_expired"} 1"#), "\(metrics.suffix(1500))")
        t.expectServingAndNothingLost("an expired join-only connection")
    }

    @Test func getBlocksFloodFromOnePeer_isBoundedPerPeer() throws {
        let t = try Target(config: "[p2p]\nmax_pending_requests_per_peer = 1\n")
        defer { t.stop() }
        let s = try Stranger(t.p2pAddr, genesis: try Self.genesis(of: t))
        #expect(s.handshake())
        let line = PeerMessage.getBlocks(from: 1, count: PeerLimits.maxBlocksPerMessage).encodedLine()
        s.peer.sendRaw((0..<2_000).flatMap { _ in s.peer.channel.seal(line: line) })
        let deadline = Date().addingTimeInterval(30)
        var metrics = ""
        repeat {
            metrics = try t.node.request("GET", "/metrics").bodyText
            usleep(20_000)
        } while !metrics.contains(#"autochain_peer_refused_total{reason="peer_request_limit"}"#) && Date() < deadline
        #expect(metrics.contains(#"autochain_peer_refused_total{reason="peer_request_limit"}"#), "\(metrics.suffix(1500))")
        withExtendedLifetime(s) {}
        t.expectServingAndNothingLost("a getBlocks flood from one peer")
    }

    @Test func handshakesFromOneAddressOverTheLimit_areClosedAtAccept() throws {
        let t = try Target(config: "[p2p]\nmax_handshakes_per_address = 2\n")
        defer { t.stop() }
        let held = try (0..<2).map { _ in try Stranger(t.p2pAddr) }
        for s in held { #expect(s.socket.read { $0.contains("ACHN") }.contains("ACHN"), "the node greets a new connection with its preamble") }
        let third = try Stranger(t.p2pAddr)
        #expect(third.socket.readUntilClose().isEmpty, "closed at accept, without a preamble")
        let metrics = try t.node.request("GET", "/metrics").bodyText
        #expect(metrics.contains("autochain_p2p_refused_handshakes_total 1"), "\(metrics.suffix(1500))")
        withExtendedLifetime(held) {}
        t.expectServingAndNothingLost("a handshake flood")
    }
}
