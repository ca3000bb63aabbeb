import Testing
@testable import Membership

@Test func repair_deadManagedNodeWithData_isRestartedNotReplaced() {
    let observed = cluster(3).with(node("n3", .dead, heardAt: t0 - 4.2))
    let actions = decideOnce(observed)
    #expect(restarts(actions) == ["n3"])
    #expect(spawns(actions) == 0 && removals(actions).isEmpty)
    #expect(actions[0].reason == "n3 dead for 4.2 s, data intact: restart (attempt 1 of 3)")
}

@Test func repair_restartBackoffDoublesPerFailedRestart() {
    // Two failures: 2 s doubled twice = 8 s since the last restart.
    let early = cluster(3).with(node("n3", .dead, failures: 2, lastActionAt: t0 - 7.9))
    #expect(decideOnce(early).isEmpty)
    let due = cluster(3).with(node("n3", .dead, failures: 2, lastActionAt: t0 - 8.0))
    let actions = decideOnce(due)
    #expect(restarts(actions) == ["n3"])
    #expect(actions[0].reason.hasSuffix("(attempt 3 of 3)"))
}

@Test func repair_afterMaxRestartFailures_nodeIsReplaced() {
    let observed = cluster(3).with(node("n3", .dead, failures: 3, lastActionAt: t0 - 100))
    let actions = decideOnce(observed)
    #expect(restarts(actions).isEmpty)
    #expect(spawns(actions) == 1)
    #expect(actions[0].reason.contains("replace lost n3 (3 restarts failed)"))
    #expect(removals(actions).isEmpty, "the dead voter stays until its replacement caught up")
}

@Test func repair_dataGone_nodeIsReplacedWithoutRestart() {
    let observed = cluster(3).with(node("n3", .dead, hasData: false))
    let actions = decideOnce(observed)
    #expect(restarts(actions).isEmpty && spawns(actions) == 1)
    #expect(actions[0].reason.contains("n3 (data gone)"))
}

@Test func repair_unmanagedDeadNode_isReplacedNotRestarted() {
    let observed = cluster(3).with(node("n3", .dead, managed: false))
    let actions = decideOnce(observed)
    #expect(restarts(actions).isEmpty && spawns(actions) == 1)
}

@Test func repair_lostLearner_isRetiredAndReplaced() {
    let observed = cluster(4).with(node("n4", .dead, hasData: false))
    let actions = decideOnce(observed)
    #expect(retirements(actions) == ["n4"] && spawns(actions) == 1)
}

@Test func repair_deadVoterRemoval_waitsForCaughtUpReplacement() {
    let lost = cluster(3).with(node("n3", .dead, hasData: false, heardAt: t0 - 30))
    let syncing = lost.adding(node("n4", height: 10, caughtUp: false))
    #expect(removals(decideOnce(syncing)).isEmpty)
    #expect(spawns(decideOnce(syncing)) == 0, "the replacement is already there")
    let ready = lost.adding(node("n4"))
    let actions = decideOnce(ready)
    #expect(removals(actions) == ["n3"])
    #expect(actions.filter(\.isMembershipChange).count == 1, "a removal is alone in its round")
    #expect(actions[0].reason.contains("replacement n4 is a caught-up learner"))
}

@Test func repair_deadVoterRemoval_waitsForTheRemovalDelay() {
    let fresh = cluster(3).with(node("n3", .dead, hasData: false, heardAt: t0 - 4)).adding(node("n4"))
    #expect(removals(decideOnce(fresh)).isEmpty)
    let old = cluster(3).with(node("n3", .dead, hasData: false, heardAt: t0 - 5)).adding(node("n4"))
    #expect(removals(decideOnce(old)) == ["n3"])
}

/// A voter the provider saw exit, whose data is gone: it cannot come back, so waiting buys nothing.
/// The provider no longer lists it (a dead node without data is nothing it runs or holds).
func goneVoter(_ id: String, heardAt: Double = t0 - 0.3) -> NodeObservation {
    var n = node(id, .dead, managed: false, hasData: false, heardAt: heardAt)
    n.exitSeen = true
    return n
}

