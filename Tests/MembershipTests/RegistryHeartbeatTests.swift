import Chain
import Testing
@testable import Membership

/// A registration of `body` signed by `key` (sequence `seq`, now), as the registry verified it.
func signedRegistration(_ id: String, _ body: JSON, key: KeyPair = .development, seq: UInt64 = 1,
                        kind: SignedRegistryCall.Kind = .register) -> SignedRegistryCall {
    SignedRegistryCall(kind: kind, nodeId: id, nodeKey: key.publicKey, sequence: seq, timestampMs: RegistryService.unixMs(),
                       body: body.serialized())
}

/// A heartbeat as a node sends it (NodeCommand.startRegistryClient), with `leader` given.
private func report(_ id: String, leader: JSON, role: String = "follower") -> JSON {
    .object(JSONObject([("nodeId", .string(id)), ("apiUrl", .string("http://127.0.0.1:1")), ("p2pAddr", .string("127.0.0.1:2")),
                        ("height", .int(7)), ("commitIndex", .int(7)), ("term", .int(2)), ("role", .string(role)),
                        ("leader", leader), ("voters", .array([])), ("learners", .array([])), ("retired", .array([]))]))
}

@Test func registry_acceptsAHeartbeatFromANodeThatKnowsNoLeader() throws {
    let registry = RegistryService(settings: RegistrySettings(), provider: NoProvider())
    let body = report("n1", leader: .null)
    let reply = try registry.heartbeat(body, call: signedRegistration("n1", body))
    #expect(reply.status == 200)
    let record = try #require(registry.state.withLock { $0.core.nodes["n1"] })
    #expect(record.leader == nil)
    #expect(record.height == 7)
    #expect(registry.state.withLock { $0.core.detector.health(node: "n1", now: RegistryService.now()) } == .alive)
}

@Test func registry_stillRefusesALeaderThatIsNotAString() {
    let registry = RegistryService(settings: RegistrySettings(), provider: NoProvider())
    let body = report("n1", leader: .int(5))
    #expect(throws: RegistryAPIError.self) { try registry.heartbeat(body, call: signedRegistration("n1", body)) }
    #expect(registry.state.withLock { $0.core.nodes["n1"] } == nil)
}

/// The role is parsed once, at the edge: a word that is no consensus role is the caller's
/// mistake (400 `invalid_field`), and nothing of the report is kept.
@Test func registry_refusesAHeartbeatWhoseRoleIsNoConsensusRole() {
    let registry = RegistryService(settings: RegistrySettings(), provider: NoProvider())
    let body = report("n1", leader: .null, role: "captain")
    let error = #expect(throws: RegistryAPIError.self) { try registry.heartbeat(body, call: signedRegistration("n1", body)) }
    #expect(error?.status == 400 && error?.code == "invalid_field")
    #expect(registry.state.withLock { $0.core.nodes["n1"] } == nil)
}

/// Every consensus role a node reports is kept as the role and shown again as the same word;
/// a node that says none is shown as "unknown".
@Test func registry_showsTheReportedRoleAsTheSameWord() throws {
    let registry = RegistryService(settings: RegistrySettings(), provider: NoProvider())
    for (seq, word) in ["leader", "follower", "candidate", "preCandidate", "learner"].enumerated() {
        let body = report("n1", leader: .null, role: word)
        _ = try registry.heartbeat(body, call: signedRegistration("n1", body, seq: UInt64(seq + 1), kind: seq == 0 ? .register : .heartbeat))
        #expect(try registry.healthJSON("n1")["role"]?.stringValue == word)
    }
    var silent = report("n2", leader: .null).objectValue!
    silent["role"] = nil
    _ = try registry.heartbeat(.object(silent), call: signedRegistration("n2", .object(silent), key: KeyPair(seed: Array(repeating: 2, count: 32))))
    #expect(registry.state.withLock { $0.core.nodes["n2"]?.role } == nil)
    #expect(try registry.healthJSON("n2")["role"]?.stringValue == "unknown")
}

