import Testing
@testable import Consensus

/// The naive definition: the largest value v such that a majority have match >= v.
private func naiveCommitted(_ matches: [UInt64]) -> UInt64 {
    guard !matches.isEmpty else { return 0 }
    var best: UInt64 = 0
    for candidate in matches where matches.filter({ $0 >= candidate }).count * 2 > matches.count {
        best = max(best, candidate)
    }
    return best
}

@Test func quorum_committedIndexMatchesNaiveVersion() {
    var rng = SplitMix64(seed: 42)
    for _ in 0..<2000 {
        let count = Int(rng.next() % 8)
        let matches = (0..<count).map { _ in rng.next() % 10 }
        #expect(Quorum.committedIndex(matches: matches) == naiveCommitted(matches), "\(matches)")
    }
}

@Test func quorum_voteResultMatchesNaiveVersion() {
    var rng = SplitMix64(seed: 7)
    for _ in 0..<2000 {
        let voters = Set((0..<Int(1 + rng.next() % 6)).map { "n\($0)" })
        var granted: Set<NodeID> = []
        var rejected: Set<NodeID> = []
        for voter in voters {
            switch rng.next() % 3 {
            case 0: granted.insert(voter)
            case 1: rejected.insert(voter)
            default: break
            }
        }
        if rng.next() % 2 == 0 { granted.insert("outsider") }
        let majority = voters.count / 2 + 1
        let expected: Quorum.VoteResult = granted.intersection(voters).count >= majority ? .won
            : (voters.count - rejected.count < majority ? .lost : .pending)
        #expect(Quorum.voteResult(voters: voters, granted: granted, rejected: rejected) == expected)
    }
}

@Test func settings_rejectInvalidValues() {
    var settings = RaftSettings(id: "a")
    #expect(throws: Never.self) { try settings.validate() }
    settings.electionTimeoutTicks = 1
    #expect(throws: RaftSettingsError.self) { try settings.validate() }
    settings = RaftSettings(id: "")
    #expect(throws: RaftSettingsError.self) { try settings.validate() }
}

@Test func membership_rulesRejectInvalidChanges() {
    let m = RaftMembership(voters: ["a", "b"], learners: ["c"])
    #expect(m.rejection(of: .addLearner("a")) != nil)
    #expect(m.rejection(of: .addLearner("c")) != nil)
    #expect(m.rejection(of: .promote("a")) != nil)
    #expect(m.rejection(of: .remove("z")) != nil)
    #expect(RaftMembership(voters: ["a"]).rejection(of: .remove("a")) != nil)
    #expect(m.applying(.promote("c")) == RaftMembership(voters: ["a", "b", "c"]))
    #expect(m.applying(.remove("b")) == RaftMembership(voters: ["a"], learners: ["c"]))
    #expect(m.applying(.addLearner("d")).learners == ["c", "d"])
}
