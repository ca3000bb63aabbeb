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
