import Chain
import P2P

/// The Docker Engine API calls the Docker provider makes, built as plain values so they can be
/// checked without a daemon, and a small client that sends them over the engine's Unix socket
/// with the API version negotiated from `GET /version`.
public struct DockerRequest: Sendable, Equatable {
    public var method: String
    public var path: String
    public var body: JSON?

    public init(_ method: String, _ path: String, _ body: JSON? = nil) {
        self.method = method
        self.path = path
        self.body = body
    }
}

/// The resources a node container may use (`[docker]` in config.toml, or DOCKER_NODE_MEMORY_MB
/// and DOCKER_NODE_PIDS_LIMIT; docker-compose.yml gives its own nodes the same defaults).
public struct DockerNodeLimits: Sendable, Equatable {
    /// Memory cap in MiB (default 1024: an idle node uses ~25 MiB, a loaded one a few hundred).
    public var memoryMiB: Int
    /// Processes and threads (default 512; a node runs a few dozen threads).
    public var pids: Int
    /// Size of the tmpfs on /tmp, the only writable place besides /data (SQLite temp files).
    public static let tmpMiB = 16
    public static let memoryMiBRange = 64...1_048_576
    public static let pidsRange = 32...1_000_000

    public init(memoryMiB: Int = 1_024, pids: Int = 512) {
        self.memoryMiB = memoryMiB
        self.pids = pids
    }

    public var memoryBytes: Int { memoryMiB * 1_048_576 }
}

/// What the provider creates and how it recognises its own: every container and volume carries
/// `autochain.cluster=<cluster>` and `autochain.node=<id>`; nothing without both is ever touched.
public struct DockerNodeSpec: Sendable, Equatable {
    public static let clusterLabel = "autochain.cluster"
    public static let nodeLabel = "autochain.node"
    /// On the placeholder container that keeps a retired node's volume aside: the Unix time (s)
    /// it was set aside. The volume is deleted with it once kept `retired_data_keep_s`.
    public static let retiredLabel = "autochain.retired"

    public var cluster: String
    public var image: String
    public var network: String
    public var registryURL: String
    public var clusterToken: String
    public var logLevel: String
    /// Further `KEY=value` settings every node gets (CHAIN_ID, ...).
    public var extraEnv: [String]
    /// Seconds a node gets between SIGTERM and SIGKILL on `docker stop` (`NodeStopGrace`).
    public var stopTimeoutS: Int
    /// What a node container may use: memory and processes (threads count) are capped.
    public var limits: DockerNodeLimits

    public init(cluster: String = "autochain", image: String = "autochain:latest", network: String = "autochain",
                registryURL: String = "http://registry:9090", clusterToken: String = "", logLevel: String = "info",
                extraEnv: [String] = [], stopTimeoutS: Int = NodeStopGrace.defaultS, limits: DockerNodeLimits = DockerNodeLimits()) {
        self.cluster = cluster
        self.image = image
        self.network = network
        self.registryURL = registryURL
        self.clusterToken = clusterToken
        self.logLevel = logLevel
        self.extraEnv = extraEnv
        self.stopTimeoutS = stopTimeoutS
        self.limits = limits
    }

    /// `<cluster>-<id>`: also what docker-compose.yml names its containers.
    public func containerName(_ id: String) -> String { "\(cluster)-\(id)" }
    /// `<cluster>-<id>-data`: the node's data, kept across restarts.
    public func volumeName(_ id: String) -> String { "\(cluster)-\(id)-data" }

    public func labels(_ id: String) -> JSON {
        .object(JSONObject([(Self.clusterLabel, .string(cluster)), (Self.nodeLabel, .string(id))]))
    }

    /// True when the labels are this cluster's, for node `id` (or any node when `id` is nil).
    public func owns(_ labels: JSON?, node id: String? = nil) -> Bool {
        guard labels?[Self.clusterLabel]?.stringValue == cluster, let node = labels?[Self.nodeLabel]?.stringValue, !node.isEmpty else { return false }
        return id == nil || node == id
    }

