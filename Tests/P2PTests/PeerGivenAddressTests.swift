// Which peers a node was told to join (`PeerInfo.isGivenPeer`): a fresh node acts only on their
// join answers (docs/SECURITY.md, "A fresh node"). Real sockets on loopback.
import Chain
import Testing
@testable import P2P

@Suite struct PeerGivenAddressTests {
    @Test func onlyAPeerDialledAtAGivenAddressIsAGivenPeer() throws {
        let seed = try TestNode(testIdentity("seed"))
        let fresh = try TestNode(testIdentity("fresh"))
        defer { seed.network.stop(); fresh.network.stop() }
        fresh.network.addPeerAddress(seed.address)
        #expect(eventually { fresh.connectedPeers == ["seed"] && seed.connectedPeers == ["fresh"] })
        #expect(seed.network.send(.joinResult(nodeId: "fresh", accepted: true, reason: "added", leaderHint: nil), to: "fresh"))
        // A stranger holding the credential reaches the fresh node and answers too.
        let stranger = try RawPeer(to: fresh.address, identity: testIdentity("stranger"))
        #expect(stranger.handshake())
        stranger.send(.joinResult(nodeId: "fresh", accepted: true, reason: "added", leaderHint: "stranger"))
        #expect(eventually { fresh.delegate.givenPeers.count == 2 })
        #expect(fresh.delegate.givenPeers == ["seed": true, "stranger": false])
        // The seed did not dial the fresh node at a given address: to it, the fresh node is not one.
        #expect(fresh.network.send(.joinResult(nodeId: "x", accepted: false, reason: "-", leaderHint: nil), to: "seed"))
        #expect(eventually { seed.delegate.givenPeers["fresh"] != nil })
        #expect(seed.delegate.givenPeers["fresh"] == false)
    }
}
