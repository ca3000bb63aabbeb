import Dispatch
import P2P
import Synchronization
import Testing
@testable import Membership

/// Which connection a pipelined read goes on: the one collecting this turn's reads to the node,
/// up to `maxPipelineDepth` requests, then another idle one; none when pipelining is off.
@Suite("GatewayPipeline") struct GatewayPipelineTests {
    struct Failure: Error { let why: String }

    /// With two idle connections to a listening node, pipelines three reads in one loop turn and
    /// reports which of them shared a connection (nil: `pipelining` offered none).
    static func connectionsOfThreeReads(depth: Int) throws -> [Int?] {
        let node = HTTPServer { _, responder in responder.send(.text("ok")) }
        let bound = try node.start(bindTo: SocketAddress(parsing: "127.0.0.1:0"))
        defer { node.stop() }
        let url = "http://\(bound)"
        let loop = try EventLoop(name: "pool-test")
        loop.start()
        defer { loop.shutdown() }
        let settings = { var s = GatewaySettings(); s.maxPipelineDepth = depth; return s }()
        let result = Mutex<[Int?]?>(nil)
        let done = DispatchSemaphore(value: 0)
        loop.execute {
            let pool = GatewayUpstreamPool(eventLoop: loop, settings: settings, resolver: GatewayResolver(maxNames: 8))
            var connected: [HTTPClientConnection] = []
            for _ in 0..<2 {
                pool.take(url) { taken in
                    guard case .success(let connection) = taken else { done.signal(); return }
                    connected.append(connection)
                    guard connected.count == 2 else { return }
                    for connection in connected { pool.giveBack(connection, url) }
                    // One turn: three reads to the same node.
                    let request = try! HTTPClient.encode(method: "GET", path: "/x", host: "test", headers: HTTPHeaders(), body: [])
                    var used: [HTTPClientConnection?] = []
                    for _ in 0..<3 {
                        let connection = pool.pipelining(url)
                        connection?.pipeline(request, isHEAD: false, deadlineNanos: .max) { _ in }
                        used.append(connection)
                    }
                    let ids = used.map { c in c.flatMap { c in connected.firstIndex { $0 === c } } }
                    result.withLock { $0 = ids }
                    pool.closeAll()
                    done.signal()
                }
            }
        }
        guard done.wait(timeout: .now() + 15) == .success, let ids = result.withLock({ $0 }) else { throw Failure(why: "no result within 15 s") }
        return ids
    }

    @Test func readsShareAConnectionUpToMaxPipelineDepthThenTakeAnother() throws {
        let ids = try Self.connectionsOfThreeReads(depth: 2)
        #expect(ids.allSatisfy { $0 != nil }, "every read found a connection: \(ids)")
        #expect(ids[0] == ids[1], "the first two share one connection")
        #expect(ids[2] != ids[0], "the third goes on the other idle connection")
    }

    @Test func maxPipelineDepthOneTurnsPipeliningOff() throws {
        #expect(try Self.connectionsOfThreeReads(depth: 1) == [nil, nil, nil])
    }

    @Test func onlyReadsWithoutABodyArePipelined() {
        #expect(Gateway.mayPipeline(method: "GET", bodyBytes: 0) && Gateway.mayPipeline(method: "HEAD", bodyBytes: 0))
        for method in ["POST", "PUT", "DELETE", "PATCH"] { #expect(!Gateway.mayPipeline(method: method, bodyBytes: 0)) }
        #expect(!Gateway.mayPipeline(method: "GET", bodyBytes: 1))
    }
}
