import Chain
import Testing
@testable import Membership

/// A core past its grace period whose verified membership has `voters` and `learners`, every one
/// of them heard from at `at` with its chain key, the first voter leading.
func registryCore(voters: [String], learners: [String] = [], at: Double = 100) -> RegistryCore {
    var core = RegistryCore(settings: RegistryCore.Settings(), startedAt: 0)
    let chain = try! ChainBuilder(voters: voters, learners: learners).verified()
    core.membershipVerified(chain.membership, height: chain.height)
    for id in voters + learners { _ = core.heartbeat(report(id, leader: voters[0], height: chain.height), at: at) }
    return core
}

func report(_ id: String, leader: String?, height: UInt64 = 10) -> NodeReport {
    var r = NodeReport(id: id, apiUrl: "http://\(id)", p2pAddr: "\(id):6000", nodeKey: ChainBuilder.key(id).publicKey.hex)
    r.role = id == leader ? .leader : .follower
    r.leader = leader
    r.height = height
    r.commitIndex = height
    r.term = 1
    return r
}

/// The provider runs and holds the data of `ids`.
func facts(_ ids: [String]) -> ProviderFacts {
    ProviderFacts(managed: Set(ids), running: Set(ids), withData: Set(ids))
}

/// The same membership, with `removed` taken out (as the chain verifies it once the leader did:
/// in a later block, so at a greater height than the registry verified before).
func verify(_ core: inout RegistryCore, voters: [String], learners: [String] = []) {
    let chain = try! ChainBuilder(voters: voters, learners: learners).verified()
    core.membershipVerified(chain.membership, height: max(chain.height, core.verifiedHeight + 1))
}

@Test func inFlight_restartIsDone_onlyOnceTheNodeIsHeardFromAfterIt() {
    var core = registryCore(voters: ["n1", "n2", "n3"], at: 4)
    let restart = ScalingAction.restart(node: "n2", reason: "test")
    #expect(!core.tookEffect(restart, since: 5), "heard before the restart: not back yet")
    _ = core.heartbeat(report("n2", leader: "n1"), at: 6)
    #expect(core.tookEffect(restart, since: 5))
}

@Test func inFlight_removalIsDone_onceTheVerifiedMembershipNoLongerListsTheNode() {
    var core = registryCore(voters: ["n1", "n2", "n3"])
    let removal = ScalingAction.removeMember(node: "n3", reason: "test")
    #expect(!core.tookEffect(removal, since: 5))
    verify(&core, voters: ["n1", "n2", "n4"])
    #expect(core.tookEffect(removal, since: 5))
    #expect(!core.tookEffect(.spawn(reason: "test"), since: 5), "a spawn names no node")
}

/// FailureDetector tracks at most `MembershipLimits.maxTrackedNodes` nodes and drops heartbeats
/// of new ones beyond: retired nodes must not hold those places forever.
@Test func retirement_forgetsTheNodesFailureDetectorRecord_soTheTableNeverFillsWithRetiredNodes() {
    var core = RegistryCore(settings: RegistryCore.Settings(), startedAt: 0)
    for i in 0..<MembershipLimits.maxTrackedNodes {
        let id = "old\(i)"
        _ = core.heartbeat(report(id, leader: nil), at: 1)
        _ = core.retire(id)
    }
    #expect(core.detector.lastHeardAt(node: "old0") == nil, "a retired node is not tracked")
    _ = core.heartbeat(report("fresh", leader: nil), at: 2)
    #expect(core.detector.lastHeardAt(node: "fresh") == 2, "a new node is still tracked")
    #expect(core.detector.health(node: "fresh", now: 2) == .alive)
}

