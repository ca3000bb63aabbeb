// Who may say what (RaftCore+Admission.swift): what a peer's message may carry and who may send
// it. Each test hands one hostile message to a real core and checks it changed nothing it must not.
import Testing
@testable import Consensus

/// A three-voter cluster with a learner, a leader elected and `blocks` entries committed everywhere.
private func settledCluster(blocks: Int = 3) throws -> (cluster: Cluster, leader: NodeID, follower: NodeID) {
    let cluster = Cluster(voters: ["a", "b", "c"], learners: ["l"])
    let leader = try #require(cluster.electLeader(among: ["a", "b", "c"]))
    for i in 0..<blocks { _ = try cluster[leader].core.propose([UInt8(i)]) }
    cluster.stabilize()
    cluster.tick(2)
    let follower = try #require(["a", "b", "c"].first { $0 != leader })
    try #require(cluster[follower].core.status.commit == cluster[leader].core.status.commit)
    return (cluster, leader, follower)
}

/// Everything about a core a refused message must leave alone.
private func fingerprint(_ node: TestNode) -> String {
    let s = node.core.status
    return "\(s.term) \(s.role) \(s.leader ?? "-") \(s.commit) \(s.lastIndex) \(node.core.vote ?? "-") \(node.core.log.unstableEntries)"
}

private func expectRefused(_ node: TestNode, _ message: Message, _ reason: RefusalReason,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    let before = fingerprint(node)
    let refused = node.core.step(message)
    #expect(refused == reason, "\(message.kind)", sourceLocation: sourceLocation)
    #expect(fingerprint(node) == before, sourceLocation: sourceLocation)
    #expect(node.drain().isEmpty, "a refused message is not answered", sourceLocation: sourceLocation)
}

@Test func absurdTermsAndIndexesAreRefusedWithoutTrapping() throws {
    let (cluster, leader, follower) = try settledCluster()
    let node = cluster[follower]
    let term = node.core.status.term
    let huge = [UInt64.max, UInt64.max - 1, Message.maxTermOrIndex + 1]
    for value in huge {
        let kinds: [Message.Kind] = [
            .preVote(lastIndex: 0, lastTerm: 0), .vote(lastIndex: 0, lastTerm: 0, transfer: true),
            .append(prevIndex: 0, prevTerm: 0, entries: [], commit: 0), .heartbeat(commit: 0), .timeoutNow,
            .preVoteResponse(reject: true), .voteResponse(reject: true), .heartbeatResponse,
        ]
        for kind in kinds { expectRefused(node, Message(from: leader, to: follower, term: value, kind: kind), .outOfRange) }
        let inRangeTerm: [Message.Kind] = [
            .append(prevIndex: value, prevTerm: term, entries: [], commit: 0),
            .append(prevIndex: 1, prevTerm: 1, entries: [], commit: value),
            .heartbeat(commit: value),
            .vote(lastIndex: value, lastTerm: 0, transfer: false),
            .appendResponse(reject: true, index: value, rejectHint: 0, hintTerm: 0),
        ]
        for kind in inRangeTerm { expectRefused(node, Message(from: leader, to: follower, term: term, kind: kind), .outOfRange) }
    }
    // Entries that would run past the largest index.
    let last = Message.maxTermOrIndex
    let overflow = Message.Kind.append(prevIndex: last, prevTerm: term,
                                       entries: [Entry(index: last &+ 1, term: term)], commit: 0)
    expectRefused(node, Message(from: leader, to: follower, term: term, kind: overflow), .outOfRange)
    // The leader, too, refuses absurd answers.
    let answer = Message.Kind.appendResponse(reject: false, index: UInt64.max, rejectHint: UInt64.max, hintTerm: UInt64.max)
    expectRefused(cluster[leader], Message(from: follower, to: leader, term: term, kind: answer), .outOfRange)
    cluster.tick(3)
    #expect(cluster.leaders == [leader] && cluster[leader].core.status.term == term, "the cluster did not notice")
}

