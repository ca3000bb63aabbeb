import Chain
import Dispatch
import Foundation
import P2P
import Synchronization
import Testing
@testable import Membership

/// Node names in the gateway: looked up off the event loops, again after a failed connection,
/// within `connectTimeoutMs`, with bounded tables; and a registry that cannot be reached yet.
@Suite("GatewayNameResolution", .serialized) struct GatewayNameResolutionTests {
    typealias Forwarding = GatewayForwardingTests

    /// Names the test controls: each maps to an address, or is held (the lookup blocks until
    /// `release`, like `getaddrinfo` for a Swarm task that is restarting).
    final class Names: Sendable {
        let table = Mutex<[String: SocketAddress]>([:])
        let held = Mutex<Set<String>>([])
        let lookups = Atomic<Int>(0)
        let release = DispatchSemaphore(value: 0)

        var lookup: GatewayResolver.Lookup {
            { [self] host, port in
                lookups.wrappingAdd(1, ordering: .sequentiallyConsistent)
                if held.withLock({ $0.contains(host) }) { _ = release.wait(timeout: .now() + 20) }
                guard let address = table.withLock({ $0[host] }) else {
                    return .failure(.invalidAddress("\(host):\(port)", reason: "cannot resolve host '\(host)'"))
                }
                return .success(address)
            }
        }
    }

    static func gateway(registry: String, names: Names, _ tune: (inout GatewaySettings) -> Void = { _ in }) throws -> (Gateway, String) {
        var settings = GatewaySettings()
        settings.registryURL = registry
        tune(&settings)
        let g = Gateway(settings: settings, lookup: names.lookup)
        return (g, "http://\(try g.start(bindTo: SocketAddress(parsing: "127.0.0.1:0")))")
    }

    static func address(_ url: String) throws -> SocketAddress { try SocketAddress(parsing: String(url.dropFirst("http://".count))) }

    @Test func aNodeBackAtANewAddressBehindTheSameNameIsReachedAgainAfterAFailedConnection() throws {
        let names = Names()
        let old = try Forwarding.FakeNode()
        names.table.withLock { $0["node-one"] = try? Self.address(old.url) }
        let (reg, regURL) = try Forwarding.registry([("node-one", "http://node-one:8080")])
        let (gw, gwURL) = try Self.gateway(registry: regURL, names: names)
        defer { gw.stop(); reg.stop() }
        #expect(try Forwarding.send(gwURL, "GET", "/echo").status == 201)
        // The node restarts elsewhere: the old address refuses, the name now points to the new one.
        old.server.stop()
        let moved = try Forwarding.FakeNode()
        defer { moved.server.stop() }
        names.table.withLock { $0["node-one"] = try? Self.address(moved.url) }
        var statuses: [Int] = []
        for _ in 0..<3 where statuses.last != 201 { statuses.append(try Forwarding.send(gwURL, "GET", "/echo").status) }
        #expect(statuses.last == 201, "answers after the move: \(statuses); the gateway kept the old address")
        #expect(statuses.dropLast().allSatisfy { $0 == 503 })
        #expect(moved.signals.requests.load(ordering: .relaxed) == 1)
    }

    @Test func aNameNotLookedUpWithinConnectTimeoutFailsOverToTheNextNode() throws {
        let names = Names()
        names.held.withLock { _ = $0.insert("node-restarting") }
        let good = try Forwarding.FakeNode()
        defer { good.server.stop() }
        let (reg, regURL) = try Forwarding.registry([("node-restarting", "http://node-restarting:8080"), ("node-good", good.url)])
        let (gw, gwURL) = try Self.gateway(registry: regURL, names: names) { $0.connectTimeoutMs = 300 }
        defer { names.release.signal(); gw.stop(); reg.stop() }
        let started = Date()
        let r = try Forwarding.send(gwURL, "GET", "/echo")  // the first request starts on the first node
        let elapsedS = Date().timeIntervalSince(started)
        #expect(r.status == 201 && r.headers["X-Autochain-Node"] == "node-good")
        #expect(names.lookups.load(ordering: .sequentiallyConsistent) == 1, "the held name was asked for once")
        #expect(elapsedS >= 0.25 && elapsedS < 5, "answered after \(elapsedS) s, not after connect_timeout_ms (0.3 s)")
    }

