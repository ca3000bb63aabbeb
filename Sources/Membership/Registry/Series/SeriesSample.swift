/// What the registry saw at one sampling instant, as handed to `RegistrySeries.sample`.
public struct SeriesInput: Sendable, Equatable {
    /// Transactions in the verified chain so far (cumulative; the rate is its difference).
    public var committedTxs: UInt64
    /// Height each node last reported, for nodes not dead.
    public var heights: [String: UInt64]
    /// The highest submit-to-commit p99 (ms) that a node reported for its recent window; nil when none did.
    public var submitP99Ms: Double?
    /// The autoscaler's load figure averaged over the nodes reporting it; nil when none did.
    public var load: Double?
    /// The node count the autoscaler last decided (its target); nil before its first decision.
    public var desiredNodes: Int?
    public var leaders: Int
    public var voters: Int
    public var learners: Int
    /// Nodes not dead.
    public var alive: Int

    public init(committedTxs: UInt64, heights: [String: UInt64] = [:], submitP99Ms: Double? = nil, load: Double? = nil,
                desiredNodes: Int? = nil, leaders: Int = 0, voters: Int = 0, learners: Int = 0, alive: Int = 0) {
        self.committedTxs = committedTxs
        self.heights = heights
        self.submitP99Ms = submitP99Ms
        self.load = load
        self.desiredNodes = desiredNodes
        self.leaders = leaders
        self.voters = voters
        self.learners = learners
        self.alive = alive
    }
}

/// One point of every series, at `at` seconds since the registry started.
public struct SeriesSample: Sendable, Equatable {
    public var at: Double
    /// Committed transactions per second since the previous sample; nil for the first one.
    public var committedTxsPerS: Double?
    public var input: SeriesInput
}

/// A registry decision (scale up or down, restart, replace, remove) as a mark on the time axis.
public struct DecisionMark: Sendable, Equatable {
    public var at: Double
    public var kind: ScalingActionKind
    public var node: String?
    public var reason: String

    public init(at: Double, kind: ScalingActionKind, node: String?, reason: String) {
        self.at = at
        self.kind = kind
        self.node = node
        self.reason = reason
    }
}