    /// The node's settings, all as environment variables (the image's defaults fill in the rest).
    /// `incarnation` (fencing) is fixed when the container is created: a restart of the same
    /// container is the same copy and reports the same one.
    public func environment(_ id: String, bootstrap: Bool, fresh: Bool, peers: [String], incarnation: UInt64 = 0) -> [String] {
        var env = ["NODE_ID=\(id)", "DATA_DIR=/data", "API_ADDR=0.0.0.0:8080", "P2P_ADDR=0.0.0.0:6000",
                   "P2P_ADVERTISE=\(id):6000", "API_ADVERTISE=\(id):8080", "REGISTRY_URL=\(registryURL)", "LOG_LEVEL=\(logLevel)"]
        let others = peers.filter { $0 != "\(id):6000" }
        if !others.isEmpty { env.append("PEERS=\(others.joined(separator: ","))") }
        if fresh && !bootstrap { env.append("JOIN=true") }
        if !clusterToken.isEmpty { env.append("AUTOCHAIN_CLUSTER_TOKEN=\(clusterToken)") }
        if incarnation > 0 { env.append("\(Fencing.incarnationEnvironmentVariable)=\(incarnation)") }
        return env + extraEnv
    }

    // MARK: requests (paths without the /v1.xx prefix, which the client adds)

    public static let version = DockerRequest("GET", "/version")

    /// Every container of this cluster, running or not.
    public func listContainers() -> DockerRequest {
        DockerRequest("GET", "/containers/json?all=true&filters=" + Self.query(labelFilter()))
    }

    public func listVolumes() -> DockerRequest {
        DockerRequest("GET", "/volumes?filters=" + Self.query(labelFilter()))
    }

    /// `{"label": ["autochain.cluster=<cluster>"]}`: the engine filters on its side as well.
    public func labelFilter() -> JSON {
        .object(JSONObject([("label", .array([.string("\(Self.clusterLabel)=\(cluster)")]))]))
    }

    public func createVolume(_ id: String) -> DockerRequest {
        DockerRequest("POST", "/volumes/create", .object(JSONObject([("Name", .string(volumeName(id))), ("Labels", labels(id))])))
    }

    public func createContainer(_ id: String, bootstrap: Bool, fresh: Bool, peers: [String], incarnation: UInt64 = 0) -> DockerRequest {
        let env = environment(id, bootstrap: bootstrap, fresh: fresh, peers: peers, incarnation: incarnation).map { JSON.string($0) }
        let mount = JSON.object(JSONObject([("Type", "volume"), ("Source", .string(volumeName(id))), ("Target", "/data")]))
        let host = JSON.object(JSONObject([
            ("Mounts", .array([mount])),
            ("NetworkMode", .string(network)),
            // The registry restarts nodes; a Docker restart policy would race it.
            ("RestartPolicy", .object(JSONObject([("Name", "no")]))),
            // Least privilege (as docker-compose.yml's nodes): no capabilities, nothing gained
            // through setuid, only the data volume (and a small /tmp) writable, bounded memory
            // (no swap beyond it) and processes. The image runs as its non-root user.
            ("CapDrop", .array(["ALL"])),
            ("SecurityOpt", .array(["no-new-privileges:true"])),
            ("ReadonlyRootfs", .bool(true)),
            ("Tmpfs", .object(JSONObject([("/tmp", .string("rw,noexec,nosuid,nodev,size=\(DockerNodeLimits.tmpMiB)m"))]))),
            ("Memory", .int(Int64(limits.memoryBytes))),
            ("MemorySwap", .int(Int64(limits.memoryBytes))),
            ("PidsLimit", .int(Int64(limits.pids))),
        ]))
        let endpoint = JSON.object(JSONObject([("Aliases", .array([.string(id)]))]))
        let body = JSON.object(JSONObject([
            ("Image", .string(image)),
            ("Hostname", .string(id)),
            ("Cmd", .array(["node"])),
            ("Env", .array(env)),
            ("Labels", labels(id)),
            ("StopSignal", "SIGTERM"),
            ("StopTimeout", .int(stopTimeoutS)),
            ("HostConfig", host),
            ("NetworkingConfig", .object(JSONObject([("EndpointsConfig", .object(JSONObject([(network, endpoint)])))]))),
        ]))
        return DockerRequest("POST", "/containers/create?name=" + Self.query(containerName(id)), body)
    }