@Test func repair_goneVoter_isRemovedOnceItsReplacementJoined_withoutTheDelayOrTheCatchUp() {
    let syncing = cluster(3).with(goneVoter("n3")).adding(node("n4", height: 10, caughtUp: false))
    let actions = decideOnce(syncing)
    #expect(removals(actions) == ["n3"])
    #expect(actions.filter(\.isMembershipChange).count == 1, "a removal is alone in its round")
    #expect(actions[0].reason.contains("gone for good and replacement n4 joined as a learner"))
}

@Test func repair_goneVoter_isReplacedFirst_thenRemoved() {
    // The death just seen: the replacement is spawned at once; the removal waits for it to join,
    // so its addition and the removal do not race at the leader.
    let fresh = cluster(3).with(goneVoter("n3"))
    let actions = decideOnce(fresh)
    #expect(spawns(actions) == 1 && removals(actions).isEmpty)
}

@Test func repair_silentVoterWithDataGone_stillWaitsForTheDelayAndTheCatchUp() {
    // Dead by silence alone (a partition looks the same): the delay and the caught-up learner hold.
    let silent = cluster(3).with(node("n3", .dead, hasData: false, heardAt: t0 - 4)).adding(node("n4", height: 10, caughtUp: false))
    #expect(removals(decideOnce(silent)).isEmpty)
    var withData = goneVoter("n3", heardAt: t0 - 30)
    withData.hasData = true
    withData.managed = true
    withData.restartFailures = 9
    let exhausted = cluster(3).with(withData).adding(node("n4", height: 10, caughtUp: false))
    #expect(removals(decideOnce(exhausted)).isEmpty, "its data could still bring it back: replacement catches up first")
}

@Test func repair_goneVoter_keepsTheQuorumRule() {
    // 3 voters, n2 gone, n3 suspect: removing n2 would leave 2 voters with one alive.
    let observed = cluster(3).with(goneVoter("n2")).with(node("n3", .suspect)).adding(node("n4", height: 10, caughtUp: false))
    #expect(removals(decideOnce(observed)).isEmpty)
}

@Test func repair_deadVoterRemoval_oneVoterPerRound() {
    var observed = cluster(7, voters: 5)   // n6, n7 are caught-up learners
    observed = observed.with(node("n4", .dead, hasData: false, heardAt: t0 - 30)).with(node("n5", .dead, hasData: false, heardAt: t0 - 30))
    var settings = AutoscalerSettings()
    settings.targetVoters = 5
    settings.minNodes = 5
    let actions = decideOnce(observed, settings)
    #expect(removals(actions) == ["n4"])
    var removing = observed
    removing.inFlight = [.removeMember(node: "n4", reason: "test")]
    #expect(removals(decideOnce(removing, settings)).isEmpty, "the next removal waits for this one")
}

@Test func repair_deadVoterRemoval_neverWhileAPromotionIsPending() {
    // Four voters where five are wanted and a caught-up learner: the leader promotes it first.
    var observed = cluster(5, voters: 4).with(node("n4", .dead, hasData: false, heardAt: t0 - 30))
    observed.learners = ["n5"]
    var settings = AutoscalerSettings()
    settings.targetVoters = 5
    settings.minNodes = 5
    #expect(removals(decideOnce(observed, settings)).isEmpty)
}

@Test func repair_deadVoterRemoval_needsAnAliveMajorityAfterwards() {
    // 5 voters, 2 dead, 1 suspect: removing one leaves 4 with only 2 alive.
    let observed = cluster(7, voters: 5).with(node("n4", .dead, hasData: false, heardAt: t0 - 30))
        .with(node("n5", .dead, hasData: false, heardAt: t0 - 30))
    var settings = AutoscalerSettings()
    settings.targetVoters = 5
    settings.minNodes = 5
    #expect(removals(decideOnce(observed, settings)) == ["n4"], "removable while all others are alive")
    let suspect = observed.with(node("n3", .suspect))
    #expect(removals(decideOnce(suspect, settings)).isEmpty)
}

