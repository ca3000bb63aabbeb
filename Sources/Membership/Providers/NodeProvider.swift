import Chain

/// Where a node runs, as its provider reports it.
public struct ProvidedNode: Sendable, Equatable {
    public var id: String
    public var apiUrl: String
    public var p2pAddr: String
    public init(id: String, apiUrl: String, p2pAddr: String) {
        self.id = id
        self.apiUrl = apiUrl
        self.p2pAddr = p2pAddr
    }
}

/// The shell that carries out the autoscaler's decisions: it starts, stops and deletes nodes.
/// Implementations: local child processes (`ProcessProvider`, the embedded default), Docker
/// containers (`DockerProvider`), Swarm services (`SwarmProvider`); Kubernetes pod + volume pairs
/// fit the same shape (docs/KUBERNETES.md): a node is an ID, a data volume, and an API/P2P
/// address once running. A new provider is one more conforming type plus one row of the CLI's
/// provider table; the registry core only ever sees the facts these methods answer.
public protocol NodeProvider: Sendable {
    var name: String { get }
    /// Starts node `id`: on its existing data (a restart), or fresh. A fresh node joins the
    /// cluster through `peers` unless `bootstrap` (the very first node of a new cluster).
    func start(_ id: String, bootstrap: Bool, peers: [String]) throws -> ProvidedNode
    /// The same, handing the node `incarnation` (fencing: the registry issues one per start, above
    /// any before; the node reports it and stops once a higher one has reported). A provider
    /// passes it as the environment variable `Fencing.incarnationEnvironmentVariable`.
    func start(_ id: String, bootstrap: Bool, peers: [String], incarnation: UInt64) throws -> ProvidedNode
    /// Stops it: SIGTERM (a leader hands over leadership first), then a hard kill after a grace time.
    func stop(_ id: String)
    /// Stops it and sets its data aside (deleted later by `purgeSetAside`): for retired and
    /// replaced nodes only.
    func destroy(_ id: String)
    /// Deletes set-aside data kept at least `keepS` seconds; returns what it deleted.
    func purgeSetAside(keepS: Double, nowUnixS: Double) -> [String]
    /// The node key this provider gave node `id` when it created it (nil: it does not know one,
    /// and the registry pins the key the node first registers with).
    func nodeKey(_ id: String) -> PublicKey?
    /// The API URL of node `id` as this provider started it (nil: not one it runs); the
    /// registry probes this, not an address a node reported.
    func apiURL(_ id: String) -> String?
    func isRunning(_ id: String) -> Bool
    /// Its data is intact, so a restart brings back the same identity.
    func hasData(_ id: String) -> Bool
    /// Nodes this provider has data for (adopted at registry start instead of spawning anew).
    func knownNodes() -> [String]
    /// Called (on any thread) when a node's process or container exits.
    func onExit(_ handler: @escaping @Sendable (String, Int32) -> Void)
    /// The registry is shutting down: the provider lets go of what it holds (pollers, watches).
    /// Nodes that live only as long as the registry (child processes) stop with it; containers,
    /// services and pods keep running, and a registry started again adopts them.
    func close()
    /// The node is down because someone outside the registry stopped it on purpose (`docker stop`,
    /// `docker-compose stop`: it shut down cleanly, status 0, on a SIGTERM the registry did not
    /// send). Such a node was taken out: it is replaced, not restarted, unless the quorum needs it.
    func stoppedDeliberately(_ id: String) -> Bool
}

extension NodeProvider {
    /// Providers that cannot tell a deliberate stop from a crash: every exit is a failure to repair.
    public func stoppedDeliberately(_ id: String) -> Bool { false }
    /// Providers that cannot hand a node its incarnation start it without one (incarnation 0:
    /// never fenced against a copy of itself).
    public func start(_ id: String, bootstrap: Bool, peers: [String], incarnation: UInt64) throws -> ProvidedNode {
        try start(id, bootstrap: bootstrap, peers: peers)
    }
    /// Providers that set nothing aside have nothing to purge.
    public func purgeSetAside(keepS: Double, nowUnixS: Double) -> [String] { [] }
    public func nodeKey(_ id: String) -> PublicKey? { nil }
    public func apiURL(_ id: String) -> String? { nil }

    /// Providers that hold nothing beyond their nodes have nothing to let go of.
    public func close() {}
}

public enum ProviderError: Error, Sendable, CustomStringConvertible {
    case startFailed(id: String, reason: String)
    public var description: String {
        switch self {
        case .startFailed(let id, let reason): "cannot start \(id): \(reason)"
        }
    }
}
