#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Stops the run as a crash when a property the target checks does not hold: libFuzzer sees the
/// abort, saves the input as a reproducer and prints how to replay it. Unlike `precondition`, the
/// message survives `-O` builds.
public func require(_ condition: Bool, _ message: @autoclosure () -> String,
                    file: StaticString = #fileID, line: UInt = #line) {
    if condition { return }
    let text = Array("fuzz property violated (\(file):\(line)): \(message())\n".utf8)
    _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    abort()
}

/// The input as an array (the decoders under test take arrays or buffers of their own).
public func inputBytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8] {
    Array(UnsafeBufferPointer(start: data, count: size))
}

/// Where to cut `bytes` to feed an incremental decoder in pieces: increasing offsets ending at
/// `bytes.count`. The piece sizes (1 to 40 bytes, now and then one large piece) follow from a hash
/// of the input itself, so corpus files stay plain inputs while every mutation splits differently.
public func cutPoints(_ bytes: [UInt8]) -> [Int] {
    var state: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a offset basis
    for b in bytes { state = (state ^ UInt64(b)) &* 0x100_0000_01b3 }
    var cuts: [Int] = []
    var offset = 0
    while offset < bytes.count {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17  // xorshift64
        let size = state % 8 == 0 ? Int((state >> 8) % 1024) + 1 : Int((state >> 8) % 40) + 1
        offset = min(bytes.count, offset + size)
        cuts.append(offset)
    }
    return cuts
}
