import Foundation
import Glibc
@testable import P2P
import Synchronization
import Testing

/// HTTP/1.1 pipelining on the event-loop client: the requests of one loop turn leave in one
/// write, the answers are split and handed out in order, and a connection that ends mid-pipeline
/// fails each unanswered request as one the server may have received.
@Suite struct HTTPClientPipelineTests {
    typealias Outcome = Result<HTTPClientResponse, HTTPClientError>

    /// A server accepting one connection: reads until `requests` request heads have arrived,
    /// writes `pieces` with a pause between them, then closes.
    final class PipelineServer: Sendable {
        let address: SocketAddress
        /// How many request heads the server's first read held.
        let headsInFirstRead = Atomic<Int>(-1)

        init(requests: Int, pieces: [String]) throws {
            let (fd, bound) = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0"))
            address = bound
            Thread { [self] in
                defer { close(fd) }
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&entry, 1, 5_000) == 1 else { return }
                let conn = accept(fd, nil, nil)
                guard conn >= 0 else { return }
                defer { close(conn) }
                var received: [UInt8] = []
                var reads = 0
                while Self.heads(in: received) < requests {  // bound: the peer's bytes, each read ≥ 1
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    let n = recv(conn, &buffer, buffer.count, 0)
                    guard n > 0 else { return }
                    received += buffer[..<n]
                    reads += 1
                    if reads == 1 { headsInFirstRead.store(Self.heads(in: received), ordering: .relaxed) }
                }
                for piece in pieces {
                    _ = piece.withCString { send(conn, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                    usleep(20_000)
                }
                usleep(200_000)  // lets the client read the last piece before the close
            }.start()
        }

        static func heads(in bytes: [UInt8]) -> Int {
            String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n\r\n").count - 1
        }
    }

    /// Pipelines `count` GETs in one loop turn on one connection; their outcomes in completion
    /// order (each tagged with its request's index), and whether the connection was idle after.
    static func run(_ server: PipelineServer, count: Int) throws -> (outcomes: [(Int, Outcome)], idleAfter: Bool) {
        let loop = try EventLoop(name: "pipeline-test")
        loop.start()
        defer { loop.shutdown() }
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<([(Int, Outcome)], Bool)>(([], false))
        let request = try HTTPClient.encode(method: "GET", path: "/x", host: "test", headers: HTTPHeaders(), body: [])
        let address = server.address
        loop.execute {
            let deadline = LinuxSyscalls.monotonicNanos() + 5_000_000_000
            HTTPClientConnection.connect(to: address, on: loop, maxResponseBytes: 1 << 20, maxRequestBytes: 1 << 20,
                                         timeout: .seconds(5)) { connected in
                guard case .success(let connection) = connected else { done.signal(); return }
                for index in 0..<count {
                    connection.pipeline(request, isHEAD: false, deadlineNanos: deadline) { outcome in
                        let all = result.withLock { state -> Bool in
                            state.0.append((index, outcome))
                            return state.0.count == count
                        }
                        guard all else { return }
                        result.withLock { $0.1 = connection.isIdle }
                        connection.close()
                        done.signal()
                    }
                }
            }
        }
        guard done.wait(timeout: .now() + 15) == .success else { throw HTTPClientConnectionTests.TestError("no outcome within 15 s") }
        return result.withLock { $0 }
    }

    @Test func requestsOfOneTurnLeaveInOneWriteAndTheirAnswersAreSplitInOrder() throws {
        let server = try PipelineServer(requests: 3, pieces: [
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nTransfer-",
            "Encoding: chunked\r\n\r\n2\r\nbb\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ncc",
            "c",
        ])
        let (outcomes, idleAfter) = try Self.run(server, count: 3)
        #expect(outcomes.map(\.0) == [0, 1, 2], "answered in request order")
        #expect(outcomes.map { HTTPClientConnectionTests.body($0.1) } == ["a", "bb", "ccc"])
        #expect(server.headsInFirstRead.load(ordering: .relaxed) == 3, "the three requests arrived in one read")
        #expect(idleAfter, "kept alive after the last answer")
    }

    @Test func aConnectionEndingMidPipelineFailsTheUnansweredRequestsAsPossiblyReceived() throws {
        let server = try PipelineServer(requests: 3, pieces: ["HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"])
        let (outcomes, idleAfter) = try Self.run(server, count: 3)
        #expect(outcomes.map(\.0) == [0, 1, 2])
        #expect(HTTPClientConnectionTests.body(outcomes[0].1) == "a")
        for (index, outcome) in outcomes.dropFirst() {
            // `.connectionClosed` (not `.notSent`): the node may have received it, so only a
            // request safe to repeat is tried again (the gateway's rule for any failure after sending).
            guard case .failure(.connectionClosed) = outcome else { Issue.record("request \(index): \(outcome)"); continue }
        }
        #expect(!idleAfter)
    }

    @Test func anAnswerSayingCloseFailsTheRequestsBehindItAsPossiblyReceived() throws {
        let server = try PipelineServer(requests: 2, pieces: ["HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na"])
        let (outcomes, _) = try Self.run(server, count: 2)
        #expect(HTTPClientConnectionTests.body(outcomes[0].1) == "a")
        guard case .failure(.connectionClosed) = outcomes[1].1 else { Issue.record("\(outcomes[1].1)"); return }
    }
}
