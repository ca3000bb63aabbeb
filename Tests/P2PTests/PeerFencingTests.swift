import Chain
import Glibc
import Testing
@testable import P2P

/// Fencing on real peer links (DESIGN-NOTES, Fencing): a node started twice takes part once.
@Suite(.serialized) struct PeerFencingTests {
    /// `nodeId` under `key`, started with `incarnation`.
    static func copy(_ nodeId: String, key: KeyPair, incarnation: UInt64) -> PeerIdentity {
        var identity = testIdentity(nodeId, key: key)
        identity.incarnation = incarnation
        return identity
    }

    /// A node whose membership is `members`.
    static func member(_ identity: PeerIdentity, of members: Set<String>) throws -> TestNode {
        let delegate = RecordingDelegate()
        delegate.state.withLock { $0.members = members }
        return try TestNode(identity, delegate: delegate)
    }

    @Test func test_fencing_aLinkWithALowerIncarnation_isRefused_andShownTheNewerCopysProof() throws {
        let b = try Self.member(testIdentity("b"), of: ["a", "b"])
        defer { b.network.stop() }
        let key = KeyPair.generate()
        let current = try RawPeer(to: b.address, identity: Self.copy("a", key: key, incarnation: 5))
        #expect(current.handshake())

        let old = try RawPeer(to: b.address, identity: Self.copy("a", key: key, incarnation: 4))
        #expect(old.peer.openChannel(), "the channel opens: the refusal is the fence's, after authentication")
        guard case .superseded(let proof)? = old.readMessage() else {
            Issue.record("the older copy was not shown the newer copy's proof")
            return
        }
        #expect(proof.incarnation == 5 && proof.nodeKey == key.publicKey && proof.verifies())
        #expect(old.readBye()?.contains("a incarnation 4 is superseded by incarnation 5") == true)
        #expect(eventually { b.delegate.rulesHit.contains("superseded_incarnation") })
        #expect(b.delegate.connectedIds == ["a"], "only the current copy connected")
        #expect(b.connectedPeers == ["a"])
    }

    @Test func test_fencing_anEqualIncarnation_isTheSameCopyReconnecting() throws {
        let b = try Self.member(testIdentity("b"), of: ["a", "b"])
        defer { b.network.stop() }
        let identity = Self.copy("a", key: .generate(), incarnation: 5)
        let first = try RawPeer(to: b.address, identity: identity)
        #expect(first.handshake())
        _ = Glibc.shutdown(first.client.fd, Int32(SHUT_RDWR))
        #expect(eventually { b.connectedPeers.isEmpty })
        let again = try RawPeer(to: b.address, identity: identity)
        #expect(again.handshake())
        #expect(b.delegate.rulesHit.isEmpty)
    }

    /// Swarm's case end to end: the old copy of `a` runs on; the new one connects to `c`; `c`
    /// closes the old copy's link with the new copy's proof, and the old copy learns it is
    /// superseded (the node then stops) and takes part no more.
    @Test func test_fencing_aNewerCopyConnecting_closesTheOlderCopysLink_andTheOlderCopyLearnsItIsSuperseded() throws {
        let members: Set<String> = ["a", "c"]
        let c = try Self.member(testIdentity("c"), of: members)
        defer { c.network.stop() }
        let key = KeyPair.generate()
        let old = try Self.member(Self.copy("a", key: key, incarnation: 1), of: members)
        defer { old.network.stop() }
        old.network.addPeerAddress(c.address)
        #expect(eventually { c.connectedPeers == ["a"] && old.connectedPeers == ["c"] })

        let new = try Self.member(Self.copy("a", key: key, incarnation: 2), of: members)
        defer { new.network.stop() }
        new.network.addPeerAddress(c.address)
        #expect(eventually { old.delegate.state.withLock { $0.superseded.map(\.incarnation) } == [2] })
        #expect(eventually { new.connectedPeers == ["c"] && old.connectedPeers.isEmpty })
        #expect(holds(for: .milliseconds(500)) { old.connectedPeers.isEmpty && c.connectedPeers == ["a"] && new.connectedPeers == ["c"] })
        #expect(new.delegate.state.withLock { $0.superseded.isEmpty })
    }

    /// Our own ID under our own key with a higher incarnation, met directly on a link.
    @Test func test_fencing_meetingANewerCopyOfItself_stopsTheOlderCopy() throws {
        let key = KeyPair.generate()
        let old = try Self.member(Self.copy("a", key: key, incarnation: 1), of: ["a"])
        defer { old.network.stop() }
        let new = try Self.member(Self.copy("a", key: key, incarnation: 2), of: ["a"])
        defer { new.network.stop() }
        new.network.addPeerAddress(old.address)
        #expect(eventually { old.delegate.state.withLock { $0.superseded.map(\.incarnation) } == [2] })
        #expect(new.delegate.state.withLock { $0.superseded.isEmpty }, "the newer copy takes it for a self-dial")
    }

