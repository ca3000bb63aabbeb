// How many nodes the cluster should have: the operator's word, else an HPA-like reading of the
// load (tolerance band, rate policies per period, scale-down after a stabilization window that
// holds the highest recent recommendation), else the last decision.

/// The node count decided this round and why, for the reasons of the actions that follow.
struct NodeTarget: Equatable {
    var nodes: Int
    var why: String
}

/// The highest value pushed in the last `windowS` seconds. A monotonic queue: values are kept
/// strictly decreasing, so it holds at most one entry per distinct value (bounded by `MembershipLimits.maxNodes`).
struct RollingMax: Sendable {
    private var entries: [(at: Double, value: Int)] = []

    mutating func push(_ value: Int, at: Double, windowS: Double) {
        while let last = entries.last, last.value <= value { entries.removeLast() }
        entries.append((at, value))
        expire(now: at, windowS: windowS)
        assert(entries.count <= MembershipLimits.maxNodes + 1)
        assert(zip(entries, entries.dropFirst()).allSatisfy { $0.value > $1.value })
    }

    mutating func expire(now: Double, windowS: Double) {
        let drop = entries.prefix { $0.at < now - windowS }.count
        if drop > 0 { entries.removeFirst(drop) }
    }

    var max: Int? { entries.first?.value }
}

/// Past changes of the desired node count, for the per-period rate policies and the reverse hold.
struct ScaleEvents: Sendable {
    private var events: [(at: Double, delta: Int, byLoad: Bool)] = []

    mutating func record(at: Double, delta: Int, byLoad: Bool) {
        precondition(delta != 0)
        if events.count == MembershipLimits.maxScaleEventsKept { events.removeFirst() }
        events.append((at, delta, byLoad))
        assert(events.count <= MembershipLimits.maxScaleEventsKept)
    }

    /// Nodes added (positive deltas) or removed (negated negative ones) since `since`.
    func moved(up: Bool, since: Double) -> Int {
        events.reduce(0) { sum, e in e.at > since && (e.delta > 0) == up ? sum + abs(e.delta) : sum }
    }

    /// The last load-driven move, if any.
    var lastLoadMove: (at: Double, delta: Int)? {
        events.last(where: \.byLoad).map { ($0.at, $0.delta) }
    }
}

/// The chosen metric over the alive nodes this round.
struct LoadReading {
    var average: Double
    /// Alive, non-draining nodes (the ones taking load), with or without the figure.
    var serving: Int
    var missing: Int
    /// Some node is not alive (unknown, suspect, dead): no scale-down on partial information.
    var anyNotAlive: Bool

    init?(_ view: ClusterView, metric: LoadMetric) {
        var sum = 0.0, reporting = 0, serving = 0, notAlive = false
        for (n, s) in zip(view.nodes, view.states) where !n.draining && !view.isRetiring(n.id) {
            guard s == .alive else { notAlive = true; continue }
            serving += 1
            if let v = n.load.value(of: metric), v.isFinite, v >= 0 { sum += v; reporting += 1 }
        }
        guard reporting > 0 else { return nil }
        average = sum / Double(reporting)
        self.serving = serving
        missing = serving - reporting
        anyNotAlive = notAlive
        assert(missing >= 0 && average >= 0)
    }
}

extension Autoscaler {
    /// Decides the node count for this round and remembers it.
    mutating func updateTarget(_ view: ClusterView, now: Double) -> NodeTarget {
        let s = view.settings
        let current = min(max(desiredNodes ?? initialNodes(view), s.minNodes), s.maxNodes)
        if desiredNodes == nil {
            // Seed the window with the starting size: no scale-down in the first window.
            recommendations.push(current, at: now, windowS: s.downStabilizationS)
        }
        var target: NodeTarget
        var byLoad = false
        if let wanted = view.operatorTarget {
            let clamped = min(max(wanted, s.minNodes), s.maxNodes)
            let note = clamped == wanted ? "" : " (clamped to \(s.minNodes)...\(s.maxNodes))"
            target = NodeTarget(nodes: clamped, why: "operator target \(wanted)\(note)")
        } else if let reading = LoadReading(view, metric: s.metric) {
            target = loadTarget(reading, current: current, settings: s, now: now)
            byLoad = true
        } else {
            recommendations.expire(now: now, windowS: s.downStabilizationS)
            target = NodeTarget(nodes: current, why: "no \(s.metric.rawValue) figures: holding \(current) nodes")
        }
        precondition(target.nodes >= s.minNodes && target.nodes <= s.maxNodes)
        if target.nodes != current { scaleEvents.record(at: now, delta: target.nodes - current, byLoad: byLoad) }
        desiredNodes = target.nodes
        return target
    }

