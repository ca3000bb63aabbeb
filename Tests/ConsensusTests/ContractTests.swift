import Testing
@testable import Consensus

@Test func ready_calledTwiceWithoutAdvanceTraps() async {
    await #expect(processExitsWith: .failure) {
        var core = RaftCore(settings: RaftSettings(id: "a"), storage: MemoryStorage(membership: RaftMembership(voters: ["a"])))
        core.campaign()
        _ = core.ready()
        _ = core.ready()
    }
}

@Test func advance_withoutReadyTraps() async {
    await #expect(processExitsWith: .failure) {
        let storage = MemoryStorage(membership: RaftMembership(voters: ["a"]))
        var core = RaftCore(settings: RaftSettings(id: "a"), storage: storage)
        let rd = core.ready()
        core.advance(rd)
        core.advance(rd)
    }
}

@Test func leader_pipelinesAtMostMaxInflightAppendsPerFollower() throws {
    let cluster = Cluster(voters: ["a", "b", "c"])
    cluster["a"].core.campaign()
    cluster.stabilize()
    _ = try cluster["a"].core.propose([0])
    cluster.stabilize()  // b and c are now in the replicate state
    cluster.cut = [["b", "a"], ["c", "a"]]  // acknowledgements are lost
    var appendsToB = 0
    for i in 1...20 {
        _ = try cluster["a"].core.propose([UInt8(i)])
        appendsToB += cluster["a"].drain().filter { message in
            if case .append = message.kind { return message.to == "b" }
            return false
        }.count
    }
    #expect(appendsToB == 4, "maxInflightAppends in makeSettings")
    #expect(cluster["a"].core.status.peers["b"]?.replicating == true)
}

@Test func follower_inLeaseIgnoresHigherTermVoteRequests() throws {
    let cluster = Cluster(voters: ["a", "b", "c"])
    cluster["a"].core.campaign()
    cluster.stabilize()
    let term = cluster["b"].core.status.term
    cluster["b"].core.step(Message(from: "c", to: "b", term: term + 5, kind: .vote(lastIndex: 9, lastTerm: 9, transfer: false)))
    #expect(cluster["b"].core.status.term == term)
    #expect(cluster["b"].core.status.leader == "a")
}

@Test func restartedNode_recoversPersistedStateAndRedeliversUnappliedEntries() throws {
    let cluster = Cluster(voters: ["a"])
    cluster["a"].core.campaign()
    cluster.stabilize()
    for i in 1...3 { _ = try cluster["a"].core.propose([UInt8(i)]) }
    cluster.stabilize()
    let storage = cluster["a"].storage
    storage.applied = 1  // pretend the runtime crashed after applying only block 1
    let node = TestNode(id: "a", storage: storage, settings: makeSettings("a", seed: 5))
    #expect(node.core.status.term == 1)
    #expect(node.core.status.commit == 3)
    _ = node.drain()
    #expect(node.appliedEntries.map(\.index) == [2, 3])
    #expect(node.core.status.role == .follower)
}
