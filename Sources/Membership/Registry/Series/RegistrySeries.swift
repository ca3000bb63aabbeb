import Chain

/// The registry's time series for the dashboard (`GET /series`): one sample of every series each
/// `intervalS` seconds into a fixed ring of `points` samples (the last hour at the defaults, 5 s x
/// 720), and the registry's decisions into a ring of `maxMarks`. Memory is bounded by those
/// capacities and by the nodes a sample can hold (at most the registry's node slots). Pure: the
/// caller says what time it is and what it sees.
public struct RegistrySeries: Sendable {
    public let intervalS: Double
    private var samples: FixedRing<SeriesSample>
    private var marks: FixedRing<DecisionMark>

    public init(intervalS: Double, points: Int, maxMarks: Int) {
        precondition(intervalS > 0 && points > 0 && maxMarks > 0)
        self.intervalS = intervalS
        samples = FixedRing(capacity: points)
        marks = FixedRing(capacity: maxMarks)
    }

    public var points: Int { samples.capacity }
    public var sampleCount: Int { samples.count }
    public var markCount: Int { marks.count }

    /// Whether a sample is due at `at` (the first one at once, then every `intervalS`).
    public func isDue(at: Double) -> Bool {
        guard let last = samples.last else { return true }
        return at - last.at >= intervalS
    }

    /// Takes a sample at `at` when one is due; returns whether it did. The transfer rate is the
    /// growth of the verified chain's transaction count since the previous sample.
    @discardableResult
    public mutating func sample(at: Double, _ input: SeriesInput) -> Bool {
        guard isDue(at: at) else { return false }
        var rate: Double?
        if let prev = samples.last, at > prev.at, input.committedTxs >= prev.input.committedTxs {
            rate = Double(input.committedTxs - prev.input.committedTxs) / (at - prev.at)
        }
        samples.append(SeriesSample(at: at, committedTxsPerS: rate, input: input))
        return true
    }

    public mutating func mark(_ m: DecisionMark) { marks.append(m) }

    public var allSamples: [SeriesSample] { samples.elements }
    public var allMarks: [DecisionMark] { marks.elements }

    /// Columns, oldest first, one entry per sample (null where there was no figure); the
    /// document's shape is in docs/openapi.yaml (`GET /series`).
    public func json(now: Double, targetValue: Double, tolerance: Double, metric: String, minNodes: Int, maxNodes: Int) -> JSON {
        let all = samples.elements
        // Milli-units are plenty on a plot and keep the document small.
        func rounded(_ v: Double) -> JSON { .double((v * 1000).rounded() / 1000) }
        func column(_ f: (SeriesSample) -> Double?) -> JSON { .array(all.map { f($0).map(rounded) ?? .null }) }
        func ints(_ f: (SeriesSample) -> Int?) -> JSON { .array(all.map { f($0).map { .int(Int64($0)) } ?? .null }) }
        let ids = Set(all.flatMap { $0.input.heights.keys }).sorted()
        let heights = JSONObject(ids.map { id in (id, JSON.array(all.map { s in s.input.heights[id].map { .uint($0) } ?? .null })) })
        let decisions = marks.elements.map { m -> JSON in
            var o = JSONObject([("at", rounded(m.at)), ("kind", .string(m.kind.rawValue))])
            o["node"] = m.node.map { .string($0) } ?? .null
            o["reason"] = .string(m.reason)
            return .object(o)
        }
        return .object(JSONObject([
            ("now", rounded(now)), ("intervalS", .double(intervalS)), ("points", .int(Int64(points))),
            ("at", column { $0.at }),
            ("committedTxsPerS", column { $0.committedTxsPerS }),
            ("submitP99Ms", column { $0.input.submitP99Ms }),
            ("load", .object(JSONObject([("metric", .string(metric)), ("target", .double(targetValue)),
                                         ("tolerance", .double(tolerance)), ("values", column { $0.input.load })]))),
            ("nodes", .object(JSONObject([("min", .int(Int64(minNodes))), ("max", .int(Int64(maxNodes))),
                                          ("desired", ints { $0.input.desiredNodes }), ("alive", ints { $0.input.alive }),
                                          ("leaders", ints { $0.input.leaders }), ("voters", ints { $0.input.voters }),
                                          ("learners", ints { $0.input.learners })]))),
            ("heights", .object(heights)),
            ("decisions", .array(decisions)),
        ]))
    }
}