/// A node the chain removed, whose container and volume were deleted from outside and whose exit
/// the registry did not see (its last heartbeat came in after the exit report), is retired once
/// dead: before, it dropped out of the autoscaler's view and stayed listed as dead for ever.
@Test func aRemovedNodeNoProviderVouchesFor_isRetiredOnceDead() {
    var core = registryCore(voters: ["n1", "n2", "n3"], at: 100)
    var chain = ChainBuilder(voters: ["n1", "n2", "n3"])
    chain.add(.addLearner, "n4", by: "n1")
    chain.add(.remove, "n2", by: "n1")
    chain.add(.promote, "n4", by: "n1")
    let verified = try! chain.verified()
    core.membershipVerified(verified.membership, height: verified.height)
    for id in ["n1", "n3", "n4"] { _ = core.heartbeat(report(id, leader: "n1", height: verified.height), at: 110) }
    let provider = facts(["n1", "n3", "n4"])
    let decided = core.tick(provider, at: 110).effects.compactMap { effect -> ScalingAction? in
        if case .decided(let action) = effect { action } else { nil }
    }
    #expect(decided.contains { if case .retire(let node, _) = $0 { node == "n2" } else { false } }, "\(decided)")
}

/// A heartbeat read just after the provider reported the exit was sent before it (Docker's exit
/// is seen up to a poll late): the node stays "seen to exit", so with its data gone it is gone for
/// good and is removed as soon as its replacement joined, not after the silent-voter delay.
@Test func aHeartbeatReadJustAfterTheExitReport_doesNotHideTheExit() {
    var core = registryCore(voters: ["n1", "n2", "n3"], at: 100)
    _ = core.processExited("n2", status: -1, deliberately: false, at: 100.3)
    _ = core.heartbeat(report("n2", leader: "n1"), at: 100.4)
    #expect(core.detector.exitSeen(node: "n2"), "the late heartbeat was sent before the exit")
    let observed = core.observe(facts(["n1", "n3"]), now: 100.5)
    #expect(observed.nodes.first { $0.id == "n2" }?.exitSeen == true)
}

/// Heartbeats count again after two heartbeat intervals (a node restarted from outside), and at
/// once after the registry started the node again itself.
@Test func heartbeatsAfterTheExitGrace_orAfterARestart_countAsLife() {
    var core = registryCore(voters: ["n1", "n2", "n3"], at: 100)
    _ = core.processExited("n2", status: 137, deliberately: false, at: 100)
    _ = core.heartbeat(report("n2", leader: "n1"), at: 101.1)
    #expect(!core.detector.exitSeen(node: "n2") && core.detector.health(node: "n2", now: 101.1) == .alive)
    _ = core.processExited("n3", status: 137, deliberately: false, at: 102)
    _ = core.carryOut(.restart(node: "n3", reason: "test"), observed: core.observe(facts(["n1", "n2", "n3"]), now: 102.1),
                      facts: facts(["n1", "n2", "n3"]), now: 102.1)
    _ = core.heartbeat(report("n3", leader: "n1"), at: 102.3)
    #expect(!core.detector.exitSeen(node: "n3"), "the restarted copy is heard from")
}

/// A spawn under way is done when the node it started reports, not when any newcomer does (a
/// node heard for the first time cleared it, and under load the registry spawned a fourth node).
@Test func aSpawnUnderWay_isDoneOnlyWhenTheNodeItStartedReports() {
    var core = registryCore(voters: ["n1", "n2", "n3"], at: 100)
    core.reservedIds.insert("n5")
    core.inFlight.append((action: .spawn(reason: "test"), since: 100))
    _ = core.heartbeat(report("n9", leader: "n1"), at: 101)
    #expect(core.inFlight.count == 1, "a newcomer the registry did not spawn")
    _ = core.heartbeat(report("n5", leader: "n1"), at: 102)
    #expect(core.inFlight.isEmpty, "the spawned node reported")
}

/// The actions a round decided.
func decidedActions(_ round: RegistryRound) -> [ScalingAction] {
    round.effects.compactMap { if case .decided(let action) = $0 { action } else { nil } }
}

