import Chain
import Consensus
import Glibc
import Testing
@testable import P2P

/// Misbehaving peers, driven by hand over raw sockets; the network must close only them.
@Suite(.serialized) struct PeerRobustnessTests {
    @Test func test_peers_otherProtocolVersionGetsByeWithReason() throws {
        let a = try TestNode(testIdentity("a"))
        defer { a.network.stop() }
        let raw = try RawPeer(to: a.address, identity: testIdentity("raw"))
        raw.send(raw.hello(protocolVersion: 2))
        #expect(raw.readBye()?.contains("protocol version mismatch") == true)
        #expect(raw.client.isClosedByServer())
        #expect(a.delegate.connectedIds.isEmpty)
    }

    @Test func test_peers_lyingAboutTheNodeKeyIsRefused() throws {
        let a = try TestNode(testIdentity("a"))
        defer { a.network.stop() }
        let raw = try RawPeer(to: a.address, identity: testIdentity("raw"))
        #expect(!raw.handshake(signingKey: KeyPair.generate()))  // hello claims one key, auth signed by another
        #expect(eventually { a.delegate.refusals.contains { $0.contains("bad auth signature") } })
        #expect(a.delegate.connectedIds.isEmpty)
    }

    @Test func test_peers_joinOnlyPeerMaySendJoinButIsDroppedForRaft() throws {
        let delegate = RecordingDelegate()
        delegate.state.withLock { $0.access["raw"] = .joinOnly }
        let a = try TestNode(testIdentity("a"), delegate: delegate)
        defer { a.network.stop() }
        let raw = try RawPeer(to: a.address, identity: testIdentity("raw"))
        #expect(raw.handshake())
        let join = PeerMessage.join(nodeId: "raw", nodeKey: raw.identity.key.publicKey, p2pAddr: "127.0.0.1:9", apiAddr: "x")
        raw.send(join)
        #expect(eventually { delegate.receivedMessages == [join] })
        #expect(a.network.peers.first?.isMember == false)
        raw.send(.raft(Message(from: "raw", to: "a", term: 1, kind: .timeoutNow)))
        #expect(raw.readBye()?.contains("join-only peer sent 'raft'") == true)
        #expect(eventually { a.network.peers.isEmpty && delegate.disconnects.count == 1 })
        #expect(delegate.receivedMessages == [join])
    }

    @Test func test_peers_refusedKeyNeverConnects() throws {
        let delegate = RecordingDelegate()
        delegate.state.withLock { $0.access["raw"] = .refuse(reason: "retired id") }
        let a = try TestNode(testIdentity("a"), delegate: delegate)
        defer { a.network.stop() }
        let raw = try RawPeer(to: a.address, identity: testIdentity("raw"))
        #expect(!raw.handshake())
        #expect(delegate.refusals.contains { $0.contains("retired id") })
        #expect(delegate.connectedIds.isEmpty)
    }

    @Test func test_peers_garbageLineClosesOnlyThatConnection() throws {
        try misbehaveWhileAnotherPeerReceives { raw in raw.client.send("this is not json\n") }
    }