    /// A container that is never started, labelled with the node, the cluster and the time it
    /// was set aside, mounting the retired node's volume: the mark that the volume is kept aside
    /// (Docker volumes cannot be relabelled or renamed), and a guard against `docker volume prune`.
    public func setAsideContainer(_ id: String, volume: String, unixSeconds: UInt64) -> DockerRequest {
        let mount = JSON.object(JSONObject([("Type", "volume"), ("Source", .string(volume)), ("Target", "/data")]))
        let labels = JSON.object(JSONObject([(Self.clusterLabel, .string(cluster)), (Self.nodeLabel, .string(id)),
                                             (Self.retiredLabel, .string(String(unixSeconds)))]))
        let body = JSON.object(JSONObject([
            ("Image", .string(image)),
            ("Cmd", .array(["true"])),
            ("Labels", labels),
            ("HostConfig", .object(JSONObject([("Mounts", .array([mount])), ("NetworkMode", "none"),
                                               ("RestartPolicy", .object(JSONObject([("Name", "no")])))]))),
        ]))
        let name = "\(containerName(id))-retired-\(unixSeconds)"
        return DockerRequest("POST", "/containers/create?name=" + Self.query(name), body)
    }

    public static func start(_ container: String) -> DockerRequest { DockerRequest("POST", "/containers/\(query(container))/start") }
    public static func inspect(_ container: String) -> DockerRequest { DockerRequest("GET", "/containers/\(query(container))/json") }
    public static func stop(_ container: String, timeoutS: Int) -> DockerRequest {
        DockerRequest("POST", "/containers/\(query(container))/stop?t=\(timeoutS)")
    }
    /// Removes the container, not its volumes (`v=false`); the volume goes separately, by name.
    public static func remove(_ container: String) -> DockerRequest { DockerRequest("DELETE", "/containers/\(query(container))?force=true&v=false") }
    public static func removeVolume(_ name: String) -> DockerRequest { DockerRequest("DELETE", "/volumes/\(query(name))") }

    /// Percent-encodes a query value or path segment (RFC 3986 unreserved characters stay).
    public static func query(_ json: JSON) -> String { query(String(decoding: json.serialized(), as: UTF8.self)) }
    public static func query(_ text: String) -> String {
        var out = ""
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out += "%"
                out.unicodeScalars.append(hex[Int(b >> 4)])
                out.unicodeScalars.append(hex[Int(b & 0xF)])
            }
        }
        return out
    }
}

/// One container of the cluster as `GET /containers/json` lists it.
public struct DockerContainer: Sendable, Equatable {
    public var id: String
    public var node: String
    public var running: Bool
    public var name: String
    /// The engine's state word: created, running, paused, restarting, removing, exited or dead.
    public var state: String
    /// The exit status of an exited container; nil while it runs or when the engine did not say.
    public var exitCode: Int?
    /// Set on the placeholder that keeps a retired node's volume aside: when (Unix s).
    public var setAsideAt: UInt64?

    public init(id: String, node: String, running: Bool, name: String, state: String? = nil, exitCode: Int? = nil,
                setAsideAt: UInt64? = nil) {
        self.id = id
        self.node = node
        self.running = running
        self.name = name
        self.state = state ?? (running ? "running" : "exited")
        self.exitCode = exitCode
        self.setAsideAt = setAsideAt
    }

    /// Exited cleanly (status 0): the node shut down on a SIGTERM, not killed and not crashed.
    public var exitedCleanly: Bool { state == "exited" && exitCode == 0 }

