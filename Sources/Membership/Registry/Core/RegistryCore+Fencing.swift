// Fencing (DESIGN-NOTES, Fencing): a node started twice — Swarm rescheduling a task while the old
// copy still runs on a cut-off host — must not take part twice. Every start the registry performs
// carries an incarnation above any it has seen or issued for that ID; once a copy with a higher
// one has reported, reports of a lower one are refused (`superseded`) and change nothing; a node
// told so stops. Retired IDs and the node keys they had are refused for good (tombstones).

/// Why the core refuses a node's report.
public enum NodeReportRefusal: Error, Sendable, Equatable {
    /// A copy of the node with a higher incarnation has reported: this copy is an old one.
    case superseded(node: String, reported: UInt64, current: UInt64)
    /// The node key is a retired node's (under this or another ID): it never comes back.
    case retiredKey(node: String)

    /// The API error's stable code.
    public var code: String {
        switch self {
        case .superseded: "superseded"
        case .retiredKey: "retired_key"
        }
    }

    public var message: String {
        switch self {
        case .superseded(let node, let reported, let current):
            "\(node) incarnation \(reported) is superseded by incarnation \(current): this copy must stop"
        case .retiredKey(let node):
            "the key \(node) signs with belongs to a retired node and is never admitted again"
        }
    }
}

/// What fencing shares between the registry and the node.
public enum Fencing {
    /// The exit status of a node that learned it was superseded (EX_CONFIG: this copy's
    /// incarnation is stale). Non-zero, so no restart policy takes it for success; the registry
    /// does not count it as a failure of the node (the current copy runs elsewhere).
    public static let supersededExitStatus: Int32 = 78
    /// The environment variable a provider hands a node's incarnation in (`node.incarnation`).
    public static let incarnationEnvironmentVariable = "NODE_INCARNATION"
}

extension RegistryCore {
    /// A node's report, admitted only when it is not superseded and its key is not tombstoned;
    /// a refused report changes nothing. The shell checked signature, key pin and `isRetired` first.
    public mutating func admit(_ report: NodeReport, at now: Double) throws(NodeReportRefusal) -> [RegistryEffect] {
        if isKeyRetired(report.nodeKey) { throw .retiredKey(node: report.id) }
        let current = incarnations[report.id] ?? 0
        guard report.incarnation >= current else {
            throw .superseded(node: report.id, reported: report.incarnation, current: current)
        }
        return heartbeat(report, at: now)
    }

    /// The incarnation the next start of `node` carries: above every one seen from it or issued
    /// for it, and at least `incarnationFloor` (the registry's start time in ms, so a restarted
    /// registry that has not heard from the node yet still issues one above its old copies').
    /// Recorded as issued, so two starts never share one.
    public mutating func issueIncarnation(for node: String) -> UInt64 {
        let highest = max(incarnations[node] ?? 0, issuedIncarnations[node] ?? 0)
        let next = max(highest == .max ? highest : highest + 1, incarnationFloor)
        issuedIncarnations[node] = next
        return next
    }

    /// The node key (hex) was a retired node's: retired here, or taken out by a verified removal.
    public func isKeyRetired(_ nodeKeyHex: String) -> Bool {
        retiredKeys.contains(nodeKeyHex) || verifiedRetiredKeys.contains(nodeKeyHex)
    }

    /// Keeps a report's incarnation (the highest wins, so a registry rebuilt from heartbeats knows
    /// the current copy) and says when it supersedes an earlier one.
    mutating func observeIncarnation(_ report: NodeReport) -> RegistryEffect? {
        let before = incarnations[report.id]
        guard report.incarnation > (before ?? 0) else { return nil }
        incarnations[report.id] = report.incarnation
        guard let before else { return nil }
        return .record(kind: .nodeSuperseded, node: report.id, message: "\(report.id) now runs incarnation \(report.incarnation) "
            + "(was \(before)): reports of the older copy are refused and it stops when told")
    }
}
