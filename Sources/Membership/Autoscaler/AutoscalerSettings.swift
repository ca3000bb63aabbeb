// Every knob of the autoscaler, with its unit in its name and its default written once here.

/// A setting outside its allowed range: the key, the value and what was expected.
public enum MembershipSettingsError: Error, Equatable, Sendable {
    case badValue(key: String, value: String, expected: String)
}

/// How the autoscaler sizes and repairs the cluster. `validate()` before use.
public struct AutoscalerSettings: Sendable, Equatable {
    /// Fewest nodes (voters + learners) the cluster keeps; at least `targetVoters`.
    public var minNodes = 3
    /// Most nodes the cluster may grow to, at most `MembershipLimits.maxNodes`.
    public var maxNodes = 7
    /// Voters the cluster aims for (the leader promotes learners up to this); odd.
    public var targetVoters = 3
    /// The load figure scaled on.
    public var metric: LoadMetric = .cpu
    /// The per-node value of `metric` the autoscaler aims at (cpu: fraction of a core).
    public var targetValue = 0.7
    /// No load move while |average / target - 1| is at most this (a ratio, 0.1 = 10 %).
    public var tolerance = 0.1
    /// Scale-up adds at most this percentage of the size at the start of each period...
    public var scaleUpMaxPercent = 100.0
    /// ...of this many seconds.
    public var scaleUpPeriodS = 30.0
    /// Scale-down removes at most this percentage of the size at the start of each period...
    public var scaleDownMaxPercent = 50.0
    /// ...of this many seconds.
    public var scaleDownPeriodS = 60.0
    /// Scale-down follows the highest recommendation of this many past seconds.
    public var downStabilizationS = 60.0
    /// A load move against the direction of the previous one waits this long (anti-flap; 0 = pure HPA).
    public var reverseHoldS = 60.0
    /// Restarts that may fail in a row before the node is replaced instead (quorum loss excepted).
    public var maxRestartFailures = 3
    /// Wait before the first retry of a restart, doubled after each failure...
    public var restartBackoffS = 2.0
    /// ...up to this.
    public var restartBackoffMaxS = 60.0
    /// After the registry starts, nodes not yet heard from are left alone this long; so is a
    /// node the registry started (spawned or restarted) until it is heard from or seen to exit.
    public var gracePeriodS = 10.0
    /// A voter dead by silence (a partition looks the same) is removed from the configuration only
    /// after this long without a word. Not applied to a voter seen to exit whose data is gone
    /// (`ClusterView.isGone`): it cannot come back, so it leaves once its replacement joined.
    public var deadVoterRemovalDelayS = 5.0
    /// A node stopped from outside the registry (`docker-compose stop`) is left alone this long
    /// before it is replaced, so that a stop of several nodes is seen whole (a quorum loss, which
    /// brings them back) before any one of them is replaced.
    public var stoppedNodeHoldS = 5.0
    /// A consensus-failure report counts for this long unless the cluster contradicts it.
    public var consensusFailureHoldS = 30.0
    /// The same alert is not repeated within this many seconds.
    public var alertRepeatS = 60.0

    public init() {}

    /// Throws the first setting out of range.
    public func validate() throws(MembershipSettingsError) {
        func check(_ ok: Bool, _ key: String, _ value: Any, _ expected: String) throws(MembershipSettingsError) {
            if !ok { throw .badValue(key: key, value: "\(value)", expected: expected) }
        }
        try check(targetVoters >= 1 && targetVoters % 2 == 1, "targetVoters", targetVoters, "an odd number >= 1")
        try check(minNodes >= targetVoters, "minNodes", minNodes, ">= targetVoters (\(targetVoters))")
        try check(maxNodes >= minNodes && maxNodes <= MembershipLimits.maxNodes, "maxNodes", maxNodes,
                  "minNodes (\(minNodes))...\(MembershipLimits.maxNodes)")
        try check(targetValue > 0 && targetValue.isFinite, "targetValue", targetValue, "> 0")
        try check(tolerance >= 0 && tolerance < 1, "tolerance", tolerance, "0..<1")
        try check(scaleUpMaxPercent > 0 && scaleUpMaxPercent <= 1000, "scaleUpMaxPercent", scaleUpMaxPercent, "(0, 1000]")
        try check(scaleDownMaxPercent > 0 && scaleDownMaxPercent <= 100, "scaleDownMaxPercent", scaleDownMaxPercent,
                  "(0, 100]")
        for (key, value) in [("scaleUpPeriodS", scaleUpPeriodS), ("scaleDownPeriodS", scaleDownPeriodS),
                             ("downStabilizationS", downStabilizationS), ("reverseHoldS", reverseHoldS),
                             ("restartBackoffS", restartBackoffS), ("gracePeriodS", gracePeriodS),
                             ("deadVoterRemovalDelayS", deadVoterRemovalDelayS), ("stoppedNodeHoldS", stoppedNodeHoldS),
                             ("consensusFailureHoldS", consensusFailureHoldS), ("alertRepeatS", alertRepeatS)] {
            try check(value >= 0 && value <= MembershipLimits.maxSettingS, key, value, "0...\(MembershipLimits.maxSettingS) seconds")
        }
        try check(restartBackoffMaxS >= restartBackoffS && restartBackoffMaxS <= MembershipLimits.maxSettingS,
                  "restartBackoffMaxS", restartBackoffMaxS, "restartBackoffS...\(MembershipLimits.maxSettingS) seconds")
        try check(maxRestartFailures >= 0 && maxRestartFailures <= 100, "maxRestartFailures", maxRestartFailures, "0...100")
    }
}

/// Bounds on everything the membership core keeps or loops over.
public enum MembershipLimits {
    /// Nodes one cluster may have (the decide benchmark runs at 1,000).
    public static let maxNodes = 10_000
    /// Longest time setting, seconds (a day).
    public static let maxSettingS = 86_400.0
    /// Scale moves remembered for the rate policies; older ones are forgotten first.
    public static let maxScaleEventsKept = 64
    /// Distinct alerts remembered for `alertRepeatS`.
    public static let maxAlertsKept = 32
    /// Nodes the failure detector tracks.
    public static let maxTrackedNodes = 10_000
}
