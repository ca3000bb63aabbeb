import Foundation
import Glibc
import P2P

/// A blocking TCP client that sends exact bytes to a node's port (HTTP or peer) and reads what
/// comes back, for tests that play a hostile client. Every read is bounded in time.
final class RawSocket {
    let fd: Int32

    init(_ address: String) throws {
        fd = try Socket.startConnect(to: SocketAddress(parsing: address), nonBlocking: false).fd
        setTimeout(.seconds(5))
    }

    deinit { close(fd) }

    /// Sends everything it can; returns false when the peer stopped taking bytes.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + written, $0.count - written, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            written += n
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Reads until the other side closes or `timeout` passes.
    func readUntilClose(timeout: Duration = .seconds(20)) -> String {
        read(timeout: timeout) { _ in false }
    }

    /// Reads until `done` holds for what was read so far (or close, or timeout).
    func read(timeout: Duration = .seconds(20), until done: (String) -> Bool) -> String {
        let deadline = ContinuousClock.now + timeout
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while ContinuousClock.now < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }  // the socket's own timeout: keep to ours
            if n <= 0 { break }
            received.append(contentsOf: buffer[0..<n])
            if done(String(decoding: received, as: UTF8.self)) { break }
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// One whole HTTP response (head and Content-Length body) from the stream, or what arrived.
    func readResponse(timeout: Duration = .seconds(30)) -> String {
        read(timeout: timeout) { text in
            guard let headEnd = text.range(of: "\r\n\r\n") else { return false }
            let head = text[..<headEnd.lowerBound].lowercased()
            guard let field = head.range(of: "content-length: ") else { return true }
            let digits = head[field.upperBound...].prefix { $0.isNumber }
            return text.utf8.count - text[..<headEnd.upperBound].utf8.count >= Int(digits) ?? 0
        }
    }

    private func setTimeout(_ timeout: Duration) {
        var tv = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// The status code and error code of a raw HTTP response text ("HTTP/1.1 400 ...{"error":{"code":"x"...").
struct RawAnswer: CustomStringConvertible {
    let status: Int
    let code: String?
    let text: String

    init(_ text: String) {
        self.text = text
        let parts = text.split(separator: " ", maxSplits: 2)
        status = parts.count >= 2 ? Int(parts[1]) ?? 0 : 0
        if let range = text.range(of: "\"code\":\"") {
            code = String(text[range.upperBound...].prefix { $0 != "\"" })
        } else {
            code = nil
        }
    }

    var description: String { "\(status) \(code ?? "-"): \(text.prefix(300))" }
}