@Test func malformedAppendsAreRefusedBeforeTheyMoveTheTerm() throws {
    let (cluster, leader, follower) = try settledCluster()
    let node = cluster[follower]
    let term = node.core.status.term
    let last = node.core.status.lastIndex
    let next = term + 1  // a higher term must not be adopted on the word of a malformed append
    let bad: [[Entry]] = [
        [Entry(index: last + 2, term: next)],                                  // gap
        [Entry(index: last + 1, term: next), Entry(index: last + 3, term: next)],  // hole
        [Entry(index: last + 1, term: 0)],                                     // term 0
        [Entry(index: last + 1, term: next + 1)],                              // from the future
        [Entry(index: last + 1, term: next), Entry(index: last + 2, term: term - 1)],  // term goes down
    ]
    for entries in bad {
        let kind = Message.Kind.append(prevIndex: last, prevTerm: term, entries: entries, commit: last + 1)
        expectRefused(node, Message(from: leader, to: follower, term: next, kind: kind), .malformed)
    }
    let futurePrev = Message.Kind.append(prevIndex: last, prevTerm: next + 1, entries: [], commit: 0)
    expectRefused(node, Message(from: leader, to: follower, term: next, kind: futurePrev), .outOfRange)
    let futureVote = Message.Kind.vote(lastIndex: last, lastTerm: next, transfer: true)
    expectRefused(node, Message(from: leader, to: follower, term: next, kind: futureVote), .outOfRange)
}

@Test func strangersAreIgnoredWhateverTheySay() throws {
    let (cluster, leader, follower) = try settledCluster()
    let term = cluster[follower].core.status.term
    let last = cluster[follower].core.status.lastIndex
    let stranger = "mallory"
    let kinds: [Message.Kind] = [
        .vote(lastIndex: last + 10, lastTerm: term, transfer: true),
        .append(prevIndex: last, prevTerm: term, entries: [Entry(index: last + 1, term: term + 1)], commit: last + 1),
        .heartbeat(commit: last), .timeoutNow, .appendResponse(reject: false, index: last, rejectHint: 0, hintTerm: 0),
    ]
    for kind in kinds {
        for target in [leader, follower] {
            expectRefused(cluster[target], Message(from: stranger, to: target, term: term + 1, kind: kind), .notMember)
        }
    }
}

@Test func aLearnerMayNeitherCampaignNorLeadNorRaiseTerms() throws {
    let (cluster, leader, follower) = try settledCluster()
    let term = cluster[follower].core.status.term
    let last = cluster[follower].core.status.lastIndex
    let learnerSays: [Message.Kind] = [
        .preVote(lastIndex: last + 10, lastTerm: term), .vote(lastIndex: last + 10, lastTerm: term, transfer: true),
        .append(prevIndex: last, prevTerm: term, entries: [], commit: last), .heartbeat(commit: last), .timeoutNow,
        .voteResponse(reject: false),
    ]
    for kind in learnerSays {
        expectRefused(cluster[follower], Message(from: "l", to: follower, term: term + 1, kind: kind), .notVoter)
        expectRefused(cluster[follower], Message(from: "l", to: follower, term: term, kind: kind), .notVoter)
    }
    // A learner's answer at a higher term would depose the leader: refused.
    let answer = Message.Kind.appendResponse(reject: true, index: 0, rejectHint: 0, hintTerm: 0)
    expectRefused(cluster[leader], Message(from: "l", to: leader, term: term + 5, kind: answer), .notVoter)
    // Its answers in the leader's term are heard as before.
    #expect(cluster[leader].core.step(Message(from: "l", to: leader, term: term, kind: .heartbeatResponse)) == nil)
}

@Test func aTimeoutNowFromAHigherTermIsRefused() throws {
    let (cluster, leader, follower) = try settledCluster()
    let term = cluster[follower].core.status.term
    let other = try #require(["a", "b", "c"].first { $0 != leader && $0 != follower })
    expectRefused(cluster[follower], Message(from: other, to: follower, term: term + 1, kind: .timeoutNow), .outOfRange)
}