/// A node the registry has just spawned cannot have registered yet: it is on its way up, not
/// dead. Before, the round after a spawn (past the registry's own grace period) "restarted" it
/// as never heard from, and on Swarm that forced a second task that killed the first (seen on
/// the lab after the registry's host was lost, and on every `autochain scale`).
@Test func aNodeJustSpawned_isNotRestarted_beforeItCouldRegister() {
    var core = registryCore(voters: ["n1", "n2", "n3"], at: 100)
    var spawned: String?
    for case .spawn(_, let node, _, _) in core.carryOut(.spawn(reason: "test"), observed: core.observe(facts(["n1", "n2", "n3"]), now: 100),
                                                      facts: facts(["n1", "n2", "n3"]), now: 100) { spawned = node }
    guard let id = spawned else { Issue.record("no spawn"); return }
    // Past the restart backoff, inside the grace period (a node on a loaded host, or one whose
    // image is still being loaded, takes seconds to report).
    let soonAt = 100 + core.settings.autoscaler.restartBackoffS + 1
    #expect(soonAt < 100 + core.settings.autoscaler.gracePeriodS)
    for id2 in ["n1", "n2", "n3"] { _ = core.heartbeat(report(id2, leader: "n1"), at: soonAt) }
    let soon = decidedActions(core.tick(facts(["n1", "n2", "n3", id]), at: soonAt))
    #expect(!soon.contains { $0.node == id }, "\(soon)")
    #expect(core.observe(facts(["n1", "n2", "n3", id]), now: soonAt).nodes.first { $0.id == id }?.startingSince == 100)
    // Never heard from within the grace period: now it is restarted.
    let later = 100 + core.settings.autoscaler.gracePeriodS + 0.1
    for id2 in ["n1", "n2", "n3"] { _ = core.heartbeat(report(id2, leader: "n1"), at: later) }
    let then = decidedActions(core.tick(facts(["n1", "n2", "n3", id]), at: later))
    #expect(then.contains { if case .restart(let node, _) = $0 { node == id } else { false } }, "\(then)")
}

/// A node started by the registry that exits before it reports is dead at once, not held by
/// the start's grace; one heard from is judged on its heartbeats again.
@Test func aStartedNode_isNoLongerStarting_onceItExitsOrIsHeardFrom() {
    var core = registryCore(voters: ["n1", "n2", "n3"], at: 100)
    let all = facts(["n1", "n2", "n3"])
    _ = core.carryOut(.restart(node: "n2", reason: "test"), observed: core.observe(all, now: 101), facts: all, now: 101)
    #expect(core.startingSince("n2") == 101)
    _ = core.processExited("n2", status: 1, deliberately: false, at: 101.5)
    #expect(core.startingSince("n2") == nil, "exited after the start")
    _ = core.carryOut(.restart(node: "n3", reason: "test"), observed: core.observe(all, now: 102), facts: all, now: 102)
    _ = core.heartbeat(report("n3", leader: "n1"), at: 102.5)
    #expect(core.startingSince("n3") == nil, "heard from after the start")
}

@Test func deleteNode_ofANodeNeverHeardOfAndWithoutData_isRefused() {
    var core = registryCore(voters: ["n1", "n2", "n3"])
    #expect(throws: RegistryRefusal.unknownNode("n9")) { try core.retireRequested("n9", hasData: false) }
    #expect(!core.isDraining("n9"))
}

