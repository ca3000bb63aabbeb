import Chain
import Foundation
import Testing

extension RegistryTests {
    /// Fencing: the registry started node `id` with an incarnation; an old copy of it (same node
    /// key, another data directory and ports, the incarnation before) is started by hand against
    /// the same registry, as Swarm does on a cut-off host. The registry answers it `superseded`,
    /// the copy stops by itself with the superseded status, and the cluster keeps one head.
    @Test func anOldCopyOfARunningNode_isRefusedAsSuperseded_andStopsByItself() throws {
        let up = try Up()
        try up.start()
        defer { up.stop() }
        _ = try up.healthyLeader()
        let id = try #require(up.voters().last)
        let record = try #require(up.status()?["nodes"]?.arrayValue?.first { $0["id"]?.stringValue == id })
        let current = try #require(record["incarnation"]?.intValue)
        #expect(current > 0, "a node the registry started carries an incarnation")

        let copy = try NodeProcess()
        try FileManager.default.copyItem(atPath: up.base + "/nodes/\(id)/node.key", toPath: copy.dataDir + "/node.key")
        try copy.start(extraArgs: ["--node-id", id, "--registry", up.url, "--join"],
                       environment: ["NODE_INCARNATION": String(current - 1)], waitUntilReady: false)
        defer { copy.stop() }
        let process = try #require(copy.process)
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        #expect(!process.isRunning, "the old copy did not stop by itself:\n\(copy.tailOfLog())")
        guard !process.isRunning else { return }
        #expect(process.terminationStatus == 78, "exit status \(process.terminationStatus):\n\(copy.tailOfLog())")
        #expect(copy.tailOfLog().contains("superseded"))
        #expect(up.eventKinds().contains("superseded_copy_refused"))
        try up.eventually("the node keeps its incarnation and the cluster one head") {
            let now = up.status()?["nodes"]?.arrayValue?.first { $0["id"]?.stringValue == id }
            return now?["incarnation"]?.intValue == current && up.healthy(voters: 3)
        }
    }
}

extension RegistryTests {
    /// Fencing of a replaced node: its data was lost, so the registry replaced it (new ID) and
    /// retired its ID and key. A copy of it that comes back (as an old copy does on a host that
    /// was cut off while it was replaced) is answered `retired` by the registry and stops by
    /// itself with the fencing status, and the cluster keeps three voters and one head.
    @Test func aCopyOfARetiredNode_isRefusedAsRetired_andStopsByItself() throws {
        let up = try Up(extraConfig: "dead_voter_removal_delay_s = 600")
        try up.start()
        defer { up.stop() }
        let (leader, _) = try up.healthyLeader()
        let victim = try #require(up.voters().first { $0 != leader })
        try up.loseDataAndKill(victim)
        try up.eventually("the registry replaced and retired \(victim)", timeout: 60) {
            up.healthy(voters: 3) && !up.voters().contains(victim)
                && up.status()?["nodes"]?.arrayValue?.contains { $0["id"]?.stringValue == victim } == false
        }

        let copy = try NodeProcess()
        try FileManager.default.copyItem(atPath: up.base + "/lost-\(victim)/node.key", toPath: copy.dataDir + "/node.key")
        try copy.start(extraArgs: ["--node-id", victim, "--registry", up.url, "--join"], waitUntilReady: false)
        defer { copy.stop() }
        let process = try #require(copy.process)
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        #expect(!process.isRunning, "the retired node's copy did not stop by itself:\n\(copy.tailOfLog())")
        guard !process.isRunning else { return }
        #expect(process.terminationStatus == 78, "exit status \(process.terminationStatus):\n\(copy.tailOfLog())")
        #expect(copy.tailOfLog().contains("retired: the registry says this node was removed from the cluster for good; stopping"))
        try up.eventually("three voters and one head, without the copy") { up.healthy(voters: 3) && !up.voters().contains(victim) }
    }
}
