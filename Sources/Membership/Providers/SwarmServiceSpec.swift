import Chain

/// The Engine API calls the Swarm provider makes, as plain values (checked without a swarm).
/// A node is one Swarm service `<cluster>-<id>`: one replica, its own named volume
/// `<cluster>-<id>-data`, pinned by a placement constraint to the host that holds that volume
/// (local volumes stay on the host where they were made), on the cluster's overlay network
/// where the node's ID is its DNS name. The container settings are the Docker provider's
/// (`DockerNodeSpec`: image, environment, labels, limits), so a node behaves the same whether a
/// single engine or a swarm runs it.
public struct SwarmNodeSpec: Sendable, Equatable {
    /// The host (Swarm node ID) a node's service is pinned to, on the service: read back on a
    /// restart and when deciding whether the node's data still exists.
    public static let hostLabel = "autochain.host"

    public var node: DockerNodeSpec
    /// Name of the Swarm secret holding the cluster credential ("" = pass it in the environment,
    /// as the Docker provider does). Mounted at /run/secrets/<name>, readable by the node only.
    public var secretName: String
    /// The node label whose values spread the nodes (zone, rack): a new node goes to the value
    /// with the fewest of the cluster's nodes, then to the host with the fewest.
    public var spreadLabel: String
    /// Which hosts take ledger nodes: any, or workers only (dedicated managers).
    public var nodeHosts: SwarmNodeHosts

    public init(node: DockerNodeSpec = DockerNodeSpec(), secretName: String = "", spreadLabel: String = "zone",
                nodeHosts: SwarmNodeHosts = .any) {
        self.node = node
        self.secretName = secretName
        self.spreadLabel = spreadLabel
        self.nodeHosts = nodeHosts
    }

    public func serviceName(_ id: String) -> String { node.containerName(id) }

    /// The node's labels, with the host it is pinned to.
    public func labels(_ id: String, host: String) -> JSON {
        .object(JSONObject([(DockerNodeSpec.clusterLabel, .string(node.cluster)), (DockerNodeSpec.nodeLabel, .string(id)),
                            (Self.hostLabel, .string(host))]))
    }

    /// The node's environment: the Docker provider's, except that the credential comes from the
    /// secret's file when there is a secret. `incarnation` is the registry's fencing number for
    /// this start (0: none).
    public func environment(_ id: String, bootstrap: Bool, fresh: Bool, peers: [String], incarnation: UInt64 = 0) -> [String] {
        var env = node.environment(id, bootstrap: bootstrap, fresh: fresh, peers: peers, incarnation: incarnation)
        if !secretName.isEmpty {
            env.removeAll { $0.hasPrefix("AUTOCHAIN_CLUSTER_TOKEN=") }
            env.append("AUTOCHAIN_CLUSTER_TOKEN_FILE=/run/secrets/\(secretName)")
        }
        return env
    }

    // MARK: requests (paths without the /v1.xx prefix, which the client adds)

    /// What the engine is: `Swarm.LocalNodeState` must be "active" and `Swarm.ControlAvailable`
    /// true (services are managed on a manager only).
    public static let info = DockerRequest("GET", "/info")
    /// Every host of the swarm, with its state, availability and labels.
    public static let listHosts = DockerRequest("GET", "/nodes")

    public func listServices() -> DockerRequest {
        DockerRequest("GET", "/services?filters=" + DockerNodeSpec.query(node.labelFilter()))
    }

    /// The tasks of the given services (IDs from `listServices`), every state.
    public static func listTasks(services: [String]) -> DockerRequest {
        let filter = JSON.object(JSONObject([("service", .array(services.map { .string($0) }))]))
        return DockerRequest("GET", "/tasks?filters=" + DockerNodeSpec.query(filter))
    }

    public static func findSecret(_ name: String) -> DockerRequest {
        DockerRequest("GET", "/secrets?filters=" + DockerNodeSpec.query(.object(JSONObject([("name", .array([.string(name)]))]))))
    }

