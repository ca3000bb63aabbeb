import Foundation
import Glibc
@testable import P2P
import Synchronization
import Testing

/// The event-loop HTTP client: responses split across reads in every framing, kept-alive reuse,
/// and its bounds, against a scripted server that sends each reply in pieces.
@Suite struct HTTPClientConnectionTests {
    typealias Outcome = Result<HTTPClientResponse, HTTPClientError>

    /// A server accepting one connection; for each reply it reads a request, then writes the
    /// reply's pieces with a pause between them (so the client sees them in separate reads).
    final class ScriptedServer: Sendable {
        final class Counter: Sendable { let value = Atomic<Int>(0) }
        let address: SocketAddress
        let accepted = Counter()

        init(_ replies: [[String]]) throws {
            let (fd, bound) = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0"))
            address = bound
            let accepted = self.accepted
            Thread {
                defer { close(fd) }
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&entry, 1, 5_000) == 1 else { return }
                let conn = accept(fd, nil, nil)
                guard conn >= 0 else { return }
                accepted.value.wrappingAdd(1, ordering: .relaxed)
                defer { close(conn) }
                for pieces in replies {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    guard recv(conn, &buffer, buffer.count, 0) > 0 else { return }
                    for piece in pieces {
                        _ = piece.withCString { send(conn, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                        usleep(20_000)
                    }
                }
                usleep(200_000)  // lets the client see the last reply before the close
            }.start()
        }
    }

    /// Sends `count` GETs one after another on one connection; their outcomes, and whether the
    /// connection was still reusable after the last one.
    static func run(_ server: ScriptedServer, count: Int, maxResponseBytes: Int = 1 << 20,
                    timeout: Duration = .seconds(5)) throws -> (outcomes: [Outcome], idleAfter: Bool) {
        let loop = try EventLoop(name: "client-test")
        loop.start()
        defer { loop.shutdown() }
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<([Outcome], Bool)>(([], false))
        let request = try HTTPClient.encode(method: "GET", path: "/x", host: "test", headers: HTTPHeaders(), body: [])
        let address = server.address
        loop.execute {
            let deadline = LinuxSyscalls.monotonicNanos() + UInt64(timeout.components.seconds) * 1_000_000_000
            func next(_ connection: HTTPClientConnection, _ left: Int) {
                guard left > 0 else {
                    result.withLock { $0.1 = connection.isIdle }
                    connection.close()
                    done.signal()
                    return
                }
                connection.send(request, isHEAD: false, deadlineNanos: deadline) { outcome in
                    result.withLock { $0.0.append(outcome) }
                    if case .failure = outcome { connection.close(); done.signal(); return }
                    next(connection, left - 1)
                }
            }
            HTTPClientConnection.connect(to: address, on: loop, maxResponseBytes: maxResponseBytes, maxRequestBytes: 1 << 20,
                                         timeout: .seconds(5)) { connected in
                switch connected {
                case .success(let connection): next(connection, count)
                case .failure(let error): result.withLock { $0.0.append(.failure(error)) }; done.signal()
                }
            }
        }
        guard done.wait(timeout: .now() + 15) == .success else { throw TestError("no outcome within 15 s") }
        return result.withLock { $0 }
    }

    struct TestError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    static func body(_ outcome: Outcome) -> String? {
        if case .success(let r) = outcome { return r.bodyText }
        return nil
    }

    @Test func readsResponsesSplitAcrossReadsAndReusesTheConnection() throws {
        let server = try ScriptedServer([
            ["HTTP/1.1 200 OK\r\nContent-", "Length: 5\r\n\r", "\nhel", "lo"],
            ["HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc", "\r\n2\r\nde\r\n0\r\n\r\n"],
            ["HTTP/1.1 204 No Content\r\n\r\n"],
        ])
        let (outcomes, idleAfter) = try Self.run(server, count: 3)
        #expect(outcomes.map(Self.body) == ["hello", "abcde", ""])
        #expect(idleAfter, "kept alive after three responses")
        #expect(server.accepted.value.load(ordering: .relaxed) == 1)
    }

    @Test func aCloseDelimitedBodyEndsAtEOFAndTheConnectionIsNotReused() throws {
        let server = try ScriptedServer([["HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-", "eof"]])
        let (outcomes, idleAfter) = try Self.run(server, count: 1)
        #expect(outcomes.map(Self.body) == ["until-eof"])
        #expect(!idleAfter)
    }

    @Test func aBodyOverTheLimitIsRefusedWhateverItsFraming() throws {
        for reply in ["HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
                      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + String(repeating: "x", count: 64) + "\r\n",
                      "HTTP/1.1 200 OK\r\n\r\n" + String(repeating: "x", count: 64)] {
            let (outcomes, _) = try Self.run(try ScriptedServer([[reply]]), count: 1, maxResponseBytes: 16)
            #expect(outcomes.count == 1)
            if case .failure(let error) = outcomes.first { #expect(error == .responseTooLarge(limitBytes: 16)) } else { Issue.record("\(reply.prefix(30)) was accepted") }
        }
    }

    @Test func aConnectionClosedBeforeTheResponseIsAnError() throws {
        let closed = try Self.run(try ScriptedServer([[]]), count: 1)
        #expect(closed.outcomes.count == 1)
        if case .failure(let error) = closed.outcomes.first { #expect(error == .connectionClosed("before the response")) } else { Issue.record("no error") }
    }

    @Test func aRefusedConnectIsTheTypedConnectError() throws {
        let (fd, bound) = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0"))
        close(fd)
        let loop = try EventLoop(name: "client-test")
        loop.start()
        defer { loop.shutdown() }
        let got = Mutex<HTTPClientError?>(nil)
        let done = DispatchSemaphore(value: 0)
        loop.execute {
            HTTPClientConnection.connect(to: bound, on: loop, maxResponseBytes: 1024, maxRequestBytes: 1024, timeout: .seconds(2)) { r in
                if case .failure(let e) = r { got.withLock { $0 = e } }
                done.signal()
            }
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(got.withLock { $0 } == .connectionRefused("\(bound)"))
    }

    @Test func theHeadEndScanFindsTheFirstBlankLineLikeAGenericSearch() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = [0x0D, 0x0A, 0x41]
        for _ in 0..<2_000 {
            let bytes = (0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            let from = Int.random(in: 0...max(0, bytes.count), using: &generator)
            let expected = from <= bytes.count ? bytes[from...].firstRange(of: [0x0D, 0x0A, 0x0D, 0x0A]) : nil
            #expect(HTTPClientConnection.headEnd(in: bytes, from: from) == expected, "\(bytes) from \(from)")
        }
    }
}
