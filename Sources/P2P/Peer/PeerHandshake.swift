import Chain

/// The pure parts of the handshake: the bytes each side signs and the checks on a hello.
enum PeerHandshake {
    /// Domain tag that starts the auth bytes, so an auth signature can never be replayed as
    /// anything else (a block or transaction signature).
    static let domainTag: [UInt8] = Array("autochain-p2p-auth-v1".utf8)

    /// `"autochain-p2p-auth-v1" ‖ genesisHash (32) ‖ peerNonce (32) ‖ ownNonce (32)`, where
    /// "own" is the signer's nonce. Binding both nonces makes each auth fresh for this connection.
    static func authBytes(genesisHash: Hash32, peerNonce: [UInt8], ownNonce: [UInt8]) -> [UInt8] {
        precondition(peerNonce.count == PeerLimits.nonceBytes && ownNonce.count == PeerLimits.nonceBytes)
        var out = domainTag
        out.reserveCapacity(domainTag.count + 96)
        genesisHash.append(to: &out)
        out += peerNonce
        out += ownNonce
        assert(out.count == domainTag.count + 96)
        return out
    }

    /// The auth message we send, answering the peer's hello.
    static func makeAuth(identity: PeerIdentity, peerNonce: [UInt8], ownNonce: [UInt8]) -> PeerMessage {
        let bytes = authBytes(genesisHash: identity.genesisHash, peerNonce: peerNonce, ownNonce: ownNonce)
        let mac = identity.clusterToken.map { ClusterMAC.mac(token: $0, message: bytes) }
        return .auth(signature: identity.key.sign(bytes), mac: mac)
    }

    /// Why a hello is refused, or nil when it may proceed to auth.
    static func refusal(of hello: PeerHello, identity: PeerIdentity) -> String? {
        if hello.protocolVersion != PeerLimits.protocolVersion {
            return "protocol version mismatch: ours \(PeerLimits.protocolVersion), theirs \(hello.protocolVersion)"
        }
        if hello.chainId != identity.chainId {
            return "chainId mismatch: ours \(identity.chainId), theirs \(hello.chainId)"
        }
        if hello.genesisHash != identity.genesisHash {
            return "genesisHash mismatch: ours \(identity.genesisHash.hex), theirs \(hello.genesisHash.hex)"
        }
        if hello.nodeId == identity.nodeId {
            return "self-dial: peer has our own nodeId \(identity.nodeId)"
        }
        return nil
    }

    /// Why the peer's auth is refused, or nil when its signature (and MAC, when we have a token)
    /// check out against its hello and our nonce.
    static func authRefusal(signature: Signature, mac: [UInt8]?, hello: PeerHello, ownNonce: [UInt8],
                            identity: PeerIdentity) -> String? {
        // The peer signed with its nonce as "own" and ours as "peer".
        let bytes = authBytes(genesisHash: identity.genesisHash, peerNonce: ownNonce, ownNonce: hello.nonce)
        guard Ed25519.verify(signature, message: bytes, publicKey: hello.nodeKey) else {
            return "bad auth signature for nodeKey \(hello.nodeKey.hex)"
        }
        guard let token = identity.clusterToken else { return nil }
        guard let mac else { return "cluster token required: auth has no mac" }
        guard ClusterMAC.verify(tag: mac, token: token, message: bytes) else { return "bad cluster token mac" }
        return nil
    }
}
