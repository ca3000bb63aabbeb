import Foundation
import Synchronization
import Testing
@testable import P2P

@Suite("HTTPServer basics")
struct HTTPServerBasicsTests {
    @Test func keepAlive_reusesOneConnectionForManyRequests() throws {
        try withServer { address in
            let raw = try RawClient(address)
            for i in 0..<50 {
                raw.send("GET /n/\(i) HTTP/1.1\r\nHost: x\r\n\r\n")
                let reply = raw.read(until: "body=0")
                #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n"))
                #expect(reply.contains("GET /n/\(i) body=0"))
                #expect(!reply.contains("Connection: close"))
            }
        }
    }

    @Test func pipelinedRequests_areAnsweredInOrder() throws {
        try withServer { address in
            let raw = try RawClient(address)
            raw.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyzGET /c HTTP/1.1\r\nHost: x\r\n\r\n")
            let reply = raw.read(until: "HTTP/1.1 200", count: 3)
            let a = try #require(reply.range(of: "GET /a body=0"))
            let b = try #require(reply.range(of: "POST /b body=3"))
            let c = try #require(reply.range(of: "GET /c body=0"))
            #expect(a.lowerBound < b.lowerBound && b.lowerBound < c.lowerBound)
        }
    }

    @Test func pipelinedRequestsAnsweredInline_leaveInOneSend() throws {
        try withServer { address in
            let raw = try RawClient(address)
            raw.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n")
            // One blocking read: it returns what the first send delivered, all three answers
            // when they went out together (one loopback segment), the first alone when not.
            var buffer = [UInt8](repeating: 0, count: 16_384)
            let n = recv(raw.fd, &buffer, buffer.count, 0)
            let first = String(decoding: buffer[..<max(n, 0)], as: UTF8.self)
            #expect(first.components(separatedBy: "HTTP/1.1 200").count - 1 == 3, "one read held: \(first)")
            #expect(first.contains("GET /a body=0") && first.contains("GET /c body=0"))
        }
    }

    @Test func http10_closesUnlessKeepAliveAsked() throws {
        try withServer { address in
            let plain = try RawClient(address)
            plain.send("GET /old HTTP/1.0\r\n\r\n")
            let reply = plain.readUntilClose()
            #expect(reply.hasPrefix("HTTP/1.1 200 OK"))
            #expect(reply.contains("Connection: close"))
            let kept = try RawClient(address)
            kept.send("GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(kept.read(until: "body=0").contains("Connection: keep-alive"))
            kept.send("GET /two HTTP/1.0\r\n\r\n")
            #expect(kept.readUntilClose().contains("GET /two body=0"))
        }
    }

    @Test func headRequest_getsHeadersWithoutBody() throws {
        try withServer(handler: { _, responder in responder.send(.text("hello")) }) { address in
            let raw = try RawClient(address)
            raw.send("HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let reply = raw.readUntilClose()
            #expect(reply.contains("Content-Length: 5\r\n"))
            #expect(reply.hasSuffix("\r\n\r\n"))
        }
    }

    @Test func expect100Continue_isAnsweredBeforeTheBody() throws {
        try withServer { address in
            let raw = try RawClient(address)
            raw.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            #expect(raw.read(until: "\r\n\r\n") == "HTTP/1.1 100 Continue\r\n\r\n")
            raw.send("abcde")
            #expect(raw.read(until: "body=5").contains("POST /up body=5"))
        }
    }

    @Test func chunkedRequestBody_isDecoded() throws {
        let handler: @Sendable (HTTPRequest, HTTPResponder) -> Void = { request, responder in
            responder.send(.text("got:" + request.bodyText))
        }
        try withServer(handler: handler) { address in
            let raw = try RawClient(address)
            raw.send("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-T: 1\r\n\r\n")
            #expect(raw.read(until: "world").contains("got:hello, world"))
        }
    }

    @Test func responderAnsweringFromAnotherThreadLater_isDelivered() throws {
        let handler: @Sendable (HTTPRequest, HTTPResponder) -> Void = { request, responder in
            #expect(!Thread.isMainThread || true)
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) {
                responder.send(.json(status: 202, body: "{\"later\":true}"))
            }
        }
        try withServer(handler: handler) { address in
            let client = try HTTPClient(baseURL: "http://\(address)")
            for _ in 0..<3 {
                let response = try client.request(method: "POST", path: "/submit-tx", body: Array("{}".utf8), timeout: .seconds(5))
                #expect(response.status == 202)
                #expect(response.bodyText == "{\"later\":true}")
            }
        }
    }

    @Test func droppedResponder_answers500() throws {
        try withServer(handler: { _, _ in }) { address in
            let client = try HTTPClient(baseURL: "http://\(address)")
            let response = try client.request(path: "/", timeout: .seconds(5))
            #expect(response.status == 500)
            #expect(response.bodyText.contains("\"code\":\"internal_error\""))
        }
    }

    @Test func garbageInput_getsA400AndServerKeepsServing() throws {
        try withServer { address in
            let raw = try RawClient(address)
            raw.send([0x16, 0x03, 0x01, 0x00, 0xFF, 0x0D, 0x0A, 0x0D, 0x0A])  // a TLS hello fragment
            let reply = raw.readUntilClose()
            #expect(reply.hasPrefix("HTTP/1.1 400 Bad Request"))
            #expect(reply.contains("{\"error\":{\"code\":\"bad_request\""))
            let client = try HTTPClient(baseURL: "http://\(address)")
            #expect(try client.request(path: "/still", timeout: .seconds(5)).status == 200)
        }
    }

    @Test func queryAndPath_areSplitAndDecoded() throws {
        let handler: @Sendable (HTTPRequest, HTTPResponder) -> Void = { request, responder in
            responder.send(.text("\(request.path)|\(request.decodedPath)|\(request.query("wait") ?? "-")|\(request.query("q") ?? "-")"))
        }
        try withServer(handler: handler) { address in
            let client = try HTTPClient(baseURL: "http://\(address)")
            let response = try client.request(path: "/a%20b?wait=commit&q=x+y%26z", timeout: .seconds(5))
            #expect(response.bodyText == "/a%20b|/a b|commit|x y&z")
        }
    }
}
