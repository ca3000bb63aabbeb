import Testing
@testable import NodeMain

/// `up` and `cluster` say "running" only when the cluster is, and say so again after a repair.
@Suite("ClusterReadiness") struct ClusterReadinessTests {
    static func look(voters: [String], learners: [String] = [], alive: Set<String>? = nil, leader: String? = "node1",
                     height: UInt64 = 3, nodes: Int = 3) -> ClusterReadiness.Observation {
        .init(expectedNodes: nodes, targetVoters: 3, voters: voters, learners: learners,
              aliveMembers: alive ?? Set(voters + learners), leader: leader, committedHeight: height)
    }

    @Test func notRunningWhileTwoNodesAreStillLearners() {
        var r = ClusterReadiness()
        let line = r.observe(Self.look(voters: ["node1"], learners: ["node2", "node3"]))
        #expect(line?.hasPrefix("waiting for 3 voters") == true)
        #expect(!r.running)
    }

    @Test func notRunningWithoutALeaderOrACommittedBlock() {
        var r = ClusterReadiness()
        #expect(r.observe(Self.look(voters: ["node1", "node2", "node3"], leader: nil))?.hasPrefix("waiting for a leader") == true)
        #expect(r.observe(Self.look(voters: ["node1", "node2", "node3"], height: 0))?.hasPrefix("waiting for the leader") == true)
        #expect(!r.running)
    }

    @Test func runningOnceEveryNodeIsAVoterAndTheLeaderCommitted() {
        var r = ClusterReadiness()
        let line = r.observe(Self.look(voters: ["node1", "node2", "node3"]))
        #expect(line == "running: 3 voter(s) node1,node2,node3, learners none, leader node1, height 3")
        #expect(r.observe(Self.look(voters: ["node1", "node2", "node3"])) == nil)
    }

    @Test func nodesBeyondTheTargetVotersRunAsLearners() {
        var r = ClusterReadiness()
        let five = Self.look(voters: ["node1", "node2", "node3"], learners: ["node4", "node5"], nodes: 5)
        #expect(r.observe(five)?.hasPrefix("running: 3 voter(s)") == true)
        var s = ClusterReadiness()
        #expect(s.observe(Self.look(voters: ["node1", "node2", "node3"], learners: ["node4"], nodes: 5))?.hasPrefix("waiting for 5 nodes") == true)
    }

    @Test func aWaitingLineIsNotRepeatedWhileNothingChanges() {
        var r = ClusterReadiness()
        let one = Self.look(voters: ["node1"], learners: ["node2"])
        #expect(r.observe(one) != nil)
        #expect(r.observe(one) == nil)
        #expect(r.observe(Self.look(voters: ["node1", "node2"], learners: ["node3"])) != nil)
    }

    @Test func aDeadVoterDegradesAndItsRepairSaysRepairedRunning() {
        var r = ClusterReadiness()
        let all = ["node1", "node2", "node3"]
        _ = r.observe(Self.look(voters: all))
        #expect(r.observe(Self.look(voters: all, alive: ["node1", "node3"])) == "degraded: waiting for voter(s) node2 to answer again")
        #expect(r.observe(Self.look(voters: all, alive: ["node1", "node3"])) == nil)
        #expect(r.observe(Self.look(voters: all))?.hasPrefix("repaired: running: 3 voter(s)") == true)
    }
}