/// `DELETE /nodes/{id}` only marks the node; the rounds then ask the leader to remove it, wait
/// (as a state, not a sleep) until the verified membership no longer lists it, and destroy it.
@Test func deleteNode_drainsTheNode_andTheRoundsRemoveThenDestroyIt() throws {
    let all = ["n1", "n2", "n3", "n4"]
    var core = registryCore(voters: ["n1", "n2", "n3"], learners: ["n4"])
    let recorded = try core.retireRequested("n4", hasData: true)
    #expect(recorded.map(kindOf) == ["retire_requested"])
    #expect(core.isDraining("n4"))
    let first = core.tick(facts(all), at: 101).effects
    #expect(first.contains(.decided(.retire(node: "n4", reason: "n4 is draining and holds no vote: retire"))))
    guard let removal = first.compactMap(removalTicket).first else { Issue.record("no removal in \(first)"); return }
    #expect(removal.node == "n4" && removal.leader == "n1")
    #expect(core.finished(removal.ticket, .succeeded, at: 101.5).isEmpty, "still listed: nothing destroyed yet")
    #expect(core.tick(facts(all), at: 102).effects.compactMap(destroyTicket).isEmpty)
    verify(&core, voters: ["n1", "n2", "n3"])
    let destroy = core.tick(facts(all), at: 103).effects.compactMap(destroyTicket)
    #expect(destroy.map(\.node) == ["n4"])
    let done = core.finished(destroy[0].ticket, .succeeded, at: 104)
    #expect(done.map(kindOf) == ["node_retired"])
    #expect(core.isRetired("n4") && core.nodes["n4"] == nil && !core.isDraining("n4"))
}

@Test func retirement_givesUpWhenTheNodeIsStillListedAfterTheWait_andDestroysNothing() {
    var core = registryCore(voters: ["n1", "n2", "n3"], learners: ["n4"])
    _ = try? core.retireRequested("n4", hasData: true)
    let first = core.tick(facts(["n1", "n2", "n3", "n4"]), at: 101).effects
    guard let removal = first.compactMap(removalTicket).first else { Issue.record("no removal in \(first)"); return }
    _ = core.finished(removal.ticket, .succeeded, at: 101)
    let wait = core.settings.retireRemovalWaitS
    let late = core.advanceRetirements(at: 101 + wait)
    #expect(late.map(kindOf) == ["action_failed"])
    #expect(late.compactMap(destroyTicket).isEmpty)
    #expect(core.isDraining("n4"), "the operator's request stands: a later round tries again")
}

@Test func spawns_neverShareAnId_evenWhenNoneOfThemRegisteredYet() {
    var core = registryCore(voters: ["node1", "node2", "node3"])
    let provider = facts(["node1", "node2", "node3"])
    let observed = core.observe(provider, now: 101)
    var ids: [String] = []
    for _ in 0..<3 {
        for case .spawn(_, let node, let bootstrap, _) in core.carryOut(.spawn(reason: "test"), observed: observed, facts: provider, now: 101) {
            #expect(!bootstrap)
            ids.append(node)
        }
    }
    #expect(ids == ["node4", "node5", "node6"])
}

/// Every per-node table of the core forgets a retired node: its record, failure-detector entry,
/// failed-restart count, last action time, retirement and drain request. Many retirements leave
/// nothing behind but the retired IDs themselves (refused for good).
@Test func retirement_dropsEveryPerNodeRecord_soNoTableGrowsWithRetiredNodes() throws {
    var core = RegistryCore(settings: RegistryCore.Settings(), startedAt: 0)
    for i in 0..<500 {
        let id = "old\(i)"
        _ = core.heartbeat(report(id, leader: nil), at: 1)
        _ = core.failed(.restart(node: id, reason: "test"), ActionFailure("refused"))
        core.lastActionAt[id] = 1
        core.drainRequested.insert(id)
        core.retirements[id] = .destroying
        #expect(core.restartFailures[id] == 1)
        _ = core.retire(id)
        #expect(core.isRetired(id))
    }
    #expect(core.nodes.isEmpty)
    #expect(core.restartFailures.isEmpty)
    #expect(core.lastActionAt.isEmpty)
    #expect(core.retirements.isEmpty)
    #expect(core.drainRequested.isEmpty)
    #expect((0..<500).allSatisfy { core.detector.lastHeardAt(node: "old\($0)") == nil })
    #expect(core.retired.count == 500)
}

