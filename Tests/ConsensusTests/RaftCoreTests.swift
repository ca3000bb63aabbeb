import Testing
@testable import Consensus

private func committedData(_ node: TestNode) -> [[UInt8]] {
    node.appliedEntries.filter { !$0.data.isEmpty }.map(\.data)
}

@Test func singleNode_campaignElectsAndEachProposalCommitsInOneReady() throws {
    let storage = MemoryStorage(membership: RaftMembership(voters: ["a"]))
    var core = RaftCore(settings: RaftSettings(id: "a", randomSeed: 1), storage: storage)
    core.campaign()
    #expect(core.status.role == .leader)
    #expect(core.status.term == 1)
    var rd = core.ready()
    storage.persist(rd)
    #expect(rd.roleChanged?.role == .leader)
    #expect(rd.entries.isEmpty, "no empty entry when the log is fully committed")
    core.advance(rd)
    for i in 1...5 {
        let index = try core.propose([UInt8(i)])
        #expect(index == UInt64(i))
        rd = core.ready()
        #expect(rd.entries.map(\.index) == [index])
        #expect(rd.committedEntries.map(\.index) == [index])
        #expect(rd.hardState?.commit == index)
        #expect(rd.mustSync)
        storage.persist(rd)
        core.advance(rd)
        #expect(!core.hasReady)
    }
    #expect(storage.lastIndex == 5)
}

@Test func singleNode_electsItselfOnFirstElectionTimeout() {
    let cluster = Cluster(voters: ["a"])
    cluster.tick(19)  // randomized timeout is in [10, 20)
    #expect(cluster.leaders == ["a"])
    #expect(cluster["a"].core.status.term == 1)
}

@Test func threeNodes_electExactlyOneLeaderAndReplicate() throws {
    let cluster = Cluster(voters: ["a", "b", "c"])
    let leader = try #require(cluster.electLeader())
    #expect(cluster.leaders.count == 1)
    for i in 0..<20 { _ = try cluster[leader].core.propose([UInt8(i)]) }
    cluster.stabilize()
    cluster.tick(2)
    for id in cluster.ids {
        #expect(committedData(cluster[id]) == (0..<20).map { [UInt8($0)] }, "node \(id)")
        #expect(cluster[id].core.status.commit == 20)
        #expect(cluster[id].core.status.leader == leader)
    }
}

@Test func proposalToFollower_returnsNotLeaderWithHint() throws {
    let cluster = Cluster(voters: ["a", "b", "c"])
    let leader = try #require(cluster.electLeader())
    let follower = cluster.ids.first { $0 != leader }!
    #expect(throws: ProposalError.notLeader(leader: leader)) { try cluster[follower].core.propose([1]) }
    #expect(throws: ProposalError.notLeader(leader: leader)) {
        try cluster[follower].core.proposeConfChange(.addLearner("d"), data: [])
    }
}

@Test func divergentUncommittedTail_isTruncatedAndRepaired() throws {
    let cluster = Cluster(voters: ["a", "b", "c"])
    cluster["a"].core.campaign()
    cluster.stabilize()
    #expect(cluster.leaders == ["a"])
    _ = try cluster["a"].core.propose([1])
    cluster.stabilize()
    cluster.isolate("a")
    for i in 0..<5 { _ = try cluster["a"].core.propose([100 + UInt8(i)]) }  // never commits
    cluster.stabilize()
    #expect(cluster["a"].core.status.lastIndex == 6)
    let newLeader = try #require(cluster.electLeader(among: ["b", "c"]))
    _ = try cluster[newLeader].core.propose([2])
    cluster.stabilize()
    cluster.heal()
    cluster.tick(3)
    #expect(cluster.leaders == [newLeader])
    let expected: [[UInt8]] = [[1], [2]]
    for id in cluster.ids {
        #expect(committedData(cluster[id]) == expected, "node \(id)")
        #expect(cluster[id].storage.log.map(\.term) == cluster[newLeader].storage.log.map(\.term))
    }
}

@Test func isolatedLeader_stepsDownByCheckQuorumAndRejoinsWithoutRaisingTerms() throws {
    let cluster = Cluster(voters: ["a", "b", "c"])
    cluster["a"].core.campaign()
    cluster.stabilize()
    let oldTerm = cluster["a"].core.status.term
    cluster.isolate("a")
    let newLeader = try #require(cluster.electLeader(among: ["b", "c"]))
    let newTerm = cluster[newLeader].core.status.term
    #expect(newTerm == oldTerm + 1)
    cluster.tick(20, only: ["a"])
    #expect(cluster["a"].core.status.role != .leader, "check-quorum steps the old leader down")
    cluster.tick(60, only: ["a"])  // it keeps pre-voting alone, which must not raise its term
    #expect(cluster["a"].core.status.term == oldTerm)
    cluster.heal()
    cluster.tick(5)
    #expect(cluster.leaders == [newLeader])
    #expect(cluster.ids.allSatisfy { cluster[$0].core.status.term == newTerm })
}

@Test func leadershipTransfer_handsOverToCaughtUpTarget() throws {
    let cluster = Cluster(voters: ["a", "b", "c"])
    cluster["a"].core.campaign()
    cluster.stabilize()
    for i in 0..<3 { _ = try cluster["a"].core.propose([UInt8(i)]) }
    cluster["a"].core.transferLeadership(to: "c")
    #expect(throws: ProposalError.transferInProgress) { try cluster["a"].core.propose([9]) }
    cluster.stabilize()
    #expect(cluster.leaders == ["c"])
    #expect(cluster["a"].core.status.leader == "c")
    _ = try cluster["c"].core.propose([7])
    cluster.stabilize()
    cluster.tick(2)
    #expect(committedData(cluster["a"]).last == [7])
}