@Test func aSecondLeaderForATermIsIgnoredAndKeptAsEvidence() throws {
    let (cluster, leader, follower) = try settledCluster()
    let node = cluster[follower]
    let term = node.core.status.term
    let last = node.core.status.lastIndex
    let impostor = try #require(["a", "b", "c"].first { $0 != leader && $0 != follower })
    #expect(node.core.leader(ofTerm: term) == leader)
    let junk = Message.Kind.append(prevIndex: last, prevTerm: term, entries: [Entry(index: last + 1, term: term, data: [0xEE])],
                                   commit: last + 1)
    let before = fingerprint(node)
    #expect(node.core.step(Message(from: impostor, to: follower, term: term, kind: junk)) == nil, "admitted, then ignored")
    #expect(node.core.step(Message(from: impostor, to: follower, term: term, kind: .heartbeat(commit: last))) == nil)
    #expect(fingerprint(node) == before, "nothing appended, the leader kept")
    let rd = node.core.ready()
    let expected = Evidence(kind: .equivocatingLeader, from: impostor, term: term, leader: leader)
    #expect(rd.evidence == [expected, expected])
    #expect(rd.messages.isEmpty)
    node.storage.persist(rd)
    node.core.advance(rd)
    #expect(node.core.status.evidenceCount == 2)
    // The leader itself is not fooled either, and the real leader still replicates.
    #expect(cluster[leader].core.step(Message(from: impostor, to: leader, term: term, kind: junk)) == nil)
    #expect(cluster[leader].core.status.role == .leader && cluster[leader].core.status.evidenceCount == 1)
    _ = try cluster[leader].core.propose([42])
    cluster.stabilize()
    #expect(node.core.status.lastIndex == last + 1 && node.core.log.term(at: last + 1) == term)
    #expect(node.core.status.leader == leader)
}

@Test func anAppendConflictingWithACommittedEntryIsRefusedAsEvidence() throws {
    let (cluster, _, follower) = try settledCluster(blocks: 4)
    let node = cluster[follower]
    let term = node.core.status.term
    let commit = node.core.status.commit
    try #require(commit >= 3)
    let other = try #require(["a", "b", "c"].first { $0 != follower })
    // A new term led by `other`, as far as `follower` knows: the conflicting entries come from
    // the node it accepted as leader of that term, so only the committed-entry rule stops them.
    let next = term + 1
    let rewrite = Message.Kind.append(prevIndex: 1, prevTerm: node.core.log.term(at: 1)!,
                                      entries: [Entry(index: 2, term: next, data: [0xBA, 0xD0])], commit: 2)
    let wrongPrev = Message.Kind.append(prevIndex: commit, prevTerm: next, entries: [], commit: commit)
    let logBefore = node.storage.log
    for (kind, index) in [(rewrite, UInt64(2)), (wrongPrev, commit)] {
        #expect(node.core.step(Message(from: other, to: follower, term: next, kind: kind)) == nil)
        let rd = node.core.ready()
        #expect(rd.evidence.map(\.kind) == [.committedConflict])
        #expect(rd.evidence.first?.index == index)
        #expect(rd.entries.isEmpty && rd.messages.isEmpty, "nothing written, nothing answered")
        node.storage.persist(rd)
        node.core.advance(rd)
    }
    #expect(node.storage.log == logBefore)
    #expect(node.core.status.commit == commit)
}

@Test func evidenceBeyondTheBoundPerReadyIsOnlyCounted() throws {
    let (cluster, leader, follower) = try settledCluster()
    let node = cluster[follower]
    let term = node.core.status.term
    let impostor = try #require(["a", "b", "c"].first { $0 != leader && $0 != follower })
    let flood = node.core.settings.maxEvidencePerReady + 10
    for _ in 0..<flood {
        node.core.step(Message(from: impostor, to: follower, term: term, kind: .heartbeat(commit: 0)))
    }
    let rd = node.core.ready()
    #expect(rd.evidence.count == node.core.settings.maxEvidencePerReady)
    #expect(node.core.status.evidenceCount == UInt64(flood))
    node.storage.persist(rd)
    node.core.advance(rd)
    #expect(!node.core.hasReady, "the rest was counted, not queued")
}