    public static func inspectNetwork(_ name: String) -> DockerRequest { DockerRequest("GET", "/networks/\(DockerNodeSpec.query(name))") }
    public static func inspectService(_ id: String) -> DockerRequest { DockerRequest("GET", "/services/\(DockerNodeSpec.query(id))") }
    public static func removeService(_ id: String) -> DockerRequest { DockerRequest("DELETE", "/services/\(DockerNodeSpec.query(id))") }

    /// Replaces a service's spec; `version` is the one read with it (the engine refuses a stale one).
    public static func updateService(_ id: String, version: UInt64, spec: JSON) -> DockerRequest {
        DockerRequest("POST", "/services/\(DockerNodeSpec.query(id))/update?version=\(version)", spec)
    }

    public func createService(_ id: String, bootstrap: Bool, fresh: Bool, peers: [String], host: String,
                              secretID: String?, apiVersion: String = DockerEngine.maxAPIVersion, incarnation: UInt64 = 0) -> DockerRequest {
        DockerRequest("POST", "/services/create", serviceSpec(id, bootstrap: bootstrap, fresh: fresh, peers: peers, host: host,
                                                              secretID: secretID, apiVersion: apiVersion, incarnation: incarnation))
    }

    /// The whole service: one replica that Swarm never restarts by itself (the registry decides
    /// restart or replace), replaced stop-first (never two containers on one volume), pinned to
    /// `host`, reachable by its node ID (DNS round robin: the task's own address, no virtual IP).
    public func serviceSpec(_ id: String, bootstrap: Bool, fresh: Bool, peers: [String], host: String,
                            secretID: String?, apiVersion: String, incarnation: UInt64 = 0) -> JSON {
        let task = JSON.object(JSONObject([
            ("ContainerSpec", containerSpec(id, bootstrap: bootstrap, fresh: fresh, peers: peers, host: host,
                                            secretID: secretID, apiVersion: apiVersion, incarnation: incarnation)),
            ("Resources", resources(apiVersion)),
            ("RestartPolicy", .object(JSONObject([("Condition", "none")]))),
            ("Placement", .object(JSONObject([("Constraints", .array([.string("node.id==\(host)")]))]))),
            ("Networks", .array([.object(JSONObject([("Target", .string(node.network)), ("Aliases", .array([.string(id)]))]))])),
            ("ForceUpdate", .int(0)),
        ]))
        return .object(JSONObject([
            ("Name", .string(serviceName(id))),
            ("Labels", labels(id, host: host)),
            ("TaskTemplate", task),
            ("Mode", .object(JSONObject([("Replicated", .object(JSONObject([("Replicas", .int(1))])))]))),
            ("UpdateConfig", .object(JSONObject([("Parallelism", .int(1)), ("Order", "stop-first"), ("FailureAction", "pause")]))),
            ("EndpointSpec", .object(JSONObject([("Mode", "dnsrr")]))),
        ]))
    }

