import Testing
@testable import Membership

// Defaults: heartbeat every 0.5 s, suspect after 3 missed (1.5 s), dead 1.5 s later (3.0 s).

@Test func failureDetector_aliveWhileHeartbeatsArrive() {
    var fd = FailureDetector()
    fd.observeHeartbeat(node: "n1", at: 10)
    #expect(fd.health(node: "n1", now: 11.5) == .alive)
}

@Test func failureDetector_suspectAfterMissedHeartbeats_andAsksForAProbe() {
    var fd = FailureDetector()
    fd.observeHeartbeat(node: "n1", at: 10)
    #expect(fd.health(node: "n1", now: 11.6) == .suspect)
    #expect(fd.shouldProbe(node: "n1", now: 11.6))
    #expect(!fd.shouldProbe(node: "n1", now: 10.4))
}

@Test func failureDetector_deadWhenTheProbeFails() {
    var fd = FailureDetector()
    fd.observeHeartbeat(node: "n1", at: 10)
    fd.observeProbe(node: "n1", ok: false, at: 11.7)
    #expect(fd.health(node: "n1", now: 11.8) == .dead)
}

@Test func failureDetector_aSuccessfulProbeKeepsASlowNodeAlive() {
    var fd = FailureDetector()
    fd.observeHeartbeat(node: "n1", at: 10)
    fd.observeProbe(node: "n1", ok: true, at: 11.7)
    #expect(fd.health(node: "n1", now: 13.0) == .alive)
    #expect(fd.lastHeardAt(node: "n1") == 11.7)
}

@Test func failureDetector_deadAfterTheExtraSilence() {
    var fd = FailureDetector()
    fd.observeHeartbeat(node: "n1", at: 10)
    #expect(fd.health(node: "n1", now: 12.9) == .suspect)
    #expect(fd.health(node: "n1", now: 13.1) == .dead)
}

@Test func failureDetector_processExitIsDeadAtOnce_untilHeardFromAgain() {
    var fd = FailureDetector()
    fd.observeHeartbeat(node: "n1", at: 10)
    fd.observeProcessExit(node: "n1", at: 10.1)
    #expect(fd.health(node: "n1", now: 10.2) == .dead)
    fd.observeHeartbeat(node: "n1", at: 12)    // restarted
    #expect(fd.health(node: "n1", now: 12.1) == .alive)
}

@Test func failureDetector_tellsAnObservedExitFromSilence() {
    var fd = FailureDetector()
    fd.observeHeartbeat(node: "n1", at: 10)
    #expect(fd.health(node: "n1", now: 20) == .dead && !fd.exitSeen(node: "n1"), "silence alone is no exit")
    fd.observeProcessExit(node: "n1", at: 20)
    #expect(fd.exitSeen(node: "n1"))
    fd.observeHeartbeat(node: "n1", at: 21)    // restarted
    #expect(!fd.exitSeen(node: "n1"))
}

@Test func failureDetector_aHeartbeatAfterAFailedProbeRevivesTheNode() {
    var fd = FailureDetector()
    fd.observeHeartbeat(node: "n1", at: 10)
    fd.observeProbe(node: "n1", ok: false, at: 11.7)
    fd.observeHeartbeat(node: "n1", at: 12)
    #expect(fd.health(node: "n1", now: 12.5) == .alive)
}

@Test func failureDetector_outOfOrderObservationsKeepTheLatest() {
    var fd = FailureDetector()
    fd.observeHeartbeat(node: "n1", at: 10)
    fd.observeHeartbeat(node: "n1", at: 8)
    #expect(fd.lastHeardAt(node: "n1") == 10)
}

@Test func failureDetector_aNodeNeverHeardFromIsDead() {
    #expect(FailureDetector().health(node: "ghost", now: 1) == .dead)
}

@Test func failureDetectorSettings_rejectOutOfRangeValues() {
    var s = FailureDetectorSettings()
    #expect(throws: Never.self) { try s.validate() }
    s.suspectAfterMissed = 0
    #expect(throws: MembershipSettingsError.badValue(key: "suspectAfterMissed", value: "0", expected: "1...100")) {
        try s.validate()
    }
}

@Test func autoscalerSettings_defaultsAreValid_andBadValuesNameTheirKey() {
    var s = AutoscalerSettings()
    #expect(throws: Never.self) { try s.validate() }
    s.targetVoters = 4
    #expect(throws: MembershipSettingsError.badValue(key: "targetVoters", value: "4", expected: "an odd number >= 1")) {
        try s.validate()
    }
    s = AutoscalerSettings()
    s.maxNodes = 2
    #expect(throws: MembershipSettingsError.self) { try s.validate() }
    s = AutoscalerSettings()
    s.downStabilizationS = -1
    #expect(throws: MembershipSettingsError.self) { try s.validate() }
}
