import Chain
import FuzzSupport
@testable import P2P

/// The peer protocol's read path: LineFramer splitting a stream (fed in pieces, as reads arrive)
/// and PeerMessage.decode (with RaftCodec) on every line. Properties:
/// - the framer hands out exactly the non-empty `\n`-terminated lines of the stream, in order,
///   none longer than its limit, and throws only when a line exceeds that limit;
/// - a message it decodes re-encodes to one line that decodes to an equal message;
/// - every node ID in a decoded message matches the node-ID grammar (the node builds membership
///   changes, paths and metric labels from them, and MembershipChange traps on any other).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    let (lines, failure) = frame(bytes)
    if let failure {
        guard case .lineTooLong = failure else { require(false, "framer threw \(failure)"); return 0 }
    }
    checkFraming(bytes, lines, failed: failure != nil)
    for line in lines { checkMessage(line) }
    return 0
}

/// Feeds `bytes` to a LineFramer in pieces; the lines it handed out, and its error if it threw.
private func frame(_ bytes: [UInt8]) -> (lines: [[UInt8]], failure: PeerDecodeError?) {
    var framer = LineFramer(maxLineBytes: maxLineBytes)
    var lines: [[UInt8]] = []
    var start = 0
    for cut in cutPoints(bytes) {
        let piece = Array(bytes[start..<cut])
        do {
            // Untyped here: a typed-throws closure crashes Swift 6.3.1's inliner at -O.
            try piece.withUnsafeBytes { raw in
                try framer.feed(raw) { line in
                    lines.append(Array(line))
                    return true
                }
            }
        } catch {
            return (lines, error as? PeerDecodeError ?? .invalidJSON("unexpected \(error)"))
        }
        require(framer.bufferedBytes <= maxLineBytes, "framer holds \(framer.bufferedBytes) bytes")
        start = cut
    }
    return (lines, nil)
}

/// Small, so the fuzzer reaches it (nodes use 16 MiB).
private let maxLineBytes = 2048

private func checkFraming(_ bytes: [UInt8], _ lines: [[UInt8]], failed: Bool) {
    var expected = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
    expected.removeLast()  // after the last newline: unfinished, never handed out
    expected.removeAll { $0.isEmpty }
    for line in lines { require(line.count <= maxLineBytes && !line.contains(0x0A), "line of \(line.count) bytes") }
    if failed {
        require(expected.starts(with: lines), "lines before the failure are not the stream's lines")
        let tooLong = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).contains { $0.count > maxLineBytes }
        require(tooLong, "framer failed without a line over the limit")
    } else {
        require(lines == expected, "framer gave \(lines.count) lines, the stream has \(expected.count)")
    }
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
    case .hello(let hello): return [hello.nodeId]
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
    case .joinResult(_, _, let hint): return hint.map { [$0] } ?? []
    case .auth, .ping, .pong, .bye, .getBlocks, .blocks, .txs: return []
    }
}