/// A node heartbeats at the period the registry names when it registers (its failure detector
/// counts missed beats against that period), not at its own configured one.
@Test func registryClient_adoptsTheRegistrysHeartbeatPeriod() throws {
    var cs = RegistryClientSettings()
    cs.urls = ["http://127.0.0.1:1"]
    cs.heartbeatIntervalMs = 500
    let client = RegistryClient(settings: cs, nodeId: "n1", nodeKey: .development, report: { JSONObject() }, onPeers: { _ in })
    client.adoptInterval(try JSON.parse(Array(#"{"nodeId":"n1","heartbeatIntervalMs":2000,"nodes":[]}"#.utf8)))
    #expect(client.heartbeatIntervalMs == 2000)
    client.adoptInterval(try JSON.parse(Array(#"{"heartbeatIntervalMs":1}"#.utf8)))
    #expect(client.heartbeatIntervalMs == 2000, "an out-of-range period is ignored")
}

/// Node slots are bounded (`[registry] max_node_slots`) and taken only by admitted calls.
@Test func registry_nodeSlotsAreBounded_aFurtherRegistrationIsRefusedWithRegistryFull() throws {
    var settings = RegistrySettings()
    settings.maxNodes = 2
    let registry = RegistryService(settings: settings, provider: NoProvider())
    for i in 1...2 {
        let body = report("n\(i)", leader: .null)
        _ = try registry.heartbeat(body, call: signedRegistration("n\(i)", body, key: KeyPair(seed: Array(repeating: UInt8(i), count: 32))))
    }
    let body = report("n3", leader: .null)
    let error = #expect(throws: RegistryAPIError.self) {
        try registry.heartbeat(body, call: signedRegistration("n3", body, key: KeyPair(seed: Array(repeating: 3, count: 32))))
    }
    #expect(error?.status == 503 && error?.code == "registry_full")
    #expect(registry.state.withLock { $0.core.nodes.count } == 2)
    let again = report("n1", leader: .null)
    _ = try registry.heartbeat(again, call: signedRegistration("n1", again, key: KeyPair(seed: Array(repeating: 1, count: 32)), seq: 2,
                                                               kind: .heartbeat))
}

@Test func registry_aHeartbeatForAKnownIdFromAnotherKey_changesNothing() throws {
    let registry = RegistryService(settings: RegistrySettings(), provider: NoProvider())
    let body = report("n1", leader: .null)
    _ = try registry.heartbeat(body, call: signedRegistration("n1", body))
    let forged = report("n1", leader: .string("n9"), role: "leader")
    let error = #expect(throws: RegistryAPIError.self) {
        try registry.heartbeat(forged, call: signedRegistration("n1", forged, key: KeyPair(seed: Array(repeating: 9, count: 32)), seq: 5,
                                                               kind: .heartbeat))
    }
    #expect(error?.status == 403 && error?.code == "key_mismatch")
    #expect(registry.state.withLock { $0.core.nodes["n1"]?.role } == .follower)
}

/// A node whose disk refuses writes says so in its heartbeat; the registry shows it on the node
/// and records one event when it degrades and one when it recovers.
@Test func registry_recordsANodesStorageDegradationAndRecovery() throws {
    let registry = RegistryService(settings: RegistrySettings(), provider: NoProvider())
    var degraded = report("n1", leader: .null).objectValue!
    degraded["degraded"] = .string("disk_full")
    _ = try registry.heartbeat(.object(degraded), call: signedRegistration("n1", .object(degraded)))
    _ = try registry.heartbeat(.object(degraded), call: signedRegistration("n1", .object(degraded), seq: 2, kind: .heartbeat))
    #expect(registry.state.withLock { $0.core.nodes["n1"]?.degraded } == "disk_full")
    let healthy = report("n1", leader: .null)
    _ = try registry.heartbeat(healthy, call: signedRegistration("n1", healthy, seq: 3, kind: .heartbeat))
    #expect(registry.state.withLock { $0.core.nodes["n1"]?.degraded } == nil)
    let kinds = registry.state.withLock { s in s.events.map(\.kind.name).filter { $0.hasPrefix("node_storage") } }
    #expect(kinds == ["node_storage_degraded", "node_storage_recovered"])
}
