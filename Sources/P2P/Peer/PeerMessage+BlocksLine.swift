import Chain

extension PeerMessage {
    /// The wire line of `.blocks` for blocks already in their binary codec (as the chain stores
    /// them): byte for byte `PeerMessage.blocks(decoded).encodedLine()`, without decoding every
    /// block to encode it again. Block sync's serving side costs one hex pass per byte so.
    public static func blocksLine(encoded blocks: [[UInt8]]) -> [UInt8] {
        let open = Array(#"{"type":"blocks","blocks":["#.utf8)
        let close = Array("]}\n".utf8)
        let hexBytes = blocks.reduce(0) { $0 + 2 * $1.count + 3 }
        var out: [UInt8] = []
        out.reserveCapacity(open.count + hexBytes + close.count)
        out.append(contentsOf: open)
        for (i, block) in blocks.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            Hex.append(block, to: &out)
            out.append(UInt8(ascii: "\""))
        }
        out.append(contentsOf: close)
        return out
    }
}