    /// The container: as the Docker provider's (least privilege: read-only root, its volume and
    /// a small /tmp writable, no capabilities — the engine takes those from API 1.41 on).
    func containerSpec(_ id: String, bootstrap: Bool, fresh: Bool, peers: [String], host: String,
                       secretID: String?, apiVersion: String, incarnation: UInt64) -> JSON {
        let volume = JSON.object(JSONObject([
            ("Type", "volume"), ("Source", .string(node.volumeName(id))), ("Target", "/data"),
            ("VolumeOptions", .object(JSONObject([("Labels", node.labels(id))]))),
        ]))
        let tmp = JSON.object(JSONObject([
            ("Type", "tmpfs"), ("Target", "/tmp"),
            ("TmpfsOptions", .object(JSONObject([("SizeBytes", .int(DockerNodeLimits.tmpMiB * 1_048_576)), ("Mode", .int(0o1777))]))),
        ]))
        var c = JSONObject([
            ("Image", .string(node.image)),
            ("Args", .array(["node"])),
            ("Hostname", .string(id)),
            ("Env", .array(environment(id, bootstrap: bootstrap, fresh: fresh, peers: peers, incarnation: incarnation).map { .string($0) })),
            ("Labels", labels(id, host: host)),
            ("Mounts", .array([volume, tmp])),
            ("ReadOnly", .bool(true)),
            ("StopSignal", "SIGTERM"),
            ("StopGracePeriod", .int(Int64(node.stopTimeoutS) * 1_000_000_000)),
        ])
        if DockerEngine.compare(apiVersion, "1.41") >= 0 { c["CapabilityDrop"] = .array(["ALL"]) }
        if let secretID, !secretName.isEmpty {
            let file = JSON.object(JSONObject([("Name", .string(secretName)), ("UID", "10001"), ("GID", "10001"), ("Mode", .int(0o400))]))
            c["Secrets"] = .array([.object(JSONObject([("File", file), ("SecretID", .string(secretID)), ("SecretName", .string(secretName))]))])
        }
        return .object(c)
    }

    func resources(_ apiVersion: String) -> JSON {
        var limits = JSONObject([("MemoryBytes", .int(Int64(node.limits.memoryBytes)))])
        if DockerEngine.compare(apiVersion, "1.41") >= 0 { limits["Pids"] = .int(Int64(node.limits.pids)) }
        return .object(JSONObject([("Limits", .object(limits))]))
    }

    /// `spec` with `Replicas` set and, for a restart, `ForceUpdate` raised (a new task on the same
    /// host and volume even when nothing else changed) and the node's environment carrying
    /// `incarnation` (the registry's fencing number for this start; nil or 0 leaves it as it was).
    /// Nil when the spec is not a replicated service's (not ours to change).
    public static func rescaled(_ spec: JSON, replicas: Int, forceRestart: Bool, incarnation: UInt64? = nil) -> JSON? {
        guard var s = spec.objectValue, var mode = s["Mode"]?.objectValue, var replicated = mode["Replicated"]?.objectValue,
              var task = s["TaskTemplate"]?.objectValue else { return nil }
        replicated["Replicas"] = .int(Int64(replicas))
        mode["Replicated"] = .object(replicated)
        s["Mode"] = .object(mode)
        if forceRestart {
            let force = task["ForceUpdate"]?.intValue ?? 0
            task["ForceUpdate"] = .int(force < Int64.max ? force + 1 : 0)
            if let incarnation, incarnation > 0, var container = task["ContainerSpec"]?.objectValue {
                let variable = Fencing.incarnationEnvironmentVariable
                var env = (container["Env"]?.arrayValue ?? []).filter { !($0.stringValue ?? "").hasPrefix(variable + "=") }
                env.append(.string("\(variable)=\(incarnation)"))
                container["Env"] = .array(env)
                task["ContainerSpec"] = .object(container)
            }
            s["TaskTemplate"] = .object(task)
        }
        return .object(s)
    }

    /// `spec` with its labels marked retired at `unixSeconds` (the service is kept, scaled to
    /// zero, so the volume it names stays on its host until the purge).
    public static func markedRetired(_ spec: JSON, unixSeconds: UInt64) -> JSON? {
        guard var s = rescaled(spec, replicas: 0, forceRestart: false)?.objectValue, var labels = s["Labels"]?.objectValue else { return nil }
        labels[DockerNodeSpec.retiredLabel] = .string(String(unixSeconds))
        s["Labels"] = .object(labels)
        return .object(s)
    }
}

/// Which swarm hosts the provider places ledger nodes on (`SWARM_NODE_HOSTS`).
public enum SwarmNodeHosts: String, Sendable, CaseIterable {
    /// Managers and workers alike (a one-host swarm, a small lab).
    case any
    /// Workers only: the managers keep the swarm's own state and the registry.
    case workers
}
