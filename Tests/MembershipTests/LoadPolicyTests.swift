import Testing
@testable import Membership

private func wide() -> AutoscalerSettings {
    var s = AutoscalerSettings()
    s.maxNodes = 20
    return s
}

/// Applies spawns and retirements to the observed cluster, as a perfect shell would.
private func apply(_ actions: [ScalingAction], to observed: inout ObservedCluster, nextID: inout Int) {
    for action in actions {
        switch action {
        case .spawn:
            nextID += 1
            observed = observed.adding(node("s\(nextID)", cpu: observed.nodes.first?.load.cpu))
        case .retire(let id, _):
            observed.nodes.removeAll { $0.id == id }
            observed.learners.removeAll { $0 == id }
        default: break
        }
    }
}

@Test func hpa_scalesUpProportionallyToLoad() {
    // 3 nodes at twice the target: 6.
    #expect(spawns(decideOnce(cluster(3, cpu: 1.4), wide())) == 3)
}

@Test func hpa_withinToleranceBand_noChange() {
    #expect(decideOnce(cluster(3, cpu: 0.76), wide()).isEmpty)   // +8.6 %
    #expect(decideOnce(cluster(4, cpu: 0.64), wide()).isEmpty)   // -8.6 %
    #expect(spawns(decideOnce(cluster(3, cpu: 0.78), wide())) == 1)   // +11 %: ceil(3.34) = 4
}

@Test func hpa_scaleUpIsCappedAt100PercentPer30Seconds() {
    var scaler = Autoscaler()
    var observed = cluster(3, cpu: 7.0)    // wants 30, capped by maxNodes 20 and the rate
    var next = 0
    let first = scaler.decide(observed, settings: wide(), now: t0)
    #expect(spawns(first) == 3, "3 → 6: at most +100 %")
    apply(first, to: &observed, nextID: &next)
    #expect(spawns(scaler.decide(observed, settings: wide(), now: t0 + 10)) == 0)
    #expect(scaler.desiredNodes == 6, "still inside the same 30 s period")
    let third = scaler.decide(observed, settings: wide(), now: t0 + 30.5)
    #expect(spawns(third) == 6, "6 → 12 in the next period")
}

@Test func hpa_scaleDownWaitsForTheStabilizationWindow_andFollowsItsHighestRecommendation() {
    var scaler = Autoscaler()
    let settings = wide()
    let busy = cluster(8, cpu: 0.7)
    #expect(scaler.decide(busy, settings: settings, now: t0).isEmpty)
    // Load falls to half: 4 would do, but the window still holds 8.
    let half = busy.load(0.35)
    #expect(scaler.decide(half, settings: settings, now: t0 + 30).isEmpty)
    // A short spike at t0+50 recommends 6; the window then holds 6 until t0+110.
    #expect(scaler.decide(busy.load(0.5), settings: settings, now: t0 + 50).isEmpty)
    let afterFirstWindow = scaler.decide(half, settings: settings, now: t0 + 61)
    #expect(retirements(afterFirstWindow).count == 2, "8 → 6: the highest recommendation of the window")
    #expect(scaler.desiredNodes == 6)
}

@Test func hpa_scaleDownIsCappedAt50PercentPer60Seconds() {
    var scaler = Autoscaler()
    let settings = wide()
    var observed = cluster(12, cpu: 0.05)   // wants the minimum, 3
    var next = 0
    #expect(scaler.decide(observed, settings: settings, now: t0).isEmpty, "the first window holds the start size")
    let first = scaler.decide(observed, settings: settings, now: t0 + 61)
    #expect(retirements(first).count == 6, "12 → 6: at most -50 %")
    apply(first, to: &observed, nextID: &next)
    #expect(scaler.decide(observed, settings: settings, now: t0 + 100).isEmpty)
    let second = scaler.decide(observed, settings: settings, now: t0 + 122)
    #expect(retirements(second).count == 3, "6 → 3 in the next period")
}

@Test func hpa_noScaleDownWhileANodeLacksTheMetric() {
    var scaler = Autoscaler()
    let observed = cluster(6, cpu: 0.1).with(node("n5", cpu: nil))
    _ = scaler.decide(observed, settings: wide(), now: t0)
    #expect(scaler.decide(observed, settings: wide(), now: t0 + 200).isEmpty)
    #expect(scaler.desiredNodes == 6)
}

@Test func hpa_scaleUpStillWorksWithAMissingMetric() {
    let observed = cluster(3, cpu: 1.4).with(node("n3", cpu: nil))
    #expect(spawns(decideOnce(observed, wide())) == 3)
}

@Test func hpa_staysWithinMinAndMaxNodes() {
    #expect(spawns(decideOnce(cluster(3, cpu: 5.0))) == 3, "3 → 6 by rate, within max 7")
    var scaler = Autoscaler()
    _ = scaler.decide(cluster(3, cpu: 0.01), settings: AutoscalerSettings(), now: t0)
    #expect(scaler.decide(cluster(3, cpu: 0.01), settings: AutoscalerSettings(), now: t0 + 500).isEmpty)
    #expect(scaler.desiredNodes == 3)
}

@Test func operatorTarget_isObeyedWithinMinAndMax() {
    var observed = cluster(3)
    observed.operatorTarget = 5
    #expect(spawns(decideOnce(observed)) == 2)
    observed.operatorTarget = 50
    let capped = decideOnce(observed)
    #expect(spawns(capped) == 4 && capped[0].reason.contains("clamped to 3...7"))
    var big = cluster(5)
    big.operatorTarget = 1
    #expect(retirements(decideOnce(big)) == ["n4", "n5"], "down to minNodes 3 at once")
}

@Test func operatorTarget_replacesTheLoadRecommendation() {
    var observed = cluster(3, cpu: 2.0)
    observed.operatorTarget = 3
    #expect(decideOnce(observed).isEmpty)
}

@Test func scaleDown_retiresLearnersFirst_mostBehindFirst() {
    var observed = cluster(6).with(node("n4", height: 90)).with(node("n5", height: 80)).with(node("n6", height: 95))
    observed.operatorTarget = 4
    let actions = decideOnce(observed)
    #expect(retirements(actions) == ["n5", "n4"])
    #expect(removals(actions).isEmpty)
}

@Test func scaleDown_removesAVoterFromTheConfigurationBeforeRetiringIt() {
    var observed = cluster(5, voters: 5).with(node("n1", height: 90))   // the leader lags in its report
        .with(node("n4", height: 95))
    observed.operatorTarget = 4
    let first = decideOnce(observed)
    #expect(removals(first) == ["n4"], "the most behind non-leader voter, never the leader directly")
    #expect(retirements(first).isEmpty)
    observed.voters.removeAll { $0 == "n4" }    // the leader committed the removal
    #expect(retirements(decideOnce(observed)) == ["n4"])
}

@Test func scaleDown_neverRemovesAVoterWhileALearnerRemains() {
    var observed = cluster(6, voters: 5)
    observed.operatorTarget = 4
    let actions = decideOnce(observed)
    #expect(retirements(actions) == ["n6"] && removals(actions).isEmpty)
}

@Test func retirement_ofTheLeader_transfersLeadershipFirst() {
    var observed = cluster(4, voters: 3).with(node("n1", draining: true))
    let first = decideOnce(observed)
    #expect(transfers(first) == ["n1"] && removals(first).isEmpty && retirements(first).isEmpty)
    observed.leader = "n2"
    #expect(removals(decideOnce(observed)) == ["n1"])
    observed.voters.removeAll { $0 == "n1" }
    #expect(retirements(decideOnce(observed)) == ["n1"])
}