@Test func deleteNode_ofANodeThatOnlyRegistered_retiresItAtOnce() throws {
    var core = registryCore(voters: ["n1", "n2", "n3"])
    var stranger = report("x1", leader: "n1")
    stranger.nodeKey = ChainBuilder.key("x1").publicKey.hex
    _ = core.heartbeat(stranger, at: 100)
    _ = try core.retireRequested("x1", hasData: false)
    let destroy = core.tick(facts(["n1", "n2", "n3"]), at: 101).effects.compactMap(destroyTicket)
    #expect(destroy.map(\.node) == ["x1"])
    _ = core.finished(destroy[0].ticket, .succeeded, at: 101)
    #expect(core.isRetired("x1"))
}

func kindOf(_ effect: RegistryEffect) -> String {
    if case .record(let kind, _, _) = effect { return kind.name }
    if case .actionFailed = effect { return "action_failed" }
    return "\(effect)"
}

func removalTicket(_ effect: RegistryEffect) -> (ticket: UInt64, node: String, leader: String)? {
    if case .removeMember(let ticket, let node, let leader, _) = effect { return (ticket, node, leader) }
    return nil
}

func destroyTicket(_ effect: RegistryEffect) -> (ticket: UInt64, node: String)? {
    if case .destroy(let ticket, let node) = effect { return (ticket, node) }
    return nil
}

/// Evidence a node's consensus core kept reaches the operator as an event naming the accused
/// member, at most once per `evidenceEventIntervalS` per reporting node; the core decides nothing
/// on it (a faulty member could accuse an honest one).
@Test func evidence_isToldAsAnEvent_throttled_andActedOnByNoOne() {
    var core = registryCore(voters: ["n1", "n2", "n3"])
    func evidenceEvents(_ effects: [RegistryEffect]) -> [String] {
        effects.compactMap { if case .record(.consensusEvidence, _, let message) = $0 { message } else { nil } }
    }
    var r = report("n2", leader: "n1")
    r.evidence = EvidenceReport(count: 1, kind: "equivocating_leader", accused: "n3", term: 7)
    let first = core.heartbeat(r, at: 101)
    #expect(evidenceEvents(first).count == 1)
    #expect(evidenceEvents(first).first?.contains("equivocating_leader by n3 in term 7") == true)
    #expect(first.allSatisfy { if case .record = $0 { true } else { false } }, "evidence only records: \(first)")
    r.evidence?.count = 5
    #expect(evidenceEvents(core.heartbeat(r, at: 102)).isEmpty, "within the interval: counted, not told again")
    #expect(evidenceEvents(core.heartbeat(r, at: 102 + core.settings.evidenceEventIntervalS)).isEmpty,
            "no new evidence since the last heartbeat")
    r.evidence?.count = 6
    let later = core.heartbeat(r, at: 103 + core.settings.evidenceEventIntervalS)
    #expect(evidenceEvents(later).first?.contains("(6 since it started)") == true)
}

