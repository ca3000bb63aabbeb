import Chain
import Testing
@testable import Membership

// Fencing (DESIGN-NOTES, Fencing): a node started twice must not take part twice.

/// `report(id, leader:)` of the copy started with `incarnation`.
private func report(_ id: String, incarnation: UInt64, height: UInt64 = 10) -> NodeReport {
    var r = report(id, leader: "n1", height: height)
    r.incarnation = incarnation
    return r
}

@Test func fencing_aReportWithALowerIncarnation_isRefusedAsSuperseded_andChangesNothing() throws {
    var core = registryCore(voters: ["n1", "n2", "n3"])
    _ = try core.admit(report("n2", incarnation: 5, height: 10), at: 101)
    #expect(throws: NodeReportRefusal.superseded(node: "n2", reported: 4, current: 5)) {
        try core.admit(report("n2", incarnation: 4, height: 99), at: 102)
    }
    #expect(core.nodes["n2"]?.height == 10, "the old copy's report changed the registry's view")
    #expect(core.nodes["n2"]?.incarnation == 5)
    #expect(core.detector.lastHeardAt(node: "n2") == 101, "the old copy's report counted as a sign of life")
}

@Test func fencing_aNodeStartedWithoutIncarnation_isRefusedOnceAStartedCopyReported() throws {
    var core = registryCore(voters: ["n1", "n2", "n3"])
    _ = try core.admit(report("n2", incarnation: 0), at: 101)
    _ = try core.admit(report("n2", incarnation: 7), at: 102)
    #expect(throws: NodeReportRefusal.self) { try core.admit(report("n2", incarnation: 0), at: 103) }
}

@Test func fencing_aHigherIncarnation_isAdmitted_andSupersedesTheCurrentCopy() throws {
    var core = registryCore(voters: ["n1", "n2", "n3"])
    _ = try core.admit(report("n2", incarnation: 5), at: 101)
    let effects = try core.admit(report("n2", incarnation: 6, height: 11), at: 102)
    #expect(effects.contains { if case .record(.nodeSuperseded, "n2", _) = $0 { true } else { false } })
    #expect(core.nodes["n2"]?.incarnation == 6 && core.nodes["n2"]?.height == 11)
    _ = try core.admit(report("n2", incarnation: 6, height: 12), at: 103)
    #expect(throws: NodeReportRefusal.self) { try core.admit(report("n2", incarnation: 5), at: 104) }
}

/// A restarted registry knows nothing; heartbeats in any order leave it with the highest.
@Test func fencing_aRegistryRebuiltFromHeartbeats_keepsTheHighestIncarnation() throws {
    var core = RegistryCore(settings: RegistryCore.Settings(), startedAt: 0, incarnationFloor: 1)
    _ = try core.admit(report("n2", incarnation: 9), at: 1)
    #expect(throws: NodeReportRefusal.self) { try core.admit(report("n2", incarnation: 3), at: 2) }
    #expect(core.incarnations["n2"] == 9)
    #expect(core.issueIncarnation(for: "n2") == 10, "the next start is issued an incarnation above the copy heard from")
}

@Test func fencing_issuedIncarnations_riseWithEveryStart_andStartAtTheFloor() {
    var core = RegistryCore(settings: RegistryCore.Settings(), startedAt: 0, incarnationFloor: 1_000)
    #expect(core.issueIncarnation(for: "n1") == 1_000)
    #expect(core.issueIncarnation(for: "n1") == 1_001, "two starts never share an incarnation")
    _ = core.heartbeat(report("n1", incarnation: 5_000), at: 1)
    #expect(core.issueIncarnation(for: "n1") == 5_001)
    #expect(core.issueIncarnation(for: "n2") == 1_000)
}

/// The restart the registry performs carries the issued incarnation; the old copy, still
/// running, is refused only once the new one has reported.
@Test func fencing_theOldCopyIsAdmittedUntilTheNewOneReports() throws {
    var core = RegistryCore(settings: RegistryCore.Settings(), startedAt: 0, incarnationFloor: 100)
    _ = try core.admit(report("n2", incarnation: 100), at: 1)
    let next = core.issueIncarnation(for: "n2")
    _ = try core.admit(report("n2", incarnation: 100), at: 2)
    _ = try core.admit(report("n2", incarnation: next), at: 3)
    #expect(throws: NodeReportRefusal.self) { try core.admit(report("n2", incarnation: 100), at: 4) }
}

