import Chain
import Glibc
@testable import P2P

/// The client side of a secure channel over a blocking socket, for tests that play a peer by
/// hand: it speaks the real channel (so it can get as far as a stranger can) and exposes the
/// raw bytes (so it can tamper, replay and truncate). Every read is bounded in time.
/// One file for two test targets: Tests/NodeMainTests/ChannelPeer.swift is a symlink to it.
final class ChannelPeer {
    let fd: Int32
    let channel: SecureChannel
    private(set) var peerAuth: ChannelAuth?
    private(set) var failure: ChannelError?
    private(set) var sawCloseFrame = false
    private var inbox: [PeerMessage] = []
    private var undecodable = false

    init(fd: Int32, context: ChannelContext, role: ChannelHandshake.Role = .initiator) {
        self.fd = fd
        channel = SecureChannel(role: role, context: context)
    }

    static func context(for identity: PeerIdentity, signingKey: KeyPair? = nil, height: UInt64 = 3,
                        version: UInt16 = PeerLimits.channelVersion) -> ChannelContext {
        ChannelContext(version: version, chainId: identity.chainId, genesisHash: identity.genesisHash,
                       credential: identity.clusterToken, maxMessageBytes: 16 << 20, nodeKey: signingKey ?? identity.key,
                       nodeId: identity.nodeId, p2pAddr: "127.0.0.1:9", apiAddr: "127.0.0.1:1", height: height,
                       incarnation: identity.incarnation)
    }

    @discardableResult
    func sendRaw(_ bytes: [UInt8]) -> Bool {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + written, $0.count - written, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            written += n
        }
        return true
    }

    func send(_ message: PeerMessage) { sendRaw(channel.seal(line: message.encodedLine())) }

    /// Sends the preamble and reads until the peer's auth frame is verified; false on close or refusal.
    func openChannel(timeout: Duration = .seconds(20)) -> Bool {
        sendRaw(channel.preamble)
        let deadline = ContinuousClock.now + timeout
        while peerAuth == nil, failure == nil, ContinuousClock.now < deadline {
            if !pump() { return false }
        }
        return peerAuth != nil
    }

    /// The next message, or nil on close, timeout, a channel error or an undecodable message.
    func readMessage(timeout: Duration = .seconds(20)) -> PeerMessage? {
        let deadline = ContinuousClock.now + timeout
        while inbox.isEmpty, !undecodable, failure == nil, ContinuousClock.now < deadline {
            if !pump() { break }
        }
        return inbox.isEmpty ? nil : inbox.removeFirst()
    }

    /// Reads until a bye arrives (skipping other messages); returns its reason.
    func readBye(timeout: Duration = .seconds(20)) -> String? {
        for _ in 0..<8192 {  // bounded: each read waits at most `timeout`
            guard let message = readMessage(timeout: timeout) else { return nil }
            if case .bye(let reason) = message { return reason }
        }
        return nil
    }

    /// True when the other side closes the socket within `timeout` (bytes before that are read).
    func isClosedByPeer(timeout: Duration = .seconds(20)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        var chunk = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < deadline {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n == 0 { return true }
            if n < 0 { if errno == ECONNRESET { return true }; if errno == EAGAIN || errno == EWOULDBLOCK { continue }; return true }
        }
        return false
    }

    private func handle(_ event: SecureChannel.Event) -> Bool {
        switch event {
        case .send(let bytes): sendRaw(bytes)
        case .authenticated(let auth): peerAuth = auth
        case .message(let payload):
            guard let message = try? PeerMessage.decode(line: payload) else { undecodable = true; return false }
            inbox.append(message)
        case .closed: sawCloseFrame = true
        }
        return true
    }

    /// One read fed to the channel; false when the socket closed (or timed out) or the channel failed.
    private func pump() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        guard n > 0 else { return false }
        let result = chunk.withUnsafeBytes { raw in
            Result { () throws(ChannelError) in
                try channel.feed(UnsafeRawBufferPointer(rebasing: raw[0..<n])) { event in handle(event) }
            }
        }
        if case .failure(let error) = result { failure = error; return false }
        return true
    }
}
