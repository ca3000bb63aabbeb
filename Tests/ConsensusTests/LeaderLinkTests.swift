import Testing
@testable import Consensus

// A voter told that its link to the leader closed (the leader process was killed: its sockets
// close at once) campaigns without waiting an election timeout; voters that still hear the
// leader keep refusing, and silence alone changes nothing.

/// Tells `node` its link to `peer` closed; whether it took its leader as gone.
private func closeLink(_ cluster: Cluster, _ node: NodeID, to peer: NodeID) -> Bool {
    cluster[node].core.peerLinkClosed(peer) != nil
}

/// Three voters with `a` elected and heard by all; returns the term.
private func clusterLedByA(learners: [NodeID] = []) -> (Cluster, UInt64) {
    let cluster = Cluster(voters: ["a", "b", "c"], learners: learners)
    cluster["a"].core.campaign()
    cluster.stabilize()
    cluster.tick(1)
    return (cluster, cluster["a"].core.status.term)
}

@Test func leaderLinkClosed_survivorsElectANewLeaderWithoutAnyTick() throws {
    let (cluster, term) = clusterLedByA()
    cluster.isolate("a")  // killed: nothing more from it
    #expect(closeLink(cluster, "b", to: "a"))
    #expect(closeLink(cluster, "c", to: "a"))
    #expect(cluster["b"].core.status.leader == nil, "the lease of the gone leader is dropped at once")
    cluster["b"].core.campaignAfterLeaderLinkClosed()
    cluster.stabilize()
    #expect(cluster["b"].core.status.role == .leader)
    #expect(cluster["b"].core.status.term == term + 1)
    #expect(cluster["c"].core.status.leader == "b")
    #expect(!cluster["c"].core.awaitsLeaderLinkElection, "c granted b's pre-vote: it no longer campaigns itself")
}

@Test func leaderLinkClosed_campaignIsAPreVoteThatVotersHearingTheLeaderRefuse() throws {
    let (cluster, term) = clusterLedByA()
    cluster.cut.insert(["a", "b"]); cluster.cut.insert(["b", "a"])  // only b's link flapped
    #expect(closeLink(cluster, "b", to: "a"))
    cluster["b"].core.campaignAfterLeaderLinkClosed()
    cluster.stabilize()
    #expect(cluster["b"].core.status.role == .preCandidate, "c still hears a and ignores the pre-vote")
    #expect(cluster.leaders == ["a"])
    #expect(cluster.ids.allSatisfy { cluster[$0].core.status.term == term }, "no term was raised")
    cluster.heal()  // the link reconnects: the next heartbeat brings b back
    cluster["b"].core.peerLinkOpened("a")
    cluster.tick(1)
    #expect(cluster["b"].core.status.role == .follower && cluster["b"].core.status.leader == "a")
    #expect(cluster.leaders == ["a"] && cluster["a"].core.status.term == term)
}

@Test func leaderLinkClosed_wordFromTheLeaderBeforeTheDelayCancelsTheCampaign() {
    let (cluster, term) = clusterLedByA()
    #expect(closeLink(cluster, "b", to: "a"))
    cluster["b"].core.peerLinkOpened("a")
    cluster.tick(1)  // the link came back and a heartbeat arrived
    #expect(!cluster["b"].core.awaitsLeaderLinkElection)
    cluster["b"].core.campaignAfterLeaderLinkClosed()
    #expect(!cluster["b"].core.hasReady, "nothing to send: no campaign")
    #expect(cluster["b"].core.status.role == .follower && cluster["b"].core.status.leader == "a")
    #expect(cluster["b"].core.status.term == term)
}

@Test func linkClosedOfAMemberThatDoesNotLead_changesNothing() {
    let (cluster, term) = clusterLedByA()
    #expect(!closeLink(cluster, "b", to: "c"))
    #expect(!closeLink(cluster, "a", to: "b"), "a leader ignores it (check-quorum deals with lost followers)")
    cluster["b"].core.campaignAfterLeaderLinkClosed()
    #expect(!cluster["b"].core.hasReady)
    #expect(cluster["b"].core.status.leader == "a" && cluster.leaders == ["a"] && cluster["a"].core.status.term == term)
}

@Test func leaderLinkClosed_learnerNeverCampaigns() {
    let (cluster, term) = clusterLedByA(learners: ["d"])
    #expect(cluster["d"].core.status.leader == "a")
    #expect(!closeLink(cluster, "d", to: "a"))
    cluster["d"].core.campaignAfterLeaderLinkClosed()
    #expect(!cluster["d"].core.hasReady)
    #expect(cluster["d"].core.status.role == .learner && cluster["d"].core.status.term == term)
}

@Test func silentLeader_partitionKeepsTheElectionTimeout() throws {
    let (cluster, term) = clusterLedByA()
    cluster.isolate("a")  // a partition: nothing closes, nothing is said
    cluster.tick(9, only: ["b", "c"])  // below the 10-tick election timeout
    #expect(cluster["b"].core.status.leader == "a" && cluster["c"].core.status.leader == "a")
    #expect(!cluster["b"].core.awaitsLeaderLinkElection && !cluster["c"].core.awaitsLeaderLinkElection)
    #expect(cluster["b"].core.status.term == term && cluster["c"].core.status.term == term)
    let next = try #require(cluster.electLeader(among: ["b", "c"]))
    #expect(cluster[next].core.status.term == term + 1, "after the timeout the usual election runs")
}

@Test func leaderLinkClosed_survivorsAreOrderedByID_soTheyAskInTurn() {
    let cluster = Cluster(voters: ["a", "b", "c", "d", "e"])
    cluster["c"].core.campaign()
    cluster.stabilize()
    let orders = ["a", "b", "d", "e"].map { cluster[$0].core.peerLinkClosed("c").map { "\($0.order)/\($0.count)" } ?? "-" }
    #expect(orders == ["0/4", "1/4", "2/4", "3/4"])
}

@Test func leaderLinkClosed_whatTheLeaderSentBeforeTheCloseDoesNotRenewItsLease() {
    let (cluster, term) = clusterLedByA()
    let heartbeat = Message(from: "a", to: "b", term: term, kind: .heartbeat(commit: cluster["b"].core.status.commit))
    #expect(closeLink(cluster, "b", to: "a"))
    cluster["b"].core.step(heartbeat)  // queued before the close, handed in after it
    #expect(cluster["b"].core.status.leader == nil && cluster["b"].core.awaitsLeaderLinkElection)
    cluster["b"].core.peerLinkOpened("a")  // the link reopened: the leader counts again
    cluster["b"].core.step(heartbeat)
    #expect(cluster["b"].core.status.leader == "a" && !cluster["b"].core.awaitsLeaderLinkElection)
}

@Test func leaderLinkClosed_anUnseenReopeningCostsAtMostOneElectionTimeout() {
    let (cluster, term) = clusterLedByA()
    #expect(closeLink(cluster, "b", to: "a"))  // the link reopens, but b is never told
    cluster.tick(20)
    #expect(cluster.leaders == ["a"] && cluster["a"].core.status.term == term, "c kept its lease: b's pre-votes went nowhere")
    #expect(cluster["b"].core.status.leader == "a", "b follows a again after its election timeout")
}
