import Foundation
import Glibc
import Synchronization
import Testing
@testable import P2P

@Suite("HTTPServer limits and timeouts")
struct HTTPServerLimitsTests {
    @Test func oversizedHeaders_get431AndClose() throws {
        var settings = HTTPServerSettings()
        settings.maxHeaderBytes = 1024
        try withServer(settings) { address in
            let raw = try RawClient(address)
            raw.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 2000))\r\n\r\n")
            let reply = raw.readUntilClose()
            #expect(reply.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large"))
            #expect(reply.contains("\"code\":\"headers_too_large\""))
            #expect(reply.contains("Connection: close"))
        }
    }

    @Test func tooManyHeaders_get431() throws {
        var settings = HTTPServerSettings()
        settings.maxHeaderCount = 5
        try withServer(settings) { address in
            let raw = try RawClient(address)
            let fields = (0..<10).map { "X-\($0): v\r\n" }.joined()
            raw.send("GET / HTTP/1.1\r\nHost: x\r\n\(fields)\r\n")
            #expect(raw.readUntilClose().hasPrefix("HTTP/1.1 431"))
        }
    }

    @Test func oversizedContentLength_gets413WithoutReadingTheBody() throws {
        var settings = HTTPServerSettings()
        settings.defaultMaxBodyBytes = 100
        try withServer(settings) { address in
            let raw = try RawClient(address)
            raw.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n")
            let reply = raw.readUntilClose()
            #expect(reply.hasPrefix("HTTP/1.1 413 Content Too Large"))
            #expect(reply.contains("\"code\":\"body_too_large\""))
            #expect(!reply.contains("100 Continue"))
        }
    }

    @Test func perRouteBodyLimit_overridesTheDefault() throws {
        var settings = HTTPServerSettings()
        settings.defaultMaxBodyBytes = 10
        settings.maxBodyBytesOverride = { _, path in path == "/big" ? 1000 : nil }
        try withServer(settings) { address in
            let client = try HTTPClient(baseURL: "http://\(address)")
            let body = [UInt8](repeating: 0x61, count: 500)
            #expect(try client.request(method: "POST", path: "/big", body: body, timeout: .seconds(5)).status == 200)
            #expect(try client.request(method: "POST", path: "/small", body: body, timeout: .seconds(5)).status == 413)
        }
    }

    @Test func oversizedChunkedBody_gets413() throws {
        var settings = HTTPServerSettings()
        settings.defaultMaxBodyBytes = 8
        try withServer(settings) { address in
            let raw = try RawClient(address)
            raw.send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n")
            #expect(raw.readUntilClose().hasPrefix("HTTP/1.1 413"))
        }
    }

    @Test func longRequestLine_gets414() throws {
        var settings = HTTPServerSettings()
        settings.maxRequestLineBytes = 256
        try withServer(settings) { address in
            let raw = try RawClient(address)
            raw.send("GET /\(String(repeating: "a", count: 1000)) HTTP/1.1\r\nHost: x\r\n\r\n")
            let reply = raw.readUntilClose()
            #expect(reply.hasPrefix("HTTP/1.1 414 URI Too Long"))
            #expect(reply.contains("\"code\":\"uri_too_long\""))
        }
    }

    @Test func unknownTransferEncoding_gets501() throws {
        try withServer { address in
            let raw = try RawClient(address)
            raw.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
            #expect(raw.readUntilClose().hasPrefix("HTTP/1.1 501"))
        }
    }

    @Test func unsupportedVersion_gets505() throws {
        try withServer { address in
            let raw = try RawClient(address)
            raw.send("GET / HTTP/2.0\r\nHost: x\r\n\r\n")
            let reply = raw.readUntilClose()
            #expect(reply.hasPrefix("HTTP/1.1 505"))
            #expect(reply.contains("http_version_not_supported"))
        }
    }

    @Test func slowClientWithHalfAHeader_isClosedAfterReadHeaderTimeout() throws {
        var settings = HTTPServerSettings()
        settings.readHeaderTimeout = .milliseconds(200)
        try withServer(settings) { address in
            let raw = try RawClient(address)
            raw.send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            let start = ContinuousClock.now
            let reply = raw.readUntilClose(timeout: .seconds(30))
            let elapsed = ContinuousClock.now - start
            // The 408 proves the timer closed it; only the lower bound is about timing we control
            // (a busy machine may fire the timer late, never early).
            #expect(reply.hasPrefix("HTTP/1.1 408 Request Timeout"), "\(reply) after \(elapsed)")
            #expect(reply.contains("\"code\":\"request_timeout\""))
            #expect(elapsed >= .milliseconds(150), "closed after \(elapsed), before its 200 ms read-header timeout")
        }
    }

    @Test func idleKeepAliveConnection_isClosedAfterIdleTimeout() throws {
        var settings = HTTPServerSettings()
        settings.idleTimeout = .milliseconds(200)
        try withServer(settings) { address in
            let raw = try RawClient(address)
            raw.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(raw.read(until: "body=0").contains("200 OK"))
            #expect(raw.isClosedByServer(timeout: .seconds(20)))
        }
    }

    @Test func connectionsOverTheLimit_get503() throws {
        var settings = HTTPServerSettings()
        settings.maxConnections = 2
        try withServer(settings) { address in
            let first = try RawClient(address)
            let second = try RawClient(address)
            first.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            second.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(first.read(until: "body=0").contains("200 OK"))
            #expect(second.read(until: "body=0").contains("200 OK"))
            let third = try RawClient(address)
            let reply = third.readUntilClose()
            #expect(reply.hasPrefix("HTTP/1.1 503"))
            #expect(reply.contains("too_many_connections"))
        }
    }

    @Test func clientDisconnectingMidRequest_leavesNoConnectionBehind() throws {
        let server = HTTPServer(handler: echoHandler)
        let address = try server.start(bindTo: SocketAddress(parsing: "127.0.0.1:0"))
        defer { server.stop() }
        for _ in 0..<20 {
            let raw = try RawClient(address)
            raw.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf")
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while server.connectionCount > 0, ContinuousClock.now < deadline { usleep(5_000) }
        #expect(server.connectionCount == 0)
    }

    @Test func clientDisconnectingMidResponse_leavesNoConnectionBehind() throws {
        let big = [UInt8](repeating: 0x62, count: 3 * 1024 * 1024)
        let server = HTTPServer(handler: { _, responder in responder.send(HTTPResponse(status: 200, body: big)) })
        let address = try server.start(bindTo: SocketAddress(parsing: "127.0.0.1:0"))
        defer { server.stop() }
        for _ in 0..<5 {
            let raw = try RawClient(address)
            raw.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = raw.read(until: "bbbb")  // take a little of the body, then vanish
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while server.connectionCount > 0, ContinuousClock.now < deadline { usleep(5_000) }
        #expect(server.connectionCount == 0)
    }

    // MARK: - Shared budgets (connections per address, body bytes in flight)

    @Test func connectionsFromOneAddressOverItsLimit_areRefusedAtAccept_otherAddressesStillServed() throws {
        var settings = HTTPServerSettings()
        settings.maxConnectionsPerAddress = 2
        let server = HTTPServer(settings: settings, handler: echoHandler)
        let address = try server.start(bindTo: SocketAddress(parsing: "0.0.0.0:0"))
        defer { server.stop() }
        let target = try SocketAddress(parsing: "127.0.0.1:\(address.port!)")
        var first: RawClient? = try RawClient(target)
        let second = try RawClient(target)
        first?.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        second.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(first?.read(until: "body=0").contains("200 OK") == true)
        #expect(second.read(until: "body=0").contains("200 OK"))
        let third = try RawClient(target)
        let reply = third.readUntilClose()
        #expect(reply.hasPrefix("HTTP/1.1 503"), "\(reply)")
        #expect(reply.contains("too_many_connections"))
        #expect(server.stats.refusedConnectionsPerAddress == 1)
        // Another client address is not affected.
        let other = try RawClient(target, from: "127.0.0.2")
        other.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(other.read(until: "body=0").contains("200 OK"))
        // A closed connection gives its slot back.
        let again = try waitForSlot(target, after: { first = nil })
        #expect(again.contains("200 OK"), "\(again)")
        withExtendedLifetime(second) {}
    }

    /// Frees a slot with `free`, then retries (bounded) until a request from the same address is served.
    private func waitForSlot(_ target: SocketAddress, after free: () -> Void) throws -> String {
        free()
        let deadline = ContinuousClock.now + .seconds(20)
        var last = ""
        while ContinuousClock.now < deadline {
            let client = try RawClient(target)
            client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            last = client.read(until: "body=0", timeout: .seconds(1))
            if last.contains("200 OK") { return last }
            usleep(10_000)
        }
        return last
    }

    /// A handler that answers nothing until `release` is called, so bodies stay in flight.
    final class Held: Sendable {
        let responders = Mutex<[HTTPResponder]>([])
        var handler: @Sendable (HTTPRequest, HTTPResponder) -> Void {
            { [self] request, responder in
                if request.path == "/now" { responder.send(.text("now body=\(request.body.count)")); return }
                responders.withLock { $0.append(responder) }
            }
        }
        func release() { for r in responders.withLock({ r in defer { r = [] }; return r }) { r.send(.text("released")) } }
        var count: Int { responders.withLock { $0.count } }
    }

    @Test func bodyOverTheServerWideBudget_gets503Overloaded_andTheBudgetIsReleasedAfterTheAnswer() throws {
        var settings = HTTPServerSettings()
        settings.maxBodyBytesInFlight = 1_000
        let held = Held()
        try withServer(settings, handler: held.handler) { address in
            let a = try RawClient(address)
            a.send("POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 800\r\n\r\n" + String(repeating: "a", count: 800))
            let deadline = ContinuousClock.now + .seconds(20)
            while held.count == 0, ContinuousClock.now < deadline { usleep(2_000) }
            let b = try RawClient(address)
            b.send("POST /now HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n" + String(repeating: "b", count: 300))
            let refused = b.readUntilClose()
            #expect(refused.hasPrefix("HTTP/1.1 503"), "\(refused)")
            #expect(refused.contains("\"code\":\"overloaded\""))
            #expect(held.count == 1)
            held.release()
            #expect(a.read(until: "released").contains("200 OK"))
            let c = try RawClient(address)
            c.send("POST /now HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n" + String(repeating: "c", count: 300))
            #expect(c.read(until: "body=300").contains("200 OK"))
        }
    }

    @Test func chunkedBodyGrowingOverTheBudget_gets503Overloaded_andAClosedConnectionReleasesItsShare() throws {
        var settings = HTTPServerSettings()
        settings.maxBodyBytesInFlight = 1_000
        let held = Held()
        let server = HTTPServer(settings: settings, handler: held.handler)
        let address = try server.start(bindTo: SocketAddress(parsing: "127.0.0.1:0"))
        defer { server.stop() }
        do {
            let a = try RawClient(address)
            a.send("POST /hold HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n" + String(repeating: "a", count: 600))
            let deadline = ContinuousClock.now + .seconds(20)
            while server.stats.bodyBytesInFlight < 600, ContinuousClock.now < deadline { usleep(2_000) }
            #expect(server.stats.bodyBytesInFlight == 600)
            let b = try RawClient(address)
            b.send("POST /now HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1f4\r\n" + String(repeating: "b", count: 500) + "\r\n0\r\n\r\n")
            let refused = b.readUntilClose()
            #expect(refused.hasPrefix("HTTP/1.1 503") && refused.contains("overloaded"), "\(refused)")
            #expect(server.stats.refusedBodiesOverBudget == 1)
        }  // a disconnects mid-body
        let deadline = ContinuousClock.now + .seconds(20)
        while server.stats.bodyBytesInFlight > 0, ContinuousClock.now < deadline { usleep(2_000) }
        #expect(server.stats.bodyBytesInFlight == 0)
    }
}
