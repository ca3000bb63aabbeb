import Chain
import Foundation
import Testing

extension ClusterTests {
    /// Fencing on the peer link, Swarm's case: member n2 runs with incarnation 5; an old copy of
    /// it (its key, another data directory and port, incarnation 4, no registry) comes up and
    /// dials n1. n1 refuses it and shows it n2's signed proof: the old copy stops by itself with
    /// the superseded status, and the cluster keeps both members.
    @Test func anOldCopyOfAMember_isRefusedByItsPeer_andStopsWithTheSupersededStatus() throws {
        let c = Cluster()
        defer { c.stopAll() }
        try c.start("n1", join: false)
        try c.start("n2", join: true, environment: ["NODE_INCARNATION": "5"])
        try c.eventually("n2 is a member") { c.status("n1")?["peers"]?.arrayValue?.count == 1 && Self.isMember("n2", c.status("n1")) }

        let old = try NodeProcess(dataDir: c.base + "/n2-old-copy")
        try FileManager.default.copyItem(atPath: c.base + "/n2/node.key", toPath: old.dataDir + "/node.key")
        try old.start(extraArgs: ["--node-id", "n2", "--p2p-addr", "127.0.0.1:\(freePort())", "--peers", c.p2p["n1"]!, "--join"],
                      environment: ["NODE_INCARNATION": "4"], waitUntilReady: false)
        defer { old.stop() }
        let process = try #require(old.process)
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        #expect(!process.isRunning, "the old copy did not stop by itself:\n\(old.tailOfLog())")
        guard !process.isRunning else { return }
        #expect(process.terminationStatus == 78, "exit status \(process.terminationStatus):\n\(old.tailOfLog())")
        #expect(old.tailOfLog().contains("superseded: a newer copy of this node runs (peer link); stopping"))
        let metrics = try #require(c.nodes["n1"]).request("GET", "/metrics").bodyText
        #expect(metrics.contains("autochain_peer_refused_total{reason=\"superseded_incarnation\"}"))
        try c.eventually("both members still connected") {
            c.status("n1")?["peers"]?.arrayValue?.count == 1 && c.status("n2")?["role"]?.stringValue != nil
        }
        #expect(c.nodes["n2"]?.process?.isRunning == true, "the current copy runs on")
    }

    /// `GET /peers` shows the incarnation each connected peer signed: n2 was started with 5, n1
    /// by hand (0).
    @Test func getPeers_showsEachConnectedPeersIncarnation() throws {
        let c = Cluster()
        defer { c.stopAll() }
        try c.start("n1", join: false)
        try c.start("n2", join: true, environment: ["NODE_INCARNATION": "5"])
        func entry(of peer: String, on node: String) -> JSON? {
            let peers = (try? c.nodes[node]!.json("GET", "/peers").body)?["peers"]?.arrayValue ?? []
            return peers.first { $0["nodeId"]?.stringValue == peer }
        }
        try c.eventually("n1 and n2 connected") { entry(of: "n2", on: "n1") != nil && entry(of: "n1", on: "n2") != nil }
        #expect(entry(of: "n2", on: "n1")?["incarnation"]?.intValue == 5)
        #expect(entry(of: "n1", on: "n2")?["incarnation"]?.intValue == 0)
    }

    static func isMember(_ id: String, _ status: JSON?) -> Bool {
        let ids = (status?["voters"]?.arrayValue ?? []) + (status?["learners"]?.arrayValue ?? [])
        return ids.contains { $0.stringValue == id }
    }
}