@Test func quorumLoss_restartsEveryDeadVoterWithData_andChangesNoMembership() {
    let observed = cluster(5).with(node("n2", .dead, failures: 9, lastActionAt: t0 - 100))
        .with(node("n3", .dead))
    let actions = decideOnce(observed)
    #expect(Set(restarts(actions)) == ["n2", "n3"], "even past the failure limit")
    #expect(!changesMembership(actions))
    #expect(actions.allSatisfy { $0.reason.contains("quorum lost") })
}

@Test func quorumLoss_withDataGone_alertsTheRecoverCommand_andChangesNoMembership() {
    var observed = cluster(4).with(node("n2", .dead, hasData: false)).with(node("n3", .dead, hasData: false))
    observed = observed.with(node("n1", height: 120)).with(node("n4", height: 90))
    observed.operatorTarget = 7
    let actions = decideOnce(observed)
    #expect(!changesMembership(actions))
    let alert = alerts(actions)
    #expect(alert.count == 1 && alert[0].kind == .quorumLost)
    #expect(alert[0].message.contains("autochain recover --force-new-cluster --from n1"))
    #expect(alert[0].message.contains("height 120"))
}

@Test func quorumLoss_recoverNamesTheMostUpToDateSurvivor_evenAFollowerOrLearner() {
    let observed = cluster(4).with(node("n1", .dead, hasData: false)).with(node("n2", .dead, hasData: false))
        .with(node("n3", height: 110)).with(node("n4", height: 130))
    let message = alerts(decideOnce(observed)).first?.message ?? ""
    #expect(message.contains("--from n4"))
}

@Test func quorumLoss_alertIsNotRepeatedWithinTheRepeatWindow() {
    let observed = cluster(3).with(node("n2", .dead, hasData: false)).with(node("n3", .dead, hasData: false))
    var scaler = Autoscaler()
    let settings = AutoscalerSettings()
    #expect(alerts(scaler.decide(observed, settings: settings, now: t0)).count == 1)
    #expect(alerts(scaler.decide(observed, settings: settings, now: t0 + 30)).isEmpty)
    #expect(alerts(scaler.decide(observed, settings: settings, now: t0 + 61)).count == 1)
}

@Test func consensusFailureReport_freezesMembershipAtOnce() {
    var observed = cluster(3)
    observed.leader = nil
    observed.consensusFailureReportedAt = t0 - 1
    observed.operatorTarget = 5
    let actions = decideOnce(observed)
    #expect(spawns(actions) == 0 && !changesMembership(actions))
    #expect(alerts(actions).map(\.kind) == [.consensusFailure])
}

@Test func consensusFailureReport_contradictedByAnAliveLeaderWithQuorum_isIgnored() {
    var observed = cluster(3)
    observed.consensusFailureReportedAt = t0 - 1
    observed.operatorTarget = 5
    #expect(spawns(decideOnce(observed)) == 2)
}

@Test func gracePeriod_nodesNeverHeardFromAreLeftAlone() {
    var observed = cluster(3).with(node("n3", .dead, heardAt: nil))
    observed.registryStartedAt = t0 - 5
    #expect(decideOnce(observed).isEmpty)
    observed.registryStartedAt = t0 - 11
    #expect(restarts(decideOnce(observed)) == ["n3"])
}

@Test func gracePeriod_unseenVotersDoNotCountAsLostQuorum() {
    var observed = cluster(1, voters: 1)
    observed.voters = ["n1", "n2", "n3"]    // n2, n3 not re-registered yet
    observed.registryStartedAt = t0 - 1
    let actions = decideOnce(observed)
    #expect(actions.isEmpty)
}

