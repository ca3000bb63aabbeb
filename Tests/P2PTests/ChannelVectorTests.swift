import Chain
import Foundation
import Testing
@testable import P2P

/// docs/PROTOCOL.md's secure-channel test vectors are what this code computes from the same
/// fixed inputs (scripts/check-pynacl-peer.py checks them again, independently, with PyNaCl).
@Suite struct ChannelVectorTests {
    static let inputs: [String: String] = [
        "channel.chainId": "autochain-dev",
        "channel.genesisHash": Hex.encode([UInt8](repeating: 0x33, count: 32)),
        "channel.credential": "vector-cluster-credential-0001",
        "channel.initiator.ephemeralSeed": Hex.encode([UInt8](repeating: 0x41, count: 32)),
        "channel.responder.ephemeralSeed": Hex.encode([UInt8](repeating: 0x42, count: 32)),
        "channel.initiator.nodeSeed": Hex.encode([UInt8](repeating: 0x11, count: 32)),
        "channel.responder.nodeSeed": Hex.encode([UInt8](repeating: 0x22, count: 32)),
        "channel.initiator.incarnation": "1700000000001",
        "channel.responder.incarnation": "0",
    ]

    static func context(_ nodeId: String, seed: UInt8, port: Int, incarnation: UInt64) -> ChannelContext {
        ChannelContext(version: 3, chainId: "autochain-dev", genesisHash: Hash32(bytes: [UInt8](repeating: 0x33, count: 32))!,
                       credential: "vector-cluster-credential-0001", maxMessageBytes: 16 << 20,
                       nodeKey: KeyPair(seed: [UInt8](repeating: seed, count: 32)), nodeId: nodeId,
                       p2pAddr: "127.0.0.1:\(7000 + port)", apiAddr: "127.0.0.1:\(8000 + port)", height: 5,
                       incarnation: incarnation)
    }

    /// Every vector, computed.
    static func computed() -> [(String, String)] {
        let ei = KeyExchangeKeyPair(seed: [UInt8](repeating: 0x41, count: 32))
        let er = KeyExchangeKeyPair(seed: [UInt8](repeating: 0x42, count: 32))
        let i = SecureChannel(role: .initiator, context: context("n1", seed: 0x11, port: 1, incarnation: 1_700_000_000_001), ephemeral: ei)
        let r = SecureChannel(role: .responder, context: context("n2", seed: 0x22, port: 2, incarnation: 0), ephemeral: er)
        var authI: [UInt8] = [], authR: [UInt8] = []
        r.preamble.withUnsafeBytes { try! i.feed($0) { if case .send(let b) = $0 { authI = b }; return true } }
        i.preamble.withUnsafeBytes { try! r.feed($0) { if case .send(let b) = $0 { authR = b }; return true } }
        let kx = KeyExchange.clientSessionKeys(client: ei, serverPublicKey: er.publicKey)!
        let credentialKey = ChannelHandshake.credentialKey("vector-cluster-credential-0001")
        let transcript = i.transcript!
        let ping = i.seal(line: PeerMessage.ping(height: 5).encodedLine())
        let close = i.sealClose()
        return [
            ("channel.initiator.preamble", Hex.encode(i.preamble)),
            ("channel.responder.preamble", Hex.encode(r.preamble)),
            ("channel.transcript", Hex.encode(transcript.bytes)),
            ("channel.kx.initiatorToResponder", Hex.encode(kx.transmit)),
            ("channel.kx.responderToInitiator", Hex.encode(kx.receive)),
            ("channel.credentialKey", Hex.encode(credentialKey)),
            ("channel.key.initiatorToResponder", Hex.encode(ChannelHandshake.directionKey(kxKey: kx.transmit, credentialKey: credentialKey))),
            ("channel.key.responderToInitiator", Hex.encode(ChannelHandshake.directionKey(kxKey: kx.receive, credentialKey: credentialKey))),
            ("channel.initiator.signature", i.ourAuth(transcript: transcript).signature.hex.replacingOccurrences(of: "0x", with: "")),
            ("channel.initiator.authPayload", Hex.encode(i.ourAuth(transcript: transcript).encoded(version: 3))),
            ("channel.initiator.authFrame", Hex.encode(authI)),
            ("channel.responder.authFrame", Hex.encode(authR)),
            ("channel.initiator.frame1", Hex.encode(ping)),
            ("channel.initiator.closeFrame", Hex.encode(close)),
        ]
    }

    @Test func documentedVectors_areWhatTheCodeComputes() throws {
        let doc = try Self.documented()
        for (name, value) in Self.inputs { #expect(doc[name] == value, "\(name)") }
        let lines = Self.computed()
        for (name, value) in lines {
            #expect(doc[name] == value, "\(name) = \(value)")
        }
    }

    /// The `name = value` lines inside the ```text blocks of docs/PROTOCOL.md.
    static func documented(filePath: String = #filePath) throws -> [String: String] {
        let path = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/PROTOCOL.md")
        var values: [String: String] = [:]
        var inBlock = false
        for line in try String(contentsOf: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { inBlock = line == "```text"; continue }
            guard inBlock, let range = line.range(of: " = ") else { continue }
            values[String(line[..<range.lowerBound])] = String(line[range.upperBound...])
        }
        return values
    }
}
