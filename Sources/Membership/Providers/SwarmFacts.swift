import Chain

/// One node's service as `GET /services` lists it (only the cluster's, labelled with a node).
public struct SwarmService: Sendable, Equatable {
    public var id: String
    public var node: String
    /// The Swarm node ID its placement pins it to (from its labels).
    public var host: String
    public var replicas: Int
    /// Set when the node was retired (Unix s; `UInt64.max` when the mark cannot be read: never purged).
    public var retiredAt: UInt64?
    /// Swarm is rolling an update out to it (`UpdateStatus.State` updating or rollback_started):
    /// an operator's `docker service update --image`, or this provider's own forced restart.
    public var updating: Bool

    public init(id: String, node: String, host: String, replicas: Int, retiredAt: UInt64? = nil, updating: Bool = false) {
        self.id = id
        self.node = node
        self.host = host
        self.replicas = replicas
        self.retiredAt = retiredAt
        self.updating = updating
    }

    /// The cluster's node services in a list answer; foreign or malformed entries are dropped.
    public static func parseList(_ json: JSON, spec: SwarmNodeSpec) -> [SwarmService] {
        (json.arrayValue ?? []).compactMap { s in
            let labels = s["Spec"]?["Labels"]
            guard spec.node.owns(labels), let id = s["ID"]?.stringValue, SwarmHost.isObjectId(id),
                  let node = labels?[DockerNodeSpec.nodeLabel]?.stringValue, NodeIDGrammar.isValid(node),
                  let host = labels?[SwarmNodeSpec.hostLabel]?.stringValue, SwarmHost.isObjectId(host) else { return nil }
            let replicas = s["Spec"]?["Mode"]?["Replicated"]?["Replicas"]?.intValue.map { Int(clamping: $0) } ?? 0
            var retiredAt: UInt64?
            if let mark = labels?[DockerNodeSpec.retiredLabel] {
                retiredAt = mark.stringValue.flatMap { UInt64($0) } ?? UInt64.max
            }
            let update = s["UpdateStatus"]?["State"]?.stringValue ?? ""
            return SwarmService(id: id, node: node, host: host, replicas: max(0, replicas), retiredAt: retiredAt,
                                updating: update == "updating" || update == "rollback_started")
        }
    }
}

/// One task (a container's run) of a node's service.
public struct SwarmTask: Sendable, Equatable {
    public var serviceID: String
    /// The engine's state word: new, pending, assigned, accepted, preparing, starting, running,
    /// complete, shutdown, failed, rejected, remove, orphaned.
    public var state: String
    public var desiredState: String
    /// Orders a service's tasks: the newest has the highest.
    public var version: UInt64
    /// The container's exit status once it ended; nil before or when the engine did not say.
    public var exitCode: Int?

    public init(serviceID: String, state: String, desiredState: String, version: UInt64, exitCode: Int? = nil) {
        self.serviceID = serviceID
        self.state = state
        self.desiredState = desiredState
        self.version = version
        self.exitCode = exitCode
    }

    public var running: Bool { state == "running" }
    /// On its way to running (new .. starting): a restart now would kill it before it starts.
    public var starting: Bool { ["new", "pending", "assigned", "accepted", "preparing", "ready", "starting"].contains(state) && desiredState == "running" }
    /// Ended: the container will not run again (a restart is a new task).
    public var ended: Bool { ["complete", "shutdown", "failed", "rejected", "remove", "orphaned"].contains(state) }

    /// The newest task of each service in a task list answer (malformed entries dropped).
    public static func newestByService(_ json: JSON) -> [String: SwarmTask] {
        var out: [String: SwarmTask] = [:]
        for t in json.arrayValue ?? [] {
            guard let service = t["ServiceID"]?.stringValue, SwarmHost.isObjectId(service),
                  let state = t["Status"]?["State"]?.stringValue, state.utf8.count <= 32,
                  let index = t["Version"]?["Index"]?.intValue, index >= 0 else { continue }
            let code = t["Status"]?["ContainerStatus"]?["ExitCode"]?.intValue.map { Int(clamping: $0) }
            let task = SwarmTask(serviceID: service, state: state, desiredState: t["DesiredState"]?.stringValue ?? "",
                                 version: UInt64(index), exitCode: code)
            if let seen = out[service], seen.version >= task.version { continue }
            out[service] = task
        }
        return out
    }
}

/// One host (Swarm node) as `GET /nodes` lists it.
public struct SwarmHost: Sendable, Equatable {
    public var id: String
    public var hostname: String
    /// Reachable (`Status.State` "ready") and taking tasks (`Spec.Availability` "active").
    public var usable: Bool
    /// Drained or paused by an operator: its nodes are to move elsewhere (as replacements).
    public var drained: Bool
    /// Marked down by the managers (cut off or stopped): its nodes' data is out of reach.
    public var down: Bool
    /// The value of the spread label (zone), "" when it has none.
    public var zone: String
    /// A swarm manager (`Spec.Role`), not a worker.
    public var isManager: Bool

    public init(id: String, hostname: String, usable: Bool, drained: Bool = false, down: Bool = false, zone: String = "",
                isManager: Bool = false) {
        self.id = id
        self.hostname = hostname
        self.usable = usable
        self.drained = drained
        self.down = down
        self.zone = zone
        self.isManager = isManager
    }

    public static func parseList(_ json: JSON, spreadLabel: String) -> [SwarmHost] {
        (json.arrayValue ?? []).compactMap { h in
            guard let id = h["ID"]?.stringValue, isObjectId(id) else { return nil }
            let state = h["Status"]?["State"]?.stringValue ?? "unknown"
            let availability = h["Spec"]?["Availability"]?.stringValue ?? "unknown"
            let usable = state == "ready" && availability == "active"
            let zone = h["Spec"]?["Labels"]?[spreadLabel]?.stringValue ?? ""
            let hostname = h["Description"]?["Hostname"]?.stringValue ?? id
            return SwarmHost(id: id, hostname: String(hostname.prefix(253)), usable: usable,
                             drained: availability == "drain" || availability == "pause", down: state == "down",
                             zone: String(zone.prefix(253)), isManager: h["Spec"]?["Role"]?.stringValue == "manager")
        }
    }

    /// A Swarm object ID (service, task, node, secret): 1-64 lowercase letters and digits.
    /// Anything else in a reply is not taken for one: it would end up in request paths.
    public static func isObjectId(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
        }
    }
}

/// Where a fresh node goes: a usable host in the zone holding the fewest of the cluster's nodes,
/// then the host holding the fewest (so one node per host while hosts allow), ties broken by
/// hostname so the choice is reproducible. With `workersOnly`, managers are never chosen (Docker's
/// advice for production swarms: a manager that loses its host, or comes back, costs the swarm
/// a leader election, during which no service can be created, so a ledger node on it is replaced
/// late). Pure; nil when no host is usable.
public enum SwarmPlacement {
    public static func choose(hosts: [SwarmHost], nodesOnHost: [String: Int], workersOnly: Bool = false) -> SwarmHost? {
        let usable = hosts.filter { $0.usable && !(workersOnly && $0.isManager) }
        var perZone: [String: Int] = [:]
        for h in hosts { perZone[h.zone, default: 0] += nodesOnHost[h.id] ?? 0 }
        return usable.min { a, b in
            let key = { (h: SwarmHost) in (perZone[h.zone] ?? 0, nodesOnHost[h.id] ?? 0) }
            let ka = key(a), kb = key(b)
            if ka != kb { return ka < kb }
            return (a.hostname, a.id) < (b.hostname, b.id)
        }
    }
}
