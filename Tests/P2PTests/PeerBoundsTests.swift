import Chain
import Testing
@testable import P2P

/// What a peer, once authenticated, still cannot make grow or last: the address table, a
/// join-only connection, a stream of joins.
@Suite struct PeerBoundsTests {
    static let joinMessage = PeerMessage.join(nodeId: "raw", nodeKey: KeyPair.generate().publicKey, p2pAddr: "127.0.0.1:9", apiAddr: "127.0.0.1:1")

    @Test func junkGossipBeyondTheAddressTable_cannotCrowdOutARealPeer() throws {
        var settings = testPeerSettings()
        settings.maxKnownAddresses = 4
        let a = try TestNode(testIdentity("a"), settings: settings)
        let c = try TestNode(testIdentity("c"))
        defer { a.network.stop(); c.network.stop() }
        let raw = try RawPeer(to: a.address, identity: testIdentity("raw"))
        #expect(raw.handshake())
        // Ports nobody listens on: every dial fails, the addresses are kept only until evicted.
        let junk = (1...12).map { PeerAddress(nodeId: "junk\($0)", p2pAddr: "127.0.0.1:\($0)", apiAddr: "127.0.0.1:1") }
        raw.send(.peers(junk))
        let real = PeerAddress(nodeId: "c", p2pAddr: c.address.description, apiAddr: "127.0.0.1:1")
        // Bounded: gossiped again until a failed junk address has made room for it.
        #expect(eventually(timeout: .seconds(10)) {
            raw.send(.peers([real]))
            return a.connectedPeers.contains("c")
        })
        #expect(a.network.evictedAddresses > 0)
    }

    @Test func aJoinOnlyConnection_expires() throws {
        var settings = testPeerSettings()
        settings.joinOnlyTimeout = .milliseconds(300)
        settings.peerDeadAfter = .seconds(10)
        let a = try TestNode(testIdentity("a"), settings: settings)
        defer { a.network.stop() }
        a.delegate.state.withLock { $0.access["raw"] = .joinOnly }
        let raw = try RawPeer(to: a.address, identity: testIdentity("raw"))
        #expect(raw.handshake())
        let bye = raw.readBye()
        #expect(bye?.contains("join-only connection expired") == true, "\(String(describing: bye))")
        #expect(eventually { a.delegate.rulesHit == ["join_only_expired"] })
    }

    @Test func aJoinOnlyConnectionWhoseNodeWasAdmitted_isKeptAsAMembersConnection() throws {
        var settings = testPeerSettings()
        // 2 s, not 300 ms: the admission below must land before the timeout, and a busy machine
        // can take longer than 300 ms between the handshake and that line.
        settings.joinOnlyTimeout = .seconds(2)
        settings.peerDeadAfter = .seconds(10)
        let a = try TestNode(testIdentity("a"), settings: settings)
        defer { a.network.stop() }
        a.delegate.state.withLock { $0.access["raw"] = .joinOnly }
        let raw = try RawPeer(to: a.address, identity: testIdentity("raw"))
        #expect(raw.handshake())
        #expect(eventually { a.connectedPeers == ["raw"] })
        a.delegate.state.withLock { $0.access["raw"] = .member }
        #expect(holds(for: .seconds(3)) { a.connectedPeers == ["raw"] }, "kept past the timeout")
        #expect(a.network.peers.first?.isMember == true)
    }

    @Test func joinsCloserThanTheMinimumInterval_areIgnored() throws {
        var settings = testPeerSettings()
        settings.minJoinInterval = .seconds(60)
        let a = try TestNode(testIdentity("a"), settings: settings)
        defer { a.network.stop() }
        a.delegate.state.withLock { $0.access["raw"] = .joinOnly }
        let raw = try RawPeer(to: a.address, identity: testIdentity("raw"))
        #expect(raw.handshake())
        for _ in 0..<3 { raw.send(Self.joinMessage) }
        #expect(eventually { a.delegate.rulesHit.count == 2 })
        #expect(a.delegate.receivedMessages.filter { if case .join = $0 { true } else { false } }.count == 1)
    }
}