    /// The cluster's containers in a list answer; foreign ones (wrong or missing labels) are dropped.
    public static func parseList(_ json: JSON, spec: DockerNodeSpec) -> [DockerContainer] {
        (json.arrayValue ?? []).compactMap { c in
            guard spec.owns(c["Labels"]), let id = c["Id"]?.stringValue, isContainerId(id),
                  let node = c["Labels"]?[DockerNodeSpec.nodeLabel]?.stringValue, NodeIDGrammar.isValid(node) else { return nil }
            let name = c["Names"]?.arrayValue?.first?.stringValue.map { $0.hasPrefix("/") ? String($0.dropFirst()) : $0 } ?? id
            let state = c["State"]?.stringValue ?? "unknown"
            var setAsideAt: UInt64?
            if let mark = c["Labels"]?[DockerNodeSpec.retiredLabel] {
                // A mark it cannot read is still a mark: never taken for a node to run, never purged.
                setAsideAt = mark.stringValue.flatMap { SetAsideName.unixSeconds("\(node)-\($0)") } ?? UInt64.max
            }
            return DockerContainer(id: id, node: node, running: state == "running", name: name, state: state,
                                   exitCode: state == "exited" ? exitCode(status: c["Status"]?.stringValue) : nil, setAsideAt: setAsideAt)
        }
    }

    /// The status in the list's human-readable `Status` ("Exited (137) 5 seconds ago"), the only
    /// place the list answer carries it; nil when it is not in that form.
    public static func exitCode(status: String?) -> Int? {
        guard let status, status.hasPrefix("Exited ("), let close = status.firstIndex(of: ")") else { return nil }
        let digits = status[status.index(status.startIndex, offsetBy: 8)..<close]
        guard !digits.isEmpty, digits.count <= 4 else { return nil }
        return Int(digits)
    }

    /// An engine container ID: up to 64 lowercase hex digits. Anything else in a reply (`..`,
    /// a path) is not taken for one: it would end up in request paths.
    public static func isContainerId(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    /// Node IDs of the cluster's volumes in a `GET /volumes` answer.
    public static func parseVolumes(_ json: JSON, spec: DockerNodeSpec) -> [String: String] {
        var out: [String: String] = [:]
        for v in json["Volumes"]?.arrayValue ?? [] {
            guard spec.owns(v["Labels"]), let node = v["Labels"]?[DockerNodeSpec.nodeLabel]?.stringValue, NodeIDGrammar.isValid(node),
                  let name = v["Name"]?.stringValue, !name.isEmpty, name.utf8.count <= 255 else { continue }
            out[node] = name
        }
        return out
    }
}

public enum DockerError: Error, Sendable, CustomStringConvertible {
    case unreachable(String)
    case refused(request: String, status: Int, message: String)
    case notOurs(String)
    public var description: String {
        switch self {
        case .unreachable(let why): "Docker engine unreachable: \(why)"
        case .refused(let request, let status, let message): "Docker engine refused \(request): \(status) \(message)"
        case .notOurs(let what): "\(what) is not labelled as this cluster's; not touching it"
        }
    }
}

/// Sends `DockerRequest`s over the engine's socket. A new connection per call (the provider's
/// calls come from several threads, and `HTTPClient` is one-thread-only).
public struct DockerEngine: Sendable {
    /// The newest Engine API version this code is written against; older engines are spoken to
    /// in their own version (everything used here exists since 1.25).
    public static let maxAPIVersion = "1.43"
    public static let minAPIVersion = "1.25"
    /// Default of `requestTimeoutMs` (`[docker] engine_request_timeout_ms`): 30 s, enough for an
    /// engine that creates a container or lists many on a loaded host.
    public static let defaultRequestTimeoutMs = 30_000
    public static let requestTimeoutMsRange = 100...600_000
    /// The first call, `GET /version`, gets 5 s: it needs no work from the engine, so an engine
    /// that cannot answer it that fast is not there (the registry then fails at start, saying so).
    public static let versionTimeoutMs = 5_000
    /// How often the Docker and Swarm providers list the engine's containers or services to see
    /// exits (500 ms: a dead node is noticed within a heartbeat period), clamped to
    /// `pollIntervalMsRange` (100 ms: the engine is not hammered; 10 s: exits are still seen).
    public static let defaultPollIntervalMs = 500
    public static let pollIntervalMsRange = 100...10_000
    /// How often a provider waiting for a node to stop asks the engine again (200 ms: a stop takes
    /// seconds, so a few lists a second see its end promptly).
    public static let stopPollIntervalUs: UInt32 = 200_000
    public let socketPath: String
    public let apiVersion: String
    /// How long one Engine API call may take unless the call says otherwise (a stop waits longer).
    public let requestTimeoutMs: Int

