import Glibc

/// Splits a byte stream into `\n`-terminated lines of at most `maxLineBytes` (newline excluded).
/// Complete lines inside one read are handed out without copying; only a partial line is kept,
/// and each byte is scanned for the newline once. Empty lines are skipped.
struct LineFramer {
    let maxLineBytes: Int
    private var partial: [UInt8] = []

    init(maxLineBytes: Int) {
        precondition(maxLineBytes > 0)
        self.maxLineBytes = maxLineBytes
    }

    /// Bytes of an unfinished line held between reads.
    var bufferedBytes: Int { partial.count }

    /// Feeds one read. `line` gets each complete line and returns false to stop (the connection
    /// closed); the rest of the chunk is then discarded. Throws when a line exceeds the limit.
    mutating func feed(_ chunk: UnsafeRawBufferPointer, line: (UnsafeRawBufferPointer) -> Bool) throws(PeerDecodeError) {
        guard let base = chunk.baseAddress, chunk.count > 0 else { return }
        var start = 0
        if !partial.isEmpty {
            guard let newline = Self.findNewline(base, from: 0, to: chunk.count) else {
                try keep(UnsafeRawBufferPointer(rebasing: chunk[0...]))
                return
            }
            try keep(UnsafeRawBufferPointer(rebasing: chunk[0..<newline]))
            let complete = partial
            partial.removeAll(keepingCapacity: false)
            let goOn = complete.withUnsafeBytes { line($0) }
            if !goOn { return }
            start = newline + 1
        }
        // Bound: each iteration consumes at least one byte of the chunk.
        while start < chunk.count {
            guard let newline = Self.findNewline(base, from: start, to: chunk.count) else {
                try keep(UnsafeRawBufferPointer(rebasing: chunk[start...]))
                return
            }
            let length = newline - start
            guard length <= maxLineBytes else { throw .lineTooLong(bytes: length, max: maxLineBytes) }
            if length > 0, !line(UnsafeRawBufferPointer(rebasing: chunk[start..<newline])) { return }
            start = newline + 1
        }
        assert(start == chunk.count)
    }

    private mutating func keep(_ bytes: UnsafeRawBufferPointer) throws(PeerDecodeError) {
        guard partial.count + bytes.count <= maxLineBytes else {
            throw .lineTooLong(bytes: partial.count + bytes.count, max: maxLineBytes)
        }
        partial.append(contentsOf: bytes)
    }

    private static func findNewline(_ base: UnsafeRawPointer, from: Int, to: Int) -> Int? {
        guard let hit = memchr(base + from, Int32(UInt8(ascii: "\n")), to - from) else { return nil }
        return UnsafeRawPointer(hit) - base
    }
}
