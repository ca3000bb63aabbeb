import Chain
import Testing
@testable import Membership

/// A heartbeat as a node sends it (NodeCommand.startRegistryClient), with `leader` given.
private func report(_ id: String, leader: JSON) -> JSON {
    .object(JSONObject([("nodeId", .string(id)), ("apiUrl", .string("http://127.0.0.1:1")), ("p2pAddr", .string("127.0.0.1:2")),
                        ("height", .int(7)), ("commitIndex", .int(7)), ("term", .int(2)), ("role", .string("follower")),
                        ("leader", leader), ("voters", .array([])), ("learners", .array([])), ("retired", .array([]))]))
}

@Test func registry_acceptsAHeartbeatFromANodeThatKnowsNoLeader() throws {
    let registry = RegistryService(settings: RegistrySettings(), provider: NoProvider())
    let reply = try registry.heartbeat(report("n1", leader: .null), registering: true)
    #expect(reply.status == 200)
    let record = try #require(registry.state.withLock { $0.nodes["n1"] })
    #expect(record.leader == nil)
    #expect(record.height == 7)
    #expect(registry.state.withLock { $0.detector.health(node: "n1", now: RegistryService.now()) } == .alive)
}

@Test func registry_stillRefusesALeaderThatIsNotAString() {
    let registry = RegistryService(settings: RegistrySettings(), provider: NoProvider())
    #expect(throws: RegistryAPIError.self) { try registry.heartbeat(report("n1", leader: .int(5)), registering: true) }
    #expect(registry.state.withLock { $0.nodes["n1"] } == nil)
}

/// A node heartbeats at the period the registry names when it registers (its failure detector
/// counts missed beats against that period), not at its own configured one.
@Test func registryClient_adoptsTheRegistrysHeartbeatPeriod() throws {
    var cs = RegistryClientSettings()
    cs.urls = ["http://127.0.0.1:1"]
    cs.heartbeatIntervalMs = 500
    let client = RegistryClient(settings: cs, nodeId: "n1", report: { JSONObject() }, onPeers: { _ in })
    client.adoptInterval(try JSON.parse(Array(#"{"nodeId":"n1","heartbeatIntervalMs":2000,"nodes":[]}"#.utf8)))
    #expect(client.heartbeatIntervalMs == 2000)
    client.adoptInterval(try JSON.parse(Array(#"{"heartbeatIntervalMs":1}"#.utf8)))
    #expect(client.heartbeatIntervalMs == 2000, "an out-of-range period is ignored")
}

/// A node whose disk refuses writes says so in its heartbeat; the registry shows it on the node
/// and records one event when it degrades and one when it recovers.
@Test func registry_recordsANodesStorageDegradationAndRecovery() throws {
    let registry = RegistryService(settings: RegistrySettings(), provider: NoProvider())
    var degraded = report("n1", leader: .null).objectValue!
    degraded["degraded"] = .string("disk_full")
    _ = try registry.heartbeat(.object(degraded), registering: true)
    _ = try registry.heartbeat(.object(degraded), registering: false)
    #expect(registry.state.withLock { $0.nodes["n1"]?.degraded } == "disk_full")
    _ = try registry.heartbeat(report("n1", leader: .null), registering: false)
    #expect(registry.state.withLock { $0.nodes["n1"]?.degraded } == nil)
    let kinds = registry.state.withLock { s in s.events.map(\.kind).filter { $0.hasPrefix("node_storage") } }
    #expect(kinds == ["node_storage_degraded", "node_storage_recovered"])
}