@Test func fencing_aRetiredNodesKey_isRefusedUnderAnyId() throws {
    var core = registryCore(voters: ["n1", "n2", "n3"])
    _ = core.retire("n3")
    var impostor = report("n3", incarnation: 0)
    impostor.id = "n9"
    #expect(throws: NodeReportRefusal.retiredKey(node: "n9")) { try core.admit(impostor, at: 101) }
    #expect(core.nodes["n9"] == nil)
    #expect(core.isRetired("n3"))
}

@Test func fencing_aKeyTheVerifiedChainRemoved_isRefused_andItsIdIsRetired() throws {
    var chain = ChainBuilder(voters: ["n1", "n2", "n3"])
    chain.add(.remove, "n3", by: "n1")
    var verified = VerifiedChain()
    try verified.apply(chain.entries, pinnedKey: ChainBuilder.pinned)
    #expect(verified.retiredKeys == [ChainBuilder.key("n3").publicKey])
    var state = RegistryState(core: RegistryCore(settings: RegistryCore.Settings(), startedAt: 0))
    state.adopt(verified)
    #expect(state.core.isRetired("n3"), "an ID the chain retired is refused even before a node reports it retired")
    var impostor = report("n3", incarnation: 0)
    impostor.id = "n7"
    #expect(throws: NodeReportRefusal.retiredKey(node: "n7")) { try state.core.admit(impostor, at: 1) }
}

/// A copy that stops because it was superseded is no failure of the node: the registry must not
/// restart it (that copy would get a higher incarnation and fence out the current one).
@Test func fencing_aSupersededCopysExit_isNoFailureOfTheNode() {
    var core = registryCore(voters: ["n1", "n2", "n3"])
    _ = core.processExited("n2", status: Fencing.supersededExitStatus, deliberately: false, at: 101)
    #expect(core.detector.health(node: "n2", now: 101.5) == .alive)
    _ = core.processExited("n3", status: 1, deliberately: false, at: 101)
    #expect(core.detector.health(node: "n3", now: 101.5) != .alive, "a crash still counts")
}

// MARK: - The registry's API and the node's client

private func heartbeatBody(_ id: String, incarnation: UInt64) -> JSON {
    .object(JSONObject([("nodeId", .string(id)), ("apiUrl", .string("http://127.0.0.1:1")), ("p2pAddr", .string("127.0.0.1:2")),
                        ("role", .string("follower")), ("incarnation", .uint(incarnation))]))
}

@Test func registry_answersALowerIncarnation409Superseded_andHandsOutTheCurrentOne() throws {
    let registry = RegistryService(settings: RegistrySettings(), provider: NoProvider())
    let current = heartbeatBody("n1", incarnation: 8)
    _ = try registry.heartbeat(current, call: signedRegistration("n1", current, seq: 1))
    let old = heartbeatBody("n1", incarnation: 7)
    let error = #expect(throws: RegistryAPIError.self) {
        try registry.heartbeat(old, call: signedRegistration("n1", old, seq: 2, kind: .heartbeat))
    }
    #expect(error?.status == 409 && error?.code == "superseded")
    #expect(registry.state.withLock { $0.events.contains { $0.kind == .supersededCopyRefused } })
    #expect(registry.discoverJSON()["nodes"]?.arrayValue?.first?["incarnation"]?.intValue == 8)
}

/// The registry's answers that end a copy of a node: `superseded`, and `retired` / `retired_key`
/// (its ID or key tombstoned); any other refusal is an ordinary failure the client retries.
@Test func registryClient_stopsOnSupersededRetiredAndRetiredKey_only() {
    func answer(_ status: Int, _ code: String) -> RegistryClientError? {
        RegistryClient.fencingRefusal(status: status, body: Array(#"{"error":{"code":"\#(code)","message":"m"}}"#.utf8))
    }
    guard case .superseded("m")? = answer(409, "superseded") else { Issue.record("superseded"); return }
    guard case .retired("m")? = answer(409, "retired") else { Issue.record("retired"); return }
    guard case .retired("m")? = answer(409, "retired_key") else { Issue.record("retired_key"); return }
    #expect(answer(409, "membership_refused") == nil)
    #expect(answer(403, "retired") == nil, "only a 409 fences")
    #expect(RegistryClient.fencingRefusal(status: 409, body: Array("not json".utf8)) == nil)
}
