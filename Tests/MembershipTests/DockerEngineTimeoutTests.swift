import Dispatch
import Foundation
import P2P
import Testing
@testable import Membership

/// The Docker and Swarm providers' calls to the engine give up after the engine client's
/// `requestTimeoutMs` (`[docker] engine_request_timeout_ms`), not a fixed 30 s.
@Suite struct DockerEngineTimeoutTests {
    /// An engine on a Unix socket that answers `GET /version` at once and everything else after
    /// `slowReplyMs`.
    static func slowEngine(at path: String, slowReplyMs: Int) throws -> HTTPServer {
        let server = HTTPServer { request, responder in
            if request.path == "/version" { return responder.send(.json(body: #"{"ApiVersion":"1.43"}"#)) }
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(slowReplyMs)) { responder.send(.json(body: "[]")) }
        }
        _ = try server.start(bindTo: SocketAddress(parsing: path))
        return server
    }

    @Test func aCallGivesUpAfterTheConfiguredRequestTimeout() throws {
        let path = "/tmp/engine-timeout-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { unlink(path) }
        let server = try Self.slowEngine(at: path, slowReplyMs: 10_000)
        defer { server.stop() }
        let engine = try DockerEngine(socketPath: path, requestTimeoutMs: 300)
        #expect(engine.requestTimeoutMs == 300)
        let started = Date()
        #expect(throws: DockerError.self) { try engine.send(DockerRequest("GET", "/containers/json")) }
        #expect(Date().timeIntervalSince(started) < 5, "gave up after its 300 ms, not the default 30 s or the engine's 10 s")
    }

    @Test func aCallWithinTheRequestTimeoutIsAnswered() throws {
        let path = "/tmp/engine-timeout-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { unlink(path) }
        let server = try Self.slowEngine(at: path, slowReplyMs: 50)
        defer { server.stop() }
        let engine = try DockerEngine(socketPath: path, requestTimeoutMs: 10_000)
        #expect(try engine.send(DockerRequest("GET", "/containers/json")).status == 200)
    }
}
