import Chain
import Consensus
import Glibc
import Testing
@testable import P2P

/// Misbehaving peers, driven by hand over raw sockets; the network must close only them.
@Suite(.serialized) struct PeerRobustnessTests {
    @Test func test_peers_otherProtocolVersionIsClosedWithAReason() throws {
        let a = try TestNode(testIdentity("a"))
        defer { a.network.stop() }
        let raw = try RawPeer(to: a.address, identity: testIdentity("raw"), version: 1)
        #expect(!raw.peer.openChannel())
        #expect(raw.peer.failure?.description.contains("protocol version mismatch") == true)
        #expect(raw.client.isClosedByServer())
        #expect(eventually { a.delegate.refusals.contains { $0.contains("protocol version mismatch: ours 3, theirs 1") } })
        #expect(a.delegate.connectedIds.isEmpty)
    }

    @Test func test_peers_lyingAboutTheNodeKeyIsRefused() throws {
        let a = try TestNode(testIdentity("a"))
        defer { a.network.stop() }
        let raw = try RawPeer(to: a.address, identity: testIdentity("raw"))
        let claimed = KeyPair.generate().publicKey
        raw.peer.channel.authOverride = { [channel = raw.peer.channel] transcript in
            var auth = channel.ourAuth(transcript: transcript)
            auth.nodeKey = claimed  // claims one key, signed by another
            return auth
        }
        #expect(!raw.handshake())
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

    /// A member may speak only for itself: a Raft message naming another sender, or addressed
    /// to another node, closes that link and reaches nothing.
    @Test func test_peers_raftFromAnotherIdentityOrToAnotherNode_isRefused() throws {
        for (from, to) in [("c", "a"), ("raw", "b")] {
            let delegate = RecordingDelegate()
            delegate.state.withLock { $0.access["raw"] = .member }
            let a = try TestNode(testIdentity("a"), delegate: delegate)
            defer { a.network.stop() }
            let raw = try RawPeer(to: a.address, identity: testIdentity("raw"))
            #expect(raw.handshake())
            raw.send(.raft(Message(from: from, to: to, term: 7, kind: .timeoutNow)))
            #expect(raw.readBye()?.contains("on the link of 'raw'") == true, "from \(from) to \(to)")
            #expect(eventually { a.network.peers.isEmpty })
            #expect(delegate.receivedMessages.isEmpty)
        }
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

    @Test func test_peers_garbageMessageClosesOnlyThatConnection() throws {
        try misbehaveWhileAnotherPeerReceives { raw in raw.peer.sendRaw(raw.peer.channel.seal(line: Array("this is not json".utf8))) }
    }

    @Test func test_peers_unknownTypeClosesOnlyThatConnection() throws {
        try misbehaveWhileAnotherPeerReceives { raw in raw.peer.sendRaw(raw.peer.channel.seal(line: Array(#"{"type":"teleport"}"#.utf8))) }
    }

    @Test func test_peers_oversizedFrameClosesOnlyThatConnection() throws {
        try misbehaveWhileAnotherPeerReceives { raw in
            raw.peer.sendRaw(raw.peer.channel.seal(line: [UInt8](repeating: UInt8(ascii: "x"), count: 70_000)))  // over 64 KiB
        }
    }

    @Test func test_peers_plaintextAfterTheHandshakeClosesOnlyThatConnection() throws {
        try misbehaveWhileAnotherPeerReceives { raw in
            // An unsealed message with a plausible length prefix: it does not open.
            let line = PeerMessage.ping(height: 1).encodedLine()
            raw.peer.sendRaw([0, 0, 0, UInt8(line.count)] + line)
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
        // The snapshot drops the peer just before the delegate hears of it: wait for both.
        #expect(eventually { a.delegate.disconnects.contains { $0.contains("writeQueueOverflow") } })
    }

    // MARK: - Pre-auth bounds

    @Test func test_peers_strangerSendingMoreThanThePreAuthBudgetIsDropped() throws {
        var settings = testPeerSettings()
        settings.maxPreAuthBytes = 200  // below this test peer's handshake (38 + 195 bytes)
        let a = try TestNode(testIdentity("a"), settings: settings)
        defer { a.network.stop() }
        let tooBig = try RawPeer(to: a.address, identity: testIdentity("big"))
        #expect(!tooBig.handshake(), "a handshake over the budget is dropped")
        #expect(eventually { a.network.refusedHandshakes == 1 })
        #expect(a.delegate.refusals.contains { $0.contains("more than 200 bytes before authentication") })
        #expect(a.delegate.connectedIds.isEmpty, "refused before the membership is asked")
        let b = try TestNode(testIdentity("b"))
        defer { b.network.stop() }
        let honest = try RawPeer(to: b.address, identity: testIdentity("honest"))
        #expect(honest.handshake(), "a real handshake fits the default budget")
    }

    @Test func test_peers_handshakesFromOneAddressOverTheLimitAreRefusedAtAccept() throws {
        var settings = testPeerSettings()
        settings.maxHandshakesPerAddress = 2
        settings.handshakeTimeout = .seconds(30)
        let a = try TestNode(testIdentity("a"), settings: settings)
        defer { a.network.stop() }
        let silent = try (0..<2).map { _ in try RawClient(a.address) }  // hold two half-open handshakes
        #expect(eventually { silent.allSatisfy { $0.read(until: "ACHN", timeout: .milliseconds(200)).contains("ACHN") } })
        let third = try RawClient(a.address)
        #expect(third.isClosedByServer())
        #expect(a.network.refusedHandshakes == 1)
        // Another address still gets through.
        let other = try RawPeer(client: RawClient(a.address, from: "127.0.0.2"), identity: testIdentity("other"))
        #expect(other.handshake())
        withExtendedLifetime(silent) {}
    }
}
