import Testing
@testable import Membership

/// The registry with `voters` verified from the chain and leader n1 heard from at t = 10.
func registryState(voters: [String]) -> RegistryState {
    var s = RegistryState(detector: FailureDetector())
    s.chain = try! ChainBuilder(voters: voters).verified()
    var leader = NodeRecord(id: "n1", apiUrl: "http://n1", p2pAddr: "n1:6000", nodeKey: ChainBuilder.key("n1").publicKey.hex, registeredAt: 0)
    leader.lastHeartbeatAt = 10
    leader.role = "leader"
    leader.voters = voters
    s.nodes["n1"] = leader
    return s
}

@Test func inFlight_restartIsDone_onlyOnceTheNodeIsHeardFromAfterIt() {
    var s = registryState(voters: ["n1", "n2", "n3"])
    let restart = ScalingAction.restart(node: "n2", reason: "test")
    _ = s.detector.observeHeartbeat(node: "n2", at: 4)
    #expect(!RegistryService.tookEffect(restart, since: 5, s), "heard before the restart: not back yet")
    _ = s.detector.observeHeartbeat(node: "n2", at: 6)
    #expect(RegistryService.tookEffect(restart, since: 5, s))
}

@Test func inFlight_removalIsDone_onceTheLeaderNoLongerListsTheNode() {
    let removal = ScalingAction.removeMember(node: "n3", reason: "test")
    #expect(!RegistryService.tookEffect(removal, since: 5, registryState(voters: ["n1", "n2", "n3"])))
    #expect(RegistryService.tookEffect(removal, since: 5, registryState(voters: ["n1", "n2", "n4"])))
    #expect(!RegistryService.tookEffect(.spawn(reason: "test"), since: 5, registryState(voters: ["n1"])), "a spawn names no node")
}
