import Foundation
import Glibc
import Synchronization
import Testing
@testable import P2P

@Suite("HTTPClient")
struct HTTPClientTests {
    @Test func roundTrip_postsABodyAndReadsTheAnswer() throws {
        let handler: @Sendable (HTTPRequest, HTTPResponder) -> Void = { request, responder in
            responder.send(.json(status: 201, body: "{\"len\":\(request.body.count),\"type\":\(HTTPResponse.jsonString(request.headers["content-type"] ?? ""))}"))
        }
        try withServer(handler: handler) { address in
            let client = try HTTPClient(baseURL: "http://\(address)")
            let response = try client.request(method: "POST", path: "/submit", headers: ["Content-Type": "application/json"],
                                              body: [UInt8](repeating: 0x41, count: 4000), timeout: .seconds(5))
            #expect(response.status == 201)
            #expect(response.headers["content-type"] == "application/json")
            #expect(response.bodyText == "{\"len\":4000,\"type\":\"application/json\"}")
        }
    }

    /// A server that refuses a large body with 413 before reading it, then closes: the client
    /// stops writing and returns that answer (as curl does) instead of failing with EPIPE/ECONNRESET.
    @Test func earlyAnswerToALargeBody_isTheResponse() throws {
        var settings = HTTPServerSettings()
        settings.defaultMaxBodyBytes = 1024
        try withServer(settings) { address in
            for _ in 0..<5 {
                let client = try HTTPClient(baseURL: "http://\(address)")
                let response = try client.request(method: "POST", path: "/submit", body: [UInt8](repeating: 0x20, count: 8 << 20),
                                                  timeout: .seconds(10))
                #expect(response.status == 413)
                #expect(response.bodyText.contains("body_too_large"))
                #expect(try client.request(path: "/after", timeout: .seconds(5)).status == 200, "a new connection after it")
            }
        }
    }

    @Test func reconnectsOnceWhenTheServerClosedAnIdleConnection() throws {
        var settings = HTTPServerSettings()
        settings.idleTimeout = .milliseconds(50)
        try withServer(settings) { address in
            let client = try HTTPClient(baseURL: "http://\(address)")
            #expect(try client.request(path: "/1", timeout: .seconds(5)).status == 200)
            usleep(400_000)  // the server's idle timeout closes the kept-alive connection
            #expect(try client.request(path: "/2", timeout: .seconds(5)).bodyText == "GET /2 body=0")
        }
    }

    @Test func connectionRefused_isATypedError() throws {
        // Bind and close a listener to get a port with nobody behind it.
        let (fd, bound) = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0"))
        close(fd)
        let client = try HTTPClient(baseURL: "http://\(bound)")
        #expect(throws: HTTPClientError.connectionRefused(bound.description)) {
            try client.request(path: "/", timeout: .seconds(2))
        }
    }

    @Test func timesOutOnAServerThatNeverAnswers() throws {
        try withServer(handler: { _, responder in
            // Far later than the client's 200 ms: the bound below tells the two apart on a busy machine.
            DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(20)) { responder.send(.text("late")) }
        }) { address in
            let client = try HTTPClient(baseURL: "http://\(address)")
            let start = ContinuousClock.now
            #expect(throws: HTTPClientError.timeout("waiting for the response")) {
                try client.request(path: "/", timeout: .milliseconds(200))
            }
            let elapsed = ContinuousClock.now - start
            #expect(elapsed < .seconds(10), "gave up after \(elapsed): its own 200 ms timeout, not the server's reply at 20 s")
        }
    }

    @Test func readsChunkedAndCloseDelimitedResponses() throws {
        let (fd, bound) = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0"))
        defer { close(fd) }
        let replies = [
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof",
        ]
        let thread = Thread {
            for reply in replies {
                var conn: Int32 = -1
                for _ in 0..<500 where conn < 0 { conn = accept(fd, nil, nil); if conn < 0 { usleep(10_000) } }
                guard conn >= 0 else { return }
                var buffer = [UInt8](repeating: 0, count: 4096)
                _ = recv(conn, &buffer, buffer.count, 0)
                _ = reply.withCString { send(conn, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                close(conn)
            }
        }
        thread.start()
        let client = try HTTPClient(baseURL: "http://\(bound)")
        #expect(try client.request(path: "/chunked", timeout: .seconds(5)).bodyText == "abcde")
        #expect(try client.request(path: "/eof", timeout: .seconds(5)).bodyText == "until-eof")
    }

    @Test func talksOverAUnixSocket() throws {
        let path = "/tmp/p2p-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { unlink(path) }
        let server = HTTPServer(handler: echoHandler)
        _ = try server.start(bindTo: SocketAddress(parsing: path))
        defer { server.stop() }
        let client = try HTTPClient(unixSocketPath: path)
        #expect(try client.request(path: "/version", timeout: .seconds(5)).bodyText == "GET /version body=0")
    }

    @Test func responseOverTheLimit_isRefused() throws {
        try withServer(handler: { _, r in r.send(.text(String(repeating: "x", count: 5000))) }) { address in
            let client = try HTTPClient(baseURL: "http://\(address)", maxResponseBytes: 1000)
            #expect(throws: HTTPClientError.responseTooLarge(limitBytes: 1000)) {
                try client.request(path: "/", timeout: .seconds(5))
            }
        }
    }

    /// A path, method or header the caller took from outside (a forwarded request) is a thrown
    /// error, never a trap: absolute form, authority form, asterisk, spaces, CR/LF injection.
    @Test func unsendableRequests_areThrownErrorsAndSendNothing() throws {
        let client = try HTTPClient(baseURL: "http://127.0.0.1:1")
        let paths = ["http://h/submit-tx", "h:80", "*", "", "/a b", "/a\r\nX: y", "/\u{7F}", "/é"]
        for path in paths {
            #expect(throws: HTTPClientError.self, "path \(path.debugDescription)") {
                try client.request(method: "POST", path: path, timeout: .seconds(1))
            }
        }
        #expect(throws: HTTPClientError.self) { try client.request(method: "GE T", path: "/", timeout: .seconds(1)) }
        #expect(throws: HTTPClientError.self) {
            try client.request(path: "/", headers: HTTPHeaders([("X-A", "v\r\nInjected: 1")]), timeout: .seconds(1))
        }
        #expect(HTTPClient.problem(method: "GET", path: "/tx/0x1?wait=commit", headers: HTTPHeaders([("A", "b c")])) == nil)
    }
}