    @Test func test_peers_unknownTypeClosesOnlyThatConnection() throws {
        try misbehaveWhileAnotherPeerReceives { raw in raw.client.send(#"{"type":"teleport"}"# + "\n") }
    }

    @Test func test_peers_oversizedLineClosesOnlyThatConnection() throws {
        try misbehaveWhileAnotherPeerReceives { raw in
            raw.client.send([UInt8](repeating: UInt8(ascii: "x"), count: 70_000))  // no newline, over 64 KiB
        }
    }

    /// `b` is a healthy peer of `a`; a raw peer handshakes, misbehaves, and must be the only one closed.
    private func misbehaveWhileAnotherPeerReceives(_ misbehave: (RawPeer) -> Void) throws {
        var settings = testPeerSettings()
        settings.maxLineBytes = 64 * 1024
        let a = try TestNode(testIdentity("a"), settings: settings)
        let b = try TestNode(testIdentity("b"))
        defer { a.network.stop(); b.network.stop() }
        b.network.addPeerAddress(a.address)
        let raw = try RawPeer(to: a.address, identity: testIdentity("raw"))
        #expect(raw.handshake())
        #expect(eventually { a.connectedPeers == ["b", "raw"] })
        misbehave(raw)
        #expect(raw.readBye() != nil)
        #expect(eventually { a.connectedPeers == ["b"] })
        let message = PeerMessage.getBlocks(from: 1, count: 1)
        #expect(a.network.send(message, to: "b"))
        #expect(eventually { b.delegate.receivedMessages == [message] })
        #expect(b.delegate.disconnects.isEmpty)
    }

    @Test func test_peers_peerThatNeverReadsIsDroppedAtTheQueueBound() throws {
        var settings = testPeerSettings()
        settings.maxWriteQueueBytes = 256 * 1024
        settings.peerDeadAfter = .seconds(30)
        let a = try TestNode(testIdentity("a"), settings: settings)
        defer { a.network.stop() }
        let raw = try RawPeer(to: a.address, identity: testIdentity("raw"))
        #expect(raw.handshake())
        #expect(eventually { a.connectedPeers == ["raw"] })
        let big = PeerMessage.raft(Message(from: "a", to: "raw", term: 1, kind: .append(
            prevIndex: 0, prevTerm: 0, entries: [Entry(index: 1, term: 1, data: Crypto.randomBytes(256 * 1024))], commit: 0)))
        var sends = 0
        // Bound: kernel buffers on loopback hold a few MiB; 400 × 512 KiB is far beyond them.
        while sends < 400, a.network.send(big, to: "raw") { sends += 1; if sends % 8 == 0 { usleep(1_000) } }
        #expect(eventually { a.network.peers.isEmpty })
        #expect(a.delegate.disconnects.contains { $0.contains("writeQueueOverflow") })
    }

    // MARK: - Pre-auth bounds

    @Test func test_peers_strangerSendingMoreThanThePreAuthBudgetIsDropped() throws {
        var settings = testPeerSettings()
        settings.maxPreAuthBytes = 4096
        let a = try TestNode(testIdentity("a"), settings: settings)
        defer { a.network.stop() }
        for junk in [[UInt8](repeating: UInt8(ascii: "x"), count: 5000),  // an unfinished line
                     Array((#"{"type":"hello","pad":""# + String(repeating: " ", count: 5000) + "\"}\n").utf8)] {  // one whole line
            let raw = try RawPeer(to: a.address, identity: testIdentity("raw"))
            raw.client.send(junk)
            #expect(raw.readBye()?.contains("before authentication") == true)
            #expect(raw.client.isClosedByServer())
        }
        #expect(a.network.refusedHandshakes == 2)
        let honest = try RawPeer(to: a.address, identity: testIdentity("honest"))
        #expect(honest.handshake(), "a real handshake fits the budget")
    }

    @Test func test_peers_handshakesFromOneAddressOverTheLimitAreRefusedAtAccept() throws {
        var settings = testPeerSettings()
        settings.maxHandshakesPerAddress = 2
        settings.handshakeTimeout = .seconds(30)
        let a = try TestNode(testIdentity("a"), settings: settings)
        defer { a.network.stop() }
        let silent = try (0..<2).map { _ in try RawClient(a.address) }  // hold two half-open handshakes
        #expect(eventually { silent.allSatisfy { !$0.read(until: "\n", timeout: .milliseconds(200)).isEmpty } })
        let third = try RawClient(a.address)
        #expect(third.isClosedByServer())
        #expect(a.network.refusedHandshakes == 1)
        // Another address still gets through.
        let other = try RawPeer(client: RawClient(a.address, from: "127.0.0.2"), identity: testIdentity("other"))
        #expect(other.handshake())
        withExtendedLifetime(silent) {}
    }
}