@Test func evidence_inAHeartbeat_isParsedStrictly() throws {
    let good = try JSON.parse(Array(#"{"count":3,"kind":"committed_conflict","accused":"node4","term":9}"#.utf8))
    #expect(try RegistryService.evidenceReport(good) == EvidenceReport(count: 3, kind: "committed_conflict", accused: "node4", term: 9))
    #expect(try RegistryService.evidenceReport(nil) == nil)
    for bad in [#"{"count":-1,"kind":"committed_conflict","accused":"node4","term":9}"#,
                #"{"count":1,"kind":"made_up","accused":"node4","term":9}"#,
                #"{"count":1,"kind":"committed_conflict","accused":"../x","term":9}"#,
                #"{"count":1,"kind":"committed_conflict","accused":"node4"}"#, #"[1]"#] {
        #expect(throws: RegistryAPIError.self, "\(bad)") { try RegistryService.evidenceReport(try JSON.parse(Array(bad.utf8))) }
    }
}

/// A voter seen to exit with its data gone is no longer listed by the provider; once it left the
/// configuration it must still be retired (stopped, forgotten), not kept in the registry forever.
@Test func aVoterSeenToExitWithItsDataGone_isRetiredOnceItLeftTheConfiguration() throws {
    var core = registryCore(voters: ["n1", "n2", "n3"], learners: ["n4"])
    _ = core.processExited("n3", status: 9, deliberately: false, at: 101)
    var removed = ChainBuilder(voters: ["n1", "n2", "n3"], learners: ["n4"])
    removed.add(.remove, "n3", by: "n1")
    let chain = try removed.verified()
    core.membershipVerified(chain.membership, height: chain.height)
    let round = core.tick(facts(["n1", "n2", "n4"]), at: 101.5)
    #expect(round.effects.compactMap(destroyTicket).map(\.node) == ["n3"])
}

/// A removal the leader refuses (another membership change still pending) is asked again within
/// `refusedActionRetryS`, not after `inFlightTimeoutS`: scaling 5 members down to 3 waited 20 s
/// for the second learner's retirement.
@Test func aRefusedRemoval_isDecidedAgainSoon_notAfterTheInFlightTimeout() throws {
    let all = ["n1", "n2", "n3", "n4"]
    var core = registryCore(voters: ["n1", "n2", "n3"], learners: ["n4"])
    _ = try core.retireRequested("n4", hasData: true)
    let first = core.tick(facts(all), at: 101).effects
    let removal = try #require(first.compactMap(removalTicket).first)
    let refused = core.finished(removal.ticket, .failed("409 conf_change_pending: a membership change is already pending"), at: 101.2)
    #expect(refused.map(kindOf) == ["action_failed"])
    #expect(core.tick(facts(all), at: 101.5).effects.compactMap(removalTicket).isEmpty, "not at once: the retry waits its delay")
    let retry = 101.2 + core.settings.refusedActionRetryS + 0.01
    #expect(retry < 101 + core.settings.inFlightTimeoutS)
    let again = core.tick(facts(all), at: retry).effects.compactMap(removalTicket)
    #expect(again.map(\.node) == ["n4"], "asked again \(core.settings.refusedActionRetryS) s after the refusal")
    // A removal that succeeds keeps its place in flight as before: nothing is asked twice.
    _ = core.finished(again[0].ticket, .succeeded, at: retry + 0.1)
    #expect(core.tick(facts(all), at: retry + 2).effects.compactMap(removalTicket).isEmpty)
}

/// A scale-down decided on a membership verified only to a block before the new learners joined:
/// the retirement must not stop a node the configuration may list. The eleventh session's
/// `scale 5` then `scale 3` did: both new learners were stopped as "non-members" while in the
/// configuration, and stayed there as dead learners for 8 s.
@Test func retirement_ofANodeNotYetInTheVerifiedMembership_waitsForAFreshReportAndTheChain_thenRemovesItFirst() throws {
    var core = registryCore(voters: ["n1", "n2", "n3"])
    let joined = try ChainBuilder(voters: ["n1", "n2", "n3"], learners: ["n4"]).verified()
    _ = core.heartbeat(report("n4", leader: "n1", height: 0), at: 100)
    let provider = facts(["n1", "n2", "n3", "n4"])
    let begun = core.carryOut(.retire(node: "n4", reason: "test"), observed: core.observe(provider, now: 101), facts: provider, now: 101)
    #expect(begun.compactMap(destroyTicket).isEmpty, "not listed by a membership verified before the decision is no proof: \(begun)")
    #expect(core.isDraining("n4"), "held out of the autoscaler's count meanwhile")
    #expect(core.advanceRetirements(at: 101.2).isEmpty, "no member has reported since")
    // The leader reports after the decision: n4's addition is committed, not yet verified.
    _ = core.heartbeat(report("n1", leader: "n1", height: joined.height), at: 101.5)
    #expect(core.advanceRetirements(at: 101.6).isEmpty, "the chain is not verified that far")
    // Its later reports do not move the mark the first one set.
    _ = core.heartbeat(report("n1", leader: "n1", height: joined.height + 50), at: 101.8)
    #expect(core.retirements["n4"] == .awaitingMembership(since: 101, height: joined.height, deadline: 101 + core.settings.retireRemovalWaitS))
    // The membership catches up and lists n4: out of the configuration first, then destroyed.
    core.membershipVerified(joined.membership, height: joined.height)
    let removal = core.advanceRetirements(at: 102).compactMap(removalTicket)
    #expect(removal.map(\.node) == ["n4"] && removal.map(\.leader) == ["n1"])
    #expect(core.finished(removal[0].ticket, .succeeded, at: 102.5).compactMap(destroyTicket).isEmpty, "still listed")
    verify(&core, voters: ["n1", "n2", "n3"])
    #expect(core.advanceRetirements(at: 103).compactMap(destroyTicket).map(\.node) == ["n4"])
}

@Test func retirement_ofANodeTheLeadersFreshReportLeavesUnlisted_destroysIt_andOneWithoutAnyIsGivenUp() throws {
    var core = registryCore(voters: ["n1", "n2", "n3"])
    _ = core.heartbeat(report("x1", leader: "n1", height: 0), at: 100)
    let provider = facts(["n1", "n2", "n3", "x1"])
    #expect(core.carryOut(.retire(node: "x1", reason: "test"), observed: core.observe(provider, now: 101), facts: provider,
                          now: 101).compactMap(destroyTicket).isEmpty)
    // A follower's report does not count, however low its commit: it may lag the configuration.
    _ = core.heartbeat(report("n2", leader: "n1", height: 1), at: 101.3)
    #expect(core.advanceRetirements(at: 101.4).isEmpty)
    // The leader reports after the decision a commit the registry has verified: x1 is in no configuration.
    _ = core.heartbeat(report("n1", leader: "n1", height: core.verifiedHeight), at: 101.5)
    #expect(core.advanceRetirements(at: 101.6).compactMap(destroyTicket).map(\.node) == ["x1"])

    // The leader does not report again: the retirement is given up at the wait, nothing destroyed.
    var quiet = registryCore(voters: ["n1", "n2", "n3"])
    _ = quiet.heartbeat(report("x1", leader: "n1", height: 0), at: 100)
    _ = quiet.carryOut(.retire(node: "x1", reason: "test"), observed: quiet.observe(provider, now: 101), facts: provider, now: 101)
    let late = quiet.advanceRetirements(at: 101 + quiet.settings.retireRemovalWaitS)
    #expect(late.map(kindOf) == ["action_failed"] && late.compactMap(destroyTicket).isEmpty, "\(late)")
    #expect(!quiet.isDraining("x1") && !quiet.isRetired("x1"), "a later round may decide again")
}

/// A node retired while unlisted that the caught-up chain shows as a voter (promoted in the blocks
/// not yet verified) is not removed by the retirement: voters leave by the autoscaler's voter path,
/// which keeps a live majority and hands leadership on first.
@Test func retirement_ofANodeThatTurnsOutToBeAVoter_endsAndLeavesItToTheVoterPath() throws {
    var core = registryCore(voters: ["n1", "n2"])
    let promoted = try ChainBuilder(voters: ["n1", "n2", "n4"]).verified()
    _ = core.heartbeat(report("n4", leader: "n1", height: 0), at: 100)
    let provider = facts(["n1", "n2", "n4"])
    _ = core.carryOut(.retire(node: "n4", reason: "test"), observed: core.observe(provider, now: 101), facts: provider, now: 101)
    core.membershipVerified(promoted.membership, height: max(promoted.height, core.verifiedHeight + 1))
    let round = core.advanceRetirements(at: 101.5)
    #expect(round.compactMap(removalTicket).isEmpty && round.compactMap(destroyTicket).isEmpty, "\(round)")
    #expect(round.map(kindOf) == ["action_failed"])
    #expect(core.retirements["n4"] == nil)
}
