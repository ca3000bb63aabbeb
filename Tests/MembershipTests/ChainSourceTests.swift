import Chain
import P2P
import Testing
@testable import Membership

/// Which node the registry believes about the chain (issue 10, item 5): when its provider runs
/// nodes, only those; a node that merely registered, with a key of its own and a forged chain in
/// which it bootstrapped itself, is never asked, however high a height it claims.

/// A provider that runs `own` (keys from ChainBuilder) and does nothing else.
private struct OwnNodes: NodeProvider {
    let own: Set<String>
    let name = "test"
    func start(_ id: String, bootstrap: Bool, peers: [String]) throws -> ProvidedNode { throw ProviderError.startFailed(id: id, reason: "test") }
    func stop(_ id: String) {}
    func destroy(_ id: String) {}
    func isRunning(_ id: String) -> Bool { own.contains(id) }
    func hasData(_ id: String) -> Bool { own.contains(id) }
    func knownNodes() -> [String] { own.sorted() }
    func onExit(_ handler: @escaping @Sendable (String, Int32) -> Void) {}
    func nodeKey(_ id: String) -> PublicKey? { own.contains(id) ? ChainBuilder.key(id).publicKey : nil }
}

/// Serves `chain` at GET /chain/headers like a node; returns the server and its URL.
private func serve(_ chain: ChainBuilder) throws -> (HTTPServer, String) {
    let blocks = chain.blocks
    let server = HTTPServer { request, responder in
        let from = Int(request.query("from") ?? "1") ?? 1
        let headers = blocks.filter { Int($0.height) >= from }.map { b -> JSON in
            guard case .object(var o) = b.json else { return .null }
            o["txs"] = nil
            o["membership"] = b.membership?.json ?? .null
            return .object(o)
        }
        responder.send(.json(status: 200, body: JSON.object(JSONObject([("headers", .array(headers)), ("height", .uint(UInt64(blocks.count)))])).serialized()))
    }
    let bound = try server.start(bindTo: try SocketAddress(parsing: "127.0.0.1:0"))
    return (server, "http://\(bound)")
}

private func register(_ registry: RegistryService, _ id: String, apiUrl: String, height: UInt64) throws {
    let body = JSON.object(JSONObject([("nodeId", .string(id)), ("apiUrl", .string(apiUrl)), ("p2pAddr", "127.0.0.1:1"),
                                       ("height", .uint(height)), ("role", "leader"), ("term", .uint(height))]))
    _ = try registry.heartbeat(body, call: signedRegistration(id, body, key: ChainBuilder.key(id)))
}

@Test func chainSource_aRegisteredNodeThatIsNotTheProvidersIsNeverAsked() throws {
    let real = ChainBuilder(voters: ["node1", "node2", "node3"])
    var forged = ChainBuilder(voters: ["evil"])
    forged.add(.addLearner, "node1", by: "evil")
    forged.add(.remove, "node1", by: "evil")
    let (realServer, realURL) = try serve(real)
    let (forgedServer, forgedURL) = try serve(forged)
    defer { realServer.stop(); forgedServer.stop() }
    let registry = RegistryService(settings: RegistrySettings(), provider: OwnNodes(own: ["node1"]))
    try register(registry, "node1", apiUrl: realURL, height: UInt64(real.blocks.count))
    try register(registry, "evil", apiUrl: forgedURL, height: 1_000_000)
    registry.followChainOnce()
    let chain = registry.state.withLock { $0.chain }
    #expect(chain.membership.voters == ["node1", "node2", "node3"])
    #expect(chain.membership.retired.isEmpty)
    #expect(registry.state.withLock { $0.core.membership.voters } == ["node1", "node2", "node3"])
}

@Test func chainSource_withoutNodesOfItsOwn_aChainIsBelievedOnlyWhenAMajorityOfItsVotersRegisteredWithItsKeys() throws {
    // A registry that runs no nodes (--provider none), restarted long after node1 bootstrapped
    // and left: nothing pins node1's key, so the chain is believed once node2 and node3 (two of
    // three voters) registered with the keys the chain gives them — not on node2's word alone.
    var real = ChainBuilder(voters: ["node1", "node2", "node3"])
    real.add(.remove, "node1", by: "node2")
    real.add(.addLearner, "node4", by: "node2")
    real.add(.promote, "node4", by: "node2")
    let (server, url) = try serve(real)
    defer { server.stop() }
    let registry = RegistryService(settings: RegistrySettings(), provider: NoProvider())
    try register(registry, "node2", apiUrl: url, height: UInt64(real.blocks.count))
    registry.followChainOnce()
    #expect(!registry.state.withLock { $0.chain.isVerified }, "one voter of three is no majority")
    try register(registry, "node3", apiUrl: url, height: UInt64(real.blocks.count))
    registry.followChainOnce()
    #expect(registry.state.withLock { $0.chain.membership.voters } == ["node2", "node3", "node4"])
}

@Test func chainSource_withoutNodesOfItsOwn_aLoneRegistrantsForgedChainIsNotBelieved() throws {
    var forged = ChainBuilder(voters: ["evil", "ghost1", "ghost2"])
    forged.addEmpty(by: "evil")
    let (server, url) = try serve(forged)
    defer { server.stop() }
    let registry = RegistryService(settings: RegistrySettings(), provider: NoProvider())
    try register(registry, "evil", apiUrl: url, height: 1_000_000)
    registry.followChainOnce()
    #expect(!registry.state.withLock { $0.chain.isVerified })
}