    /// Connects and negotiates: the lower of the engine's `ApiVersion` and `maxAPIVersion`.
    public init(socketPath: String = "/var/run/docker.sock", requestTimeoutMs: Int = DockerEngine.defaultRequestTimeoutMs) throws(DockerError) {
        self.socketPath = socketPath
        self.requestTimeoutMs = requestTimeoutMs
        let v = try Self.send(socketPath: socketPath, prefix: "", DockerNodeSpec.version, timeoutMs: Self.versionTimeoutMs)
        guard v.status == 200, let server = v.json?["ApiVersion"]?.stringValue else {
            throw .refused(request: "GET /version", status: v.status, message: v.text)
        }
        apiVersion = Self.negotiate(server: server)
        guard Self.compare(apiVersion, Self.minAPIVersion) >= 0 else {
            throw .unreachable("engine API \(server) is older than \(Self.minAPIVersion)")
        }
    }

    public static func negotiate(server: String) -> String { compare(server, maxAPIVersion) < 0 ? server : maxAPIVersion }

    /// Compares dotted versions numerically ("1.9" < "1.41").
    public static func compare(_ a: String, _ b: String) -> Int {
        let x = a.split(separator: ".").map { Int($0) ?? 0 }, y = b.split(separator: ".").map { Int($0) ?? 0 }
        for i in 0..<max(x.count, y.count) {
            let l = i < x.count ? x[i] : 0, r = i < y.count ? y[i] : 0
            if l != r { return l < r ? -1 : 1 }
        }
        return 0
    }

    public struct Answer: Sendable {
        public var status: Int
        public var text: String
        public var json: JSON? { try? JSON.parse(text) }
        /// The engine's `{"message": ...}` on errors.
        public var message: String { json?["message"]?.stringValue ?? String(text.prefix(200)) }
    }

    public func send(_ r: DockerRequest, timeoutMs: Int? = nil) throws(DockerError) -> Answer {
        try Self.send(socketPath: socketPath, prefix: "/v\(apiVersion)", r, timeoutMs: timeoutMs ?? requestTimeoutMs)
    }

    /// Sends and requires a 2xx (or one of `accept`) answer.
    @discardableResult
    public func expect(_ r: DockerRequest, accept: Set<Int> = [], timeoutMs: Int? = nil) throws(DockerError) -> Answer {
        let a = try send(r, timeoutMs: timeoutMs)
        guard (200..<300).contains(a.status) || accept.contains(a.status) else {
            throw .refused(request: "\(r.method) \(r.path.split(separator: "?").first ?? "")", status: a.status, message: a.message)
        }
        return a
    }

    static func send(socketPath: String, prefix: String, _ r: DockerRequest, timeoutMs: Int) throws(DockerError) -> Answer {
        do {
            let client = try HTTPClient(unixSocketPath: socketPath, maxResponseBytes: 16 * 1024 * 1024)
            defer { client.close() }
            var headers = HTTPHeaders()
            if r.body != nil { headers.add("Content-Type", "application/json") }
            let response = try client.request(method: r.method, path: prefix + r.path, headers: headers,
                                              body: r.body?.serialized() ?? [], timeout: .milliseconds(timeoutMs))
            return Answer(status: response.status, text: response.bodyText)
        } catch {
            throw .unreachable("\(socketPath): \(error)")
        }
    }
}