    /// A peer of the previous protocol version has no incarnation: it counts as 0, so it is
    /// accepted while no started copy of its node has connected, and refused once one has.
    @Test func test_fencing_aVersion2Peer_isIncarnation0() throws {
        let b = try Self.member(testIdentity("b"), of: ["a", "b"])
        defer { b.network.stop() }
        let key = KeyPair.generate()
        let v2 = try RawPeer(to: b.address, identity: Self.copy("a", key: key, incarnation: 0), version: 2)
        #expect(v2.handshake(), "a version-2 peer is still spoken to")
        let started = try RawPeer(to: b.address, identity: Self.copy("a", key: key, incarnation: 3))
        #expect(started.handshake())
        #expect(v2.readBye()?.contains("a incarnation 0 is superseded by incarnation 3") == true)
        let again = try RawPeer(to: b.address, identity: Self.copy("a", key: key, incarnation: 0), version: 2)
        #expect(!again.handshake())
    }

    /// What `GET /peers` shows: each connected peer's signed incarnation, none from a version-2
    /// peer (whose auth frame carries none).
    @Test func test_peerInfo_carriesTheSignedIncarnation_andNoneFromAVersion2Peer() throws {
        let b = try Self.member(testIdentity("b"), of: ["a", "b", "c"])
        defer { b.network.stop() }
        let started = try RawPeer(to: b.address, identity: Self.copy("a", key: .generate(), incarnation: 7))
        #expect(started.handshake())
        let v2 = try RawPeer(to: b.address, identity: Self.copy("c", key: .generate(), incarnation: 0), version: 2)
        #expect(v2.handshake())
        #expect(eventually { b.connectedPeers == ["a", "c"] })
        #expect(b.network.peers.map(\.incarnation) == [7, nil])
    }

    /// The incarnation is signed: an auth frame whose incarnation is not the one its signature
    /// covers is refused like any bad signature (nobody can raise a copy's incarnation for it).
    @Test func test_fencing_anIncarnationOtherThanTheSignedOne_isABadSignature() throws {
        let b = try Self.member(testIdentity("b"), of: ["a", "b"])
        defer { b.network.stop() }
        let raw = try RawPeer(to: b.address, identity: Self.copy("a", key: .generate(), incarnation: 4))
        raw.peer.channel.authOverride = { [channel = raw.peer.channel] transcript in
            var auth = channel.ourAuth(transcript: transcript)
            auth.incarnation = 5
            return auth
        }
        #expect(!raw.handshake())
        #expect(eventually { b.delegate.refusals.contains { $0.contains("bad auth signature") } })
        #expect(b.delegate.connectedIds.isEmpty)
    }
}

extension PeerFencingTests {
    /// A link accepted while its node was not a member yet (join-only: a newcomer) is fenced once
    /// it is one: an older copy that connects afterwards is refused.
    @Test func test_fencing_aLinkAdmittedBeforeItsNodeWasAMember_stillFencesOutAnOlderCopy() throws {
        let b = try Self.member(testIdentity("b"), of: ["b"])
        b.delegate.state.withLock { $0.access["a"] = .joinOnly }
        defer { b.network.stop() }
        let key = KeyPair.generate()
        let current = try RawPeer(to: b.address, identity: Self.copy("a", key: key, incarnation: 5))
        #expect(current.handshake())
        b.delegate.state.withLock { $0.access["a"] = .member; $0.members = ["a", "b"] }
        #expect(eventually { b.network.peers.first?.isMember == true }, "admitted at a keepalive tick")

        let old = try RawPeer(to: b.address, identity: Self.copy("a", key: key, incarnation: 4))
        #expect(!old.handshake())
        #expect(eventually { b.delegate.rulesHit.contains("superseded_incarnation") })
        #expect(b.network.peers.map(\.nodeId) == ["a"] && b.network.peers.first?.isMember == true)
    }
}

extension PeerFencingTests {
    /// A member's word is not a proof: a `superseded` notice not signed with the receiver's own
    /// key stops nothing (it is counted and ignored).
    @Test func test_fencing_aSupersededNoticeNotSignedWithOurKey_stopsNothing() throws {
        let b = try Self.member(Self.copy("b", key: .generate(), incarnation: 3), of: ["a", "b"])
        defer { b.network.stop() }
        let raw = try RawPeer(to: b.address, identity: Self.copy("a", key: .generate(), incarnation: 1))
        #expect(raw.handshake())
        let liar = KeyPair.generate()
        let transcript = Crypto.sha256(Array("elsewhere".utf8))
        let signed = ChannelHandshake.signedBytes(version: 3, transcript: transcript, role: 1, incarnation: 9)
        raw.send(.superseded(IncarnationProof(nodeId: "b", nodeKey: b.network.identity.key.publicKey, incarnation: 9,
                                              transcript: transcript, role: 1, signature: liar.sign(signed))))
        #expect(eventually { b.delegate.rulesHit.contains("invalid_superseded_notice") })
        #expect(b.delegate.state.withLock { $0.superseded.isEmpty })
        raw.send(.ping(height: 1))
        #expect(holds(for: .milliseconds(300)) { b.connectedPeers == ["a"] })
    }
}
