/// For a registry that only observes (nodes started by hand, by `autochain cluster`, or by an
/// orchestrator it does not drive): discovery, health and events work; starting and stopping
/// nodes is refused, and those actions are reported as failed with the reason.
public struct NoProvider: NodeProvider {
    public let name = "none"
    public init() {}
    public func start(_ id: String, bootstrap: Bool, peers: [String]) throws -> ProvidedNode {
        throw ProviderError.startFailed(id: id, reason: "this registry runs without a provider (--provider none)")
    }
    public func stop(_ id: String) {}
    public func destroy(_ id: String) {}
    public func isRunning(_ id: String) -> Bool { false }
    public func hasData(_ id: String) -> Bool { false }
    public func knownNodes() -> [String] { [] }
    public func onExit(_ handler: @escaping @Sendable (String, Int32) -> Void) {}
}