@Test func leadershipTransfer_abortsAfterElectionTimeoutWhenTargetIsDown() throws {
    let cluster = Cluster(voters: ["a", "b", "c"])
    cluster["a"].core.campaign()
    cluster.stabilize()
    cluster.cut = [["a", "c"], ["c", "a"]]
    cluster["a"].core.transferLeadership(to: "c")
    #expect(throws: ProposalError.transferInProgress) { try cluster["a"].core.propose([9]) }
    cluster.tick(10, only: ["a", "b"])
    #expect(cluster.leaders == ["a"])
    #expect(throws: Never.self) { try cluster["a"].core.propose([9]) }
}

@Test func membership_addLearnerPromoteRemove() throws {
    let cluster = Cluster(voters: ["a", "b", "c"])
    cluster["a"].core.campaign()
    cluster.stabilize()
    for i in 0..<10 { _ = try cluster["a"].core.propose([UInt8(i)]) }
    cluster.stabilize()
    // d starts from genesis with the membership it will be told about; it catches up as a learner.
    cluster.addNode("d", membership: RaftMembership(voters: ["a", "b", "c"], learners: ["d"]), seed: 99)
    _ = try cluster["a"].core.proposeConfChange(.addLearner("d"), data: [200])
    #expect(throws: ProposalError.confChangePending) {
        try cluster["a"].core.proposeConfChange(.promote("d"), data: [])
    }
    cluster.stabilize()
    cluster.tick(2)
    #expect(cluster["d"].core.status.role == .learner)
    #expect(cluster["d"].core.status.commit == cluster["a"].core.status.commit)
    #expect(throws: ProposalError.invalidConfChange("d is already a learner")) {
        try cluster["a"].core.proposeConfChange(.addLearner("d"), data: [])
    }
    _ = try cluster["a"].core.proposeConfChange(.promote("d"), data: [201])
    cluster.stabilize()
    cluster.tick(2)
    #expect(cluster["a"].core.status.membership.voters == ["a", "b", "c", "d"])
    #expect(cluster["d"].core.status.role == .follower)
    _ = try cluster["a"].core.proposeConfChange(.remove("b"), data: [202])
    cluster.stabilize()
    cluster.tick(2)
    #expect(cluster["a"].core.status.membership == RaftMembership(voters: ["a", "c", "d"]))
    // With b gone, a, c, d still commit; b no longer counts.
    cluster.isolate("b")
    _ = try cluster["a"].core.propose([55])
    cluster.stabilize()
    cluster.tick(2)
    #expect(committedData(cluster["d"]).last == [55])
}

@Test func learners_neverCampaignNorBecomeLeader() throws {
    let cluster = Cluster(voters: ["a"], learners: ["l1", "l2"])
    cluster["a"].core.campaign()
    cluster.stabilize()
    _ = try cluster["a"].core.propose([1])
    cluster.stabilize()
    cluster.isolate("a")
    cluster.tick(100, only: ["l1", "l2"])
    cluster["l1"].core.campaign()
    cluster.stabilize()
    #expect(cluster.leaders == ["a"])
    #expect(cluster["l1"].core.status.role == .learner)
    #expect(cluster["l1"].core.status.term == 1)
}

@Test func newLeader_appendsEmptyEntryToCommitEarlierTerms() throws {
    let cluster = Cluster(voters: ["a", "b", "c"])
    cluster["a"].core.campaign()
    cluster.stabilize()
    cluster.cut = [["b", "a"], ["c", "a"]]  // a's appends arrive, answers do not
    _ = try cluster["a"].core.propose([1])
    cluster.stabilize()
    #expect(cluster["b"].core.status.lastIndex == 1)
    #expect(cluster["b"].core.status.commit == 0)
    cluster.isolate("a")
    cluster["b"].core.campaign()
    cluster.stabilize()
    #expect(cluster["b"].core.status.role == .preCandidate, "c is in a's lease and ignores b")
    let leader = try #require(cluster.electLeader(among: ["b", "c"]))
    #expect(cluster[leader].storage.log.last?.data == [])
    #expect(cluster[leader].storage.log.count == 3)
    #expect(cluster[leader].core.status.commit == 2)
    #expect(committedData(cluster[leader]) == [[1]])
}

@Test func leader_refusesProposalsBeyondUncommittedBound() throws {
    let cluster = Cluster(voters: ["a", "b", "c"])
    cluster["a"].core.campaign()
    cluster.stabilize()
    cluster.isolate("a")
    for i in 0..<1024 { _ = try cluster["a"].core.propose([UInt8(i % 256)]) }
    #expect(throws: ProposalError.tooManyUncommitted) { try cluster["a"].core.propose([1]) }
}

@Test func staleAndMalformedMessages_areIgnored() throws {
    let cluster = Cluster(voters: ["a", "b", "c"])
    cluster["a"].core.campaign()
    cluster.stabilize()
    let before = cluster["b"].core.status
    let bogus = [Entry(index: 5, term: 1)]  // gap after prevIndex 0
    cluster["b"].core.step(Message(from: "a", to: "b", term: 1, kind: .append(prevIndex: 0, prevTerm: 0, entries: bogus, commit: 9)))
    cluster["b"].core.step(Message(from: "z", to: "x", term: 9, kind: .heartbeat(commit: 9)))
    cluster["b"].core.step(Message(from: "a", to: "b", term: 1, kind: .heartbeat(commit: 99)))
    cluster["a"].core.step(Message(from: "b", to: "a", term: 1, kind: .appendResponse(reject: true, index: 99, rejectHint: 99, hintTerm: 1)))
    cluster.stabilize()
    #expect(cluster["b"].core.status.lastIndex == before.lastIndex)
    #expect(cluster.leaders == ["a"])
}