@Test func inFlight_actionsAreNotRepeated() {
    var observed = cluster(3).with(node("n3", .dead, heardAt: t0 - 4))
    observed.inFlight = [.restart(node: "n3", reason: "earlier")]
    #expect(decideOnce(observed).isEmpty)
    var replacing = cluster(3).with(node("n3", .dead, hasData: false))
    replacing.inFlight = [.spawn(reason: "earlier")]
    #expect(spawns(decideOnce(replacing)) == 0, "a spawn under way counts as capacity")
}

@Test func suspectNode_isNeitherRestartedNorReplaced_andHoldsScaleDown() {
    let observed = cluster(5).with(node("n3", .suspect))
    var settings = AutoscalerSettings()
    settings.minNodes = 3
    var scaled = observed
    scaled.operatorTarget = 3
    #expect(decideOnce(observed, settings).isEmpty)
    #expect(decideOnce(scaled, settings).isEmpty, "scale-down waits until the suspect is settled")
}

@Test func everyAction_carriesAReason() {
    let observed = cluster(3).with(node("n2", .dead)).with(node("n3", .dead, hasData: false))
    for action in decideOnce(observed) + decideOnce(cluster(3).with(node("n3", .dead, hasData: false))) {
        #expect(!action.reason.isEmpty)
    }
}

/// A node stopped from outside the registry (`docker-compose stop n3`): `stopped` for a node that
/// went down `downS` ago.
func stopped(_ id: String, downS: Double) -> NodeObservation {
    var n = node(id, .dead, heardAt: t0 - downS)
    n.stoppedDeliberately = true
    return n
}

@Test func repair_stoppedOnPurpose_isLeftAloneDuringTheHold() {
    let actions = decideOnce(cluster(3).with(stopped("n3", downS: 4.9)))
    #expect(actions.isEmpty, "neither restarted nor replaced yet: the rest of a multi-node stop may follow")
}

@Test func repair_stoppedOnPurpose_isReplacedNotRestarted_afterTheHold() {
    let actions = decideOnce(cluster(3).with(stopped("n3", downS: 5)))
    #expect(restarts(actions).isEmpty && spawns(actions) == 1)
    #expect(actions[0].reason.contains("replace lost n3 (stopped from outside the registry"))
    #expect(removals(actions).isEmpty, "the stopped voter stays until its replacement caught up")
}

@Test func repair_stoppedVoter_leavesTheConfiguration_onceItsReplacementCaughtUp() {
    let actions = decideOnce(cluster(3).with(stopped("n3", downS: 30)).adding(node("n4")))
    #expect(removals(actions) == ["n3"] && restarts(actions).isEmpty)
}

@Test func repair_stoppedLearner_isRetiredAfterTheHold() {
    let actions = decideOnce(cluster(4).with(stopped("n4", downS: 6)))
    #expect(retirements(actions) == ["n4"] && restarts(actions).isEmpty)
}

@Test func repair_stoppedBeforeTheRegistryStarted_isNotHeldAgain() {
    var n3 = stopped("n3", downS: 0)
    n3.lastHeardAt = nil
    let actions = decideOnce(cluster(3).with(n3))
    #expect(spawns(actions) == 1 && restarts(actions).isEmpty)
}

@Test func quorumLoss_stoppedVotersAreRestarted_atOnce_andTheEventSaysWhy() {
    let observed = cluster(3).with(stopped("n2", downS: 1)).with(stopped("n3", downS: 1))
    let actions = decideOnce(observed)
    #expect(restarts(actions) == ["n2", "n3"])
    #expect(spawns(actions) == 0 && removals(actions).isEmpty)
    #expect(actions.allSatisfy { $0.reason.contains("quorum lost (2 of 3 voters dead)") })
    #expect(actions.allSatisfy { $0.reason.contains("stopped from outside the registry, but the cluster cannot commit without it") })
}
