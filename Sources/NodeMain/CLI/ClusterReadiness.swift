/// What `autochain up` and `autochain cluster` say about their cluster, decided from what they
/// observe: "running" only when the cluster can take a kill of any one voter (every node a member,
/// voters up to the target, the rest learners, a leader, a committed block), the missing piece
/// while it waits, "degraded" when a running cluster loses one of these, and "repaired: running"
/// when it has them back. Pure: the commands do the observing and the printing.
struct ClusterReadiness {
    /// One look at the cluster.
    struct Observation: Equatable {
        /// Nodes the command keeps (or started).
        var expectedNodes: Int
        /// Voters the cluster aims for (`[consensus] voters`, `[autoscale] target_voters`).
        var targetVoters: Int
        var voters: [String]
        var learners: [String]
        /// Members that answer (or that the registry sees alive).
        var aliveMembers: Set<String>
        var leader: String?
        /// Height of the chain the leader committed (0: genesis only).
        var committedHeight: UInt64
    }

    private(set) var running = false
    private(set) var wasEverRunning = false
    /// What the last waiting line named, so it is not repeated while nothing changes.
    private var lastMissing: String?

    /// What the cluster still lacks before it runs, or nil when it runs.
    static func missing(_ o: Observation) -> String? {
        let wantVoters = min(o.targetVoters, o.expectedNodes)
        guard let leader = o.leader, o.voters.contains(leader), o.aliveMembers.contains(leader) else { return "a leader (voters so far: \(list(o.voters)))" }
        guard o.committedHeight >= 1 else { return "the leader \(leader) to commit a block" }
        let deadVoters = o.voters.filter { !o.aliveMembers.contains($0) }
        guard deadVoters.isEmpty else { return "voter(s) \(list(deadVoters)) to answer again" }
        guard o.voters.count >= wantVoters else {
            return "\(wantVoters) voters: \(o.voters.count) so far (\(list(o.voters))), learners \(list(o.learners))"
        }
        let members = o.voters.count + o.learners.count
        guard members >= o.expectedNodes else { return "\(o.expectedNodes) nodes in the cluster: \(members) so far" }
        return nil
    }

    /// The line to print for this observation, or nil when there is nothing new to say.
    mutating func observe(_ o: Observation) -> String? {
        if let what = Self.missing(o) {
            defer { running = false; lastMissing = what }
            if running { return "degraded: waiting for \(what)" }
            return what == lastMissing ? nil : "waiting for \(what)"
        }
        guard !running else { return nil }
        defer { running = true; wasEverRunning = true; lastMissing = nil }
        let state = "running: \(o.voters.count) voter(s) \(Self.list(o.voters)), learners \(Self.list(o.learners)), "
            + "leader \(o.leader ?? "-"), height \(o.committedHeight)"
        return wasEverRunning ? "repaired: " + state : state
    }

    static func list(_ ids: [String]) -> String { ids.isEmpty ? "none" : ids.sorted().joined(separator: ",") }
}
