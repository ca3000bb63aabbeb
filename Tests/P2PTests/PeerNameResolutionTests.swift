@testable import P2P
import Chain
import Synchronization
import Testing

/// Which peer addresses are parsed on the event loop (IP literals: no lookup) and which are
/// resolved on a separate thread (host names: `getaddrinfo` may block for seconds).
@Suite struct PeerNameResolutionTests {
    @Test func ipLiteralsAndLocalhostNeedNoLookup() {
        #expect(PeerHost.isLiteral("10.0.0.1:6000"))
        #expect(PeerHost.isLiteral("[::1]:6000"))
        #expect(PeerHost.isLiteral("localhost:6000"))
        #expect(PeerHost.isLiteral("no-port"), "not an address: parsing fails at once, no lookup either")
    }

    @Test func hostNamesAreResolvedOffTheLoop() {
        #expect(!PeerHost.isLiteral("node2:6000"))
        #expect(!PeerHost.isLiteral("autochain-swarm-node2.example:6000"))
    }
}

/// Peers given as text (static peers, the registry's peer list) are looked up on the network's
/// resolver thread: the caller (a node's start-up, its registry client's heartbeat thread) never
/// waits on DNS. Before, a peer name whose DNS did not answer held a node's start for about ten
/// seconds and stopped its heartbeats, and a registry took it for dead.
@Suite(.serialized) struct PeerNamedAddressTests {
    @Test func aPeerGivenAsText_isDialled_beforeOrAfterTheNetworkStarts() throws {
        let a = try TestNode(testIdentity("a"))
        let b = try TestNode(testIdentity("b"))
        let c = PeerNetwork(settings: testPeerSettings(), identity: testIdentity("c"), delegate: RecordingDelegate(), logSink: LogSink { _ in })
        defer { a.network.stop(); b.network.stop(); c.stop() }
        c.addPeerAddress(named: "\(a.address)")
        _ = try c.start()
        c.addPeerAddress(named: "\(b.address)")
        #expect(eventually { Set(c.peers.map(\.nodeId)) == ["a", "b"] })
    }

    @Test func aPeerThatDoesNotResolve_isReported_andTheOthersAreStillDialled() throws {
        let a = try TestNode(testIdentity("a"))
        let b = try TestNode(testIdentity("b"))
        defer { a.network.stop(); b.network.stop() }
        let unresolved = Mutex<[String]>([])
        let started = ContinuousClock.now
        for text in ["no-such-host.invalid:6000", "\(a.address)", "not an address"] {
            b.network.addPeerAddress(named: text) { t in unresolved.withLock { $0.append(t) } }
        }
        #expect(ContinuousClock.now - started < .seconds(1), "the caller does not wait for the lookups")
        #expect(eventually { b.connectedPeers == ["a"] })
        #expect(eventually { Set(unresolved.withLock { $0 }) == ["no-such-host.invalid:6000", "not an address"] })
    }
}