    @Test func aRequestWaitingForALookupDoesNotHoldOtherRequestsOnTheLoop() throws {
        let names = Names()
        names.held.withLock { _ = $0.insert("node-restarting") }
        let good = try Forwarding.FakeNode()
        defer { good.server.stop() }
        let (reg, regURL) = try Forwarding.registry([("node-restarting", "http://node-restarting:8080"), ("node-good", good.url)])
        let (gw, gwURL) = try Self.gateway(registry: regURL, names: names) { $0.connectTimeoutMs = 20_000; $0.maxAttempts = 1 }
        defer { names.release.signal(); gw.stop(); reg.stop() }
        let waiting = Thread { _ = try? Forwarding.send(gwURL, "GET", "/echo") }  // starts on the held name
        waiting.start()
        #expect(Forwarding.waitUntil { names.lookups.load(ordering: .sequentiallyConsistent) == 1 })
        let started = Date()
        let r = try Forwarding.send(gwURL, "GET", "/echo")  // the next node, while the lookup blocks
        #expect(r.status == 201 && Date().timeIntervalSince(started) < 5)
    }

    @Test func atMostMaxNamesResolvingNamesAreLookedUpAtOnce() {
        let names = Names()
        let limit = GatewayResolver.maxNamesResolving
        names.held.withLock { s in for i in 0..<limit { _ = s.insert("held-\(i)") } }
        let resolver = GatewayResolver(maxNames: 256, lookup: names.lookup)
        defer { for _ in 0..<limit { names.release.signal() } }
        for i in 0..<limit {
            let url = "http://held-\(i):80"
            resolver.resolve(GatewayNodeURL(parsing: url)!, url) { _ in }
        }
        let refused = Mutex<Result<SocketAddress, HTTPClientError>?>(nil)
        resolver.resolve(GatewayNodeURL(parsing: "http://one-more:80")!, "http://one-more:80") { r in refused.withLock { $0 = r } }
        guard case .failure(.io(.invalidAddress)) = refused.withLock({ $0 }) else {
            Issue.record("name \(limit + 1) was not refused at once: \(String(describing: refused.withLock { $0 }))")
            return
        }
    }

    @Test func theAddressTableHoldsAtMostMaxNodesURLs() {
        let names = Names()
        names.table.withLock { t in for i in 0..<3 { t["n\(i)"] = .ipv4(host: "127.0.0.1", port: UInt16(1000 + i)) } }
        let resolver = GatewayResolver(maxNames: 2, lookup: names.lookup)
        let answered = Atomic<Int>(0)
        for i in 0..<3 {
            let url = "http://n\(i):80"
            resolver.resolve(GatewayNodeURL(parsing: url)!, url) { _ in answered.wrappingAdd(1, ordering: .sequentiallyConsistent) }
        }
        #expect(Forwarding.waitUntil { answered.load(ordering: .sequentiallyConsistent) == 3 })
        #expect(resolver.knownCount == 2)
    }

    @Test func aRegistryThatCannotBeReachedYetGets503NoNodeSayingWhy() throws {
        let closed = try Forwarding.closedAddress()
        let (gw, gwURL) = try Forwarding.gateway(registry: "http://\(closed)")
        defer { gw.stop() }
        let r = try Forwarding.send(gwURL, "GET", "/chain/head")
        let message = (try? JSON.parse(r.body))?["error"]?["message"]?.stringValue ?? ""
        #expect(r.status == 503 && Forwarding.code(r) == "no_node")
        #expect(message.contains("registry cannot be reached"), "message: \(message)")
    }

    @Test func nodeURLsAreReadWithoutALookup() {
        let named = GatewayNodeURL(parsing: "http://autochain-swarm-node1:8080/x")
        #expect(named?.host == "autochain-swarm-node1" && named?.port == 8080 && named?.isLiteral == false)
        #expect(named?.hostHeader == "autochain-swarm-node1:8080")
        #expect(GatewayNodeURL(parsing: "http://[::1]:9")?.isLiteral == true)
        #expect(GatewayNodeURL(parsing: "http://127.0.0.1")?.port == 80)
        for bad in ["https://a:1", "http://", "http://:80", "http://a:99999", "http://a:x", "http://a b:1"] {
            #expect(GatewayNodeURL(parsing: bad) == nil, "\(bad)")
        }
    }
}
