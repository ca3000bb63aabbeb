import Chain
import FuzzSupport
@testable import P2P

/// The peer protocol's read path: the secure channel taking a stream from a stranger (fed in
/// pieces, as reads arrive), the same bytes sealed by a keyed peer, and PeerMessage.decode (with
/// RaftCodec) on every line. Properties:
/// - a stranger's bytes never get past the channel: no auth, no message is handed out, the only
///   errors are ChannelErrors, and no more than one piece beyond a preamble and an auth frame is held;
/// - a frame sealed by the keyed peer opens to exactly what was sealed;
/// - a message it decodes re-encodes to one line that decodes to an equal message;
/// - every node ID in a decoded message matches the node-ID grammar (the node builds membership
///   changes, paths and metric labels from them, and MembershipChange traps on any other).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    checkStranger(bytes)
    checkSealedRoundTrip(bytes)
    for line in bytes.split(separator: 0x0A) { checkMessage(Array(line)) }
    return 0
}

private func context(_ nodeId: String, seed: UInt8) -> ChannelContext {
    ChannelContext(version: PeerLimits.channelVersion, chainId: "fuzz-chain", genesisHash: Hash32(bytes: [UInt8](repeating: 7, count: 32))!,
                   credential: "fuzz-credential-0000", maxMessageBytes: maxMessageBytes,
                   nodeKey: KeyPair(seed: [UInt8](repeating: seed, count: 32)), nodeId: nodeId, p2pAddr: "127.0.0.1:1",
                   apiAddr: "127.0.0.1:2", height: 1)
}

/// Small, so the fuzzer reaches it (nodes use 16 MiB).
private let maxMessageBytes = 2048

/// Feeds `bytes` in pieces to a fresh responder, as a stranger's stream.
private func checkStranger(_ bytes: [UInt8]) {
    let channel = SecureChannel(role: .responder, context: context("n1", seed: 1))
    var start = 0
    for cut in cutPoints(bytes) {
        let piece = Array(bytes[start..<cut])
        do {
            // Untyped here: a typed-throws closure crashes Swift 6.3.1's inliner at -O.
            try piece.withUnsafeBytes { raw in
                try channel.feed(raw) { event in
                    switch event {
                    case .send: break
                    case .authenticated, .message, .closed: require(false, "a stranger's bytes got past the channel")
                    }
                    return true
                }
            }
        } catch {
            require(error is ChannelError, "channel threw \(error)")
            return
        }
        let bound = ChannelHandshake.preambleBytes + SecureChannel.frameHeaderBytes + ChannelHandshake.maxAuthFrameBodyBytes
        require(channel.bufferedBytes <= bound + piece.count, "channel holds \(channel.bufferedBytes) bytes")
        start = cut
    }
}

/// A keyed pair, set up once (the fuzzer runs one input at a time); counters advance in step.
nonisolated(unsafe) private var pair: (sender: SecureChannel, receiver: SecureChannel)?

private func keyedPair() -> (sender: SecureChannel, receiver: SecureChannel) {
    if let pair { return pair }
    let a = SecureChannel(role: .initiator, context: context("n1", seed: 1))
    let b = SecureChannel(role: .responder, context: context("n2", seed: 2))
    var toA: [UInt8] = b.preamble, toB: [UInt8] = a.preamble
    try? toA.withUnsafeBytes { try a.feed($0) { if case .send(let out) = $0 { toB += out }; return true } }
    try? toB.withUnsafeBytes { try b.feed($0) { if case .send(let out) = $0 { toA = out }; return true } }
    try? toA.withUnsafeBytes { try a.feed($0) { _ in true } }
    require(a.stage == .open && b.stage == .open, "fuzz pair did not authenticate")
    pair = (a, b)
    return (a, b)
}

private func checkSealedRoundTrip(_ bytes: [UInt8]) {
    let payload = Array(bytes.prefix(maxMessageBytes)).filter { $0 != 0x0A }
    guard !payload.isEmpty else { return }
    let (sender, receiver) = keyedPair()
    let frame = sender.seal(line: payload)
    var opened: [[UInt8]] = []
    do {
        try frame.withUnsafeBytes { raw in
            try receiver.feed(raw) { event in
                if case .message(let p) = event { opened.append(Array(p)) }
                return true
            }
        }
    } catch {
        require(false, "a sealed frame did not open: \(error)")
    }
    require(opened == [payload], "sealed \(payload.count) bytes, opened \(opened.map(\.count))")
}

private func checkMessage(_ line: [UInt8]) {
    guard let message = try? PeerMessage.decode(line: line) else { return }
    for id in nodeIds(message) {
        require(NodeIDGrammar.isValid(id), "\(message.typeName) message carries node ID \(id.debugDescription)")
    }
    let encoded = message.encodedLine()
    require(encoded.last == 0x0A && encoded.firstIndex(of: 0x0A) == encoded.count - 1, "encoded line framing")
    do {
        let again = try PeerMessage.decode(line: Array(encoded.dropLast()))
        require(again == message, "round trip changed the \(message.typeName) message")
    } catch {
        require(false, "encoded \(message.typeName) message is refused: \(error)")
    }
}

private func nodeIds(_ message: PeerMessage) -> [String] {
    switch message {
    case .peers(let list): return list.map(\.nodeId)
    case .raft(let m):
        var ids = [m.from, m.to]
        if case .append(_, _, let entries, _) = m.kind {
            for case let change? in entries.map(\.confChange) {
                switch change {
                case .addLearner(let id), .promote(let id), .remove(let id): ids.append(id)
                }
            }
        }
        return ids
    case .join(let nodeId, _, _, _): return [nodeId]
    case .joinResult(let nodeId, _, _, let hint): return [nodeId] + (hint.map { [$0] } ?? [])
    case .txsResult(_, .refused(_, _, let hint)): return hint.map { [$0] } ?? []
    case .superseded(let proof): return [proof.nodeId]
    case .ping, .pong, .bye, .getBlocks, .blocks, .txs, .txsResult: return []
    }
}