    /// After a registry restart: what serves or will, plus lost non-voters (retired and replaced in
    /// the same round, so one still here is not yet replaced), and never fewer than the voters
    /// (a lost voter lingers until its replacement caught up, so it is not counted twice).
    func initialNodes(_ view: ClusterView) -> Int {
        let lostNonVoters = zip(view.nodes, view.states).count { n, s in
            s == .lost && !n.draining && !view.isVoter(n.id) && !view.isRetiring(n.id)
        }
        return max(view.capacity + lostNonVoters, view.voters.count)
    }

    /// HPA: desired = ceil(serving * average / target) outside the tolerance band, then the
    /// stabilization window and the rate policies.
    mutating func loadTarget(_ r: LoadReading, current: Int, settings s: AutoscalerSettings, now: Double) -> NodeTarget {
        let ratio = r.average / s.targetValue
        let figure = "\(s.metric.rawValue) \(decimal(r.average, 2)) avg over \(r.serving - r.missing) nodes vs target \(decimal(s.targetValue, 2))"
        var raw = current
        if abs(ratio - 1) > s.tolerance {
            // The epsilon keeps 3 * (4/3) from becoming 5 through rounding noise.
            raw = Int((Double(r.serving) * ratio - 1e-9).rounded(.up))
        }
        raw = min(max(raw, s.minNodes), s.maxNodes)
        var why = figure
        if raw < current && (r.missing > 0 || r.anyNotAlive) {
            why += r.missing > 0 ? "; \(r.missing) nodes without the figure: no scale-down" : "; a node is not alive: no scale-down"
            raw = current
        }
        recommendations.push(raw, at: now, windowS: s.downStabilizationS)
        if raw > current { return scaleUp(to: raw, current: current, settings: s, now: now, why: why) }
        let stabilized = recommendations.max ?? raw
        assert(stabilized >= raw)
        if stabilized < current { return scaleDown(to: stabilized, current: current, settings: s, now: now, why: why) }
        let held = stabilized > raw ? "; would be \(raw), holding the window's highest \(stabilized)" : ""
        return NodeTarget(nodes: current, why: why + held)
    }

    func scaleUp(to wanted: Int, current: Int, settings s: AutoscalerSettings, now: Double, why: String) -> NodeTarget {
        if let last = scaleEvents.lastLoadMove, last.delta < 0, now - last.at < s.reverseHoldS {
            return NodeTarget(nodes: current, why: why + "; scaled down \(decimal(now - last.at, 1)) s ago: holding")
        }
        let start = current - scaleEvents.moved(up: true, since: now - s.scaleUpPeriodS)
        let allowed = max(1, Int((Double(start) * s.scaleUpMaxPercent / 100 - 1e-9).rounded(.up)))
        let next = min(wanted, max(current, start + allowed))
        let capped = next < wanted ? " (capped at +\(decimal(s.scaleUpMaxPercent, 0)) % per \(decimal(s.scaleUpPeriodS, 0)) s)" : ""
        return NodeTarget(nodes: next, why: why + ": scale up \(current) → \(next)\(capped)")
    }

    func scaleDown(to wanted: Int, current: Int, settings s: AutoscalerSettings, now: Double, why: String) -> NodeTarget {
        if let last = scaleEvents.lastLoadMove, last.delta > 0, now - last.at < s.reverseHoldS {
            return NodeTarget(nodes: current, why: why + "; scaled up \(decimal(now - last.at, 1)) s ago: holding")
        }
        let start = current + scaleEvents.moved(up: false, since: now - s.scaleDownPeriodS)
        let allowed = max(1, Int((Double(start) * s.scaleDownMaxPercent / 100 + 1e-9).rounded(.down)))
        let next = max(wanted, min(current, start - allowed))
        let capped = next > wanted ? " (capped at -\(decimal(s.scaleDownMaxPercent, 0)) % per \(decimal(s.scaleDownPeriodS, 0)) s)" : ""
        return NodeTarget(nodes: next, why: why + ": scale down \(current) → \(next)\(capped)")
    }
}
