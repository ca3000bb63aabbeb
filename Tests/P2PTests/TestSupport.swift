import Foundation
import Glibc
import Synchronization
@testable import P2P

/// Starts a server on 127.0.0.1:0 and stops it when the test's closure returns.
func withServer<R>(_ settings: HTTPServerSettings = HTTPServerSettings(),
                   handler: @escaping @Sendable (HTTPRequest, HTTPResponder) -> Void = echoHandler,
                   _ body: (SocketAddress) throws -> R) throws -> R {
    let server = HTTPServer(settings: settings, handler: handler)
    let address = try server.start(bindTo: SocketAddress(parsing: "127.0.0.1:0"))
    defer { server.stop() }
    return try body(address)
}

/// Answers `METHOD path body=<n>` as text, for checking what the server decoded.
let echoHandler: @Sendable (HTTPRequest, HTTPResponder) -> Void = { request, responder in
    responder.send(.text("\(request.method) \(request.target) body=\(request.body.count)"))
}

/// A blocking raw TCP client for feeding the server exact bytes. Every read is bounded in time.
final class RawClient {
    let fd: Int32

    init(_ address: SocketAddress) throws {
        let started = try Socket.startConnect(to: address, nonBlocking: false)
        fd = started.fd
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Connects from a chosen loopback source address (127.0.0.0/8 is all ours), to play a
    /// second client machine.
    init(_ address: SocketAddress, from source: String) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = address.port!.bigEndian
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }
        let connected = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, size) } }
        guard bound == 0, connected == 0 else { close(fd); throw SocketError.system(call: "connect", errno: errno, address: source) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + written, $0.count - written, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            written += n
        }
    }

    /// Reads until the server closes or `timeout` passes; returns everything read.
    func readUntilClose(timeout: Duration = .seconds(20)) -> String {
        readWhile(timeout: timeout) { _ in true }
    }

    /// Reads until `text` contains `marker` `count` times (or close / timeout).
    func read(until marker: String, count: Int = 1, timeout: Duration = .seconds(20)) -> String {
        readWhile(timeout: timeout) { $0.components(separatedBy: marker).count - 1 < count }
    }

    /// True when the server has closed the connection (reads EOF within `timeout`).
    func isClosedByServer(timeout: Duration = .seconds(20)) -> Bool {
        var tv = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<1000 {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
        return false
    }

    private func readWhile(timeout: Duration, _ more: (String) -> Bool) -> String {
        let start = ContinuousClock.now
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while more(String(decoding: received, as: UTF8.self)), ContinuousClock.now - start < timeout {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: received, as: UTF8.self)
    }
}

extension String {
    func occurrences(of needle: String) -> Int { components(separatedBy: needle).count - 1 }
}