/// Regression (found by the hostile-peer process test): a faulty voter's heartbeat at term
/// 2^63 - 1 was taken, the faulty voter went quiet, and no honest node could start an election
/// again (its next term was out of range). A term more than `maxTermJump` above ours is refused;
/// one within it is taken, and the honest voters elect past it once the faulty voter is quiet.
@Test func aFaultyVotersTermCannotPushTheClusterPastItsLastElection() throws {
    let (cluster, leader, follower) = try settledCluster()
    let faulty = try #require(["a", "b", "c"].first { $0 != leader && $0 != follower })
    cluster.isolate(faulty)
    cluster.isolate(leader)  // the honest leader is gone: no lease protects the follower
    let node = cluster[follower]
    let term = node.core.status.term
    for claim in [Message.maxTermOrIndex, term + Message.maxTermJump + 1] {
        expectRefused(node, Message(from: faulty, to: follower, term: claim, kind: .heartbeat(commit: 0)), .outOfRange)
    }
    // The largest jump it may take: the follower follows the faulty voter for that term...
    let pushed = term + Message.maxTermJump
    #expect(node.core.step(Message(from: faulty, to: follower, term: pushed, kind: .heartbeat(commit: 0))) == nil)
    #expect(node.core.status.term == pushed && node.core.status.leader == faulty)
    _ = node.drain()
    // ...and once it is quiet, the two honest voters elect a leader in a later term.
    cluster.heal()
    cluster.isolate(faulty)
    var elected: NodeID?
    for _ in 0..<400 where elected == nil {
        cluster.tick(only: [leader, follower])
        elected = [leader, follower].first { cluster[$0].core.status.role == .leader && cluster[$0].core.status.term > pushed }
    }
    #expect(elected != nil, "no honest leader after the pushed term \(pushed)")
}

@Test func aNodeWithAnEmptyLogTakesAnyTermInRange() {
    let cluster = Cluster(voters: ["a", "b", "c"])
    let node = cluster["a"]
    let far = Message.maxTermJump * 4
    #expect(node.core.step(Message(from: "b", to: "a", term: far, kind: .heartbeat(commit: 0))) == nil)
    #expect(node.core.status.term == far)
}

/// A node that knows no members yet (a fresh `--join` node) steps messages only from its anchors
/// (`trustBeforeMembership`): before this rule it stepped everyone's, and a stranger's committed
/// junk halted it.
@Test func aNodeThatKnowsNoMembersStepsOnlyItsAnchors() throws {
    let node = TestNode(id: "n", storage: MemoryStorage(membership: RaftMembership(voters: [])), settings: makeSettings("n", seed: 3))
    let append = Message.Kind.append(prevIndex: 0, prevTerm: 0, entries: [Entry(index: 1, term: 1, data: [9])], commit: 1)
    for kind in [append, .heartbeat(commit: 1), .vote(lastIndex: 0, lastTerm: 0, transfer: false), .timeoutNow] {
        expectRefused(node, Message(from: "x", to: "n", term: 1, kind: kind), .notMember)
    }
    node.core.trustBeforeMembership("a")
    #expect(node.core.step(Message(from: "a", to: "n", term: 1, kind: append)) == nil)
    _ = node.drain()
    #expect(node.core.status.lastIndex == 1 && node.core.status.leader == "a")
    expectRefused(node, Message(from: "x", to: "n", term: 2, kind: .heartbeat(commit: 1)), .notMember)
}

/// Each reason is a `reason` label of `autochain_raft_refused_messages_total`: snake_case like
/// every label value, and the words docs/SECURITY.md lists (it said `not_member` while the
/// node exported `notMember`).
@Test func refusalReasons_areTheSnakeCaseLabelsTheDocsName() {
    #expect(RefusalReason.allCases.map(\.rawValue) == ["misaddressed", "out_of_range", "malformed", "not_member", "not_voter"])
}
