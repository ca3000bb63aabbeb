@testable import P2P
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
