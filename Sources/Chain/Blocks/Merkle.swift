/// Binary Merkle tree over 32-byte leaves, as RFC 6962 (Certificate Transparency) defines it:
/// leaf = SHA-256(0x00 ‖ h), node = SHA-256(0x01 ‖ left ‖ right), the left subtree holding the
/// largest power of two strictly below n leaves; the empty tree is SHA-256 of no bytes.
/// Domain-separated prefixes keep a leaf from ever being mistaken for a node.
public enum Merkle {
    public static func root(_ leaves: [Hash32]) -> Hash32 {
        if leaves.isEmpty { return Crypto.sha256([]) }
        var level = leaves.map(leafHash)
        // Pairing bottom-up and promoting an odd last node unchanged builds exactly the RFC 6962
        // tree (the left subtree is always the largest complete power of two).
        while level.count > 1 {
            var next: [Hash32] = []
            next.reserveCapacity((level.count + 1) / 2)
            var i = 0
            while i + 1 < level.count {
                next.append(nodeHash(level[i], level[i + 1]))
                i += 2
            }
            if i < level.count { next.append(level[i]) }
            assert(next.count == (level.count + 1) / 2)
            level = next
        }
        return level[0]
    }

    public static func leafHash(_ h: Hash32) -> Hash32 {
        var buf: [UInt8] = [0x00]
        buf.reserveCapacity(33)
        h.append(to: &buf)
        return Crypto.sha256(buf)
    }

    public static func nodeHash(_ left: Hash32, _ right: Hash32) -> Hash32 {
        var buf: [UInt8] = [0x01]
        buf.reserveCapacity(65)
        left.append(to: &buf)
        right.append(to: &buf)
        return Crypto.sha256(buf)
    }
}
