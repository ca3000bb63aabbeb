import Glibc

/// The process's standard output and standard error as file descriptors: text written here goes
/// out at once in `write(2)` calls, past C's buffer that `print` fills (what Foundation's
/// `FileHandle.standardError.write` did, without linking Foundation).
public enum StandardStream: Int32, Sendable {
    case output = 1
    case error = 2

    /// Writes all of `text` (UTF-8); false when the descriptor refused (closed, full disk).
    @discardableResult
    public func write(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { FileDescriptor.writeAll(rawValue, UnsafeRawBufferPointer($0)) }
    }
}

/// Plain descriptor I/O that the standard library leaves to the C library.
public enum FileDescriptor {
    /// Writes all of `bytes`, retrying on EINTR and short writes; false on any other error.
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, base + offset, bytes.count - offset)
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }
}
