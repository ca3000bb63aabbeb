import Synchronization

/// A process-wide set of Prometheus metrics, rendered in the text exposition format 0.0.4.
///
/// Families are registered once, by name, with their help text and type; samples are updated
/// from any thread (each family has its own lock, so hot counters do not contend with each other).
/// `render()` produces output that `promtool check metrics` accepts.
public final class MetricsRegistry: Sendable {
    private let families = Mutex<[any MetricFamily]>([])

    public init() {}

    /// Registers a family; registering two families with the same name is a programming error.
    public func register<F: MetricFamily>(_ family: F) -> F {
        families.withLock { list in
            precondition(!list.contains { $0.name == family.name }, "metric \(family.name) registered twice")
            precondition(MetricName.isValid(family.name), "invalid metric name \(family.name)")
            list.append(family)
        }
        return family
    }

    public func counter(_ name: String, _ help: String, labels: [String] = []) -> Counter {
        register(Counter(name: name, help: help, labelNames: labels))
    }

    public func gauge(_ name: String, _ help: String, labels: [String] = []) -> Gauge {
        register(Gauge(name: name, help: help, labelNames: labels))
    }

    public func histogram(_ name: String, _ help: String, buckets: [Double], labels: [String] = []) -> Histogram {
        register(Histogram(name: name, help: help, buckets: buckets, labelNames: labels))
    }

    /// The whole registry in Prometheus text format, families in registration order.
    public func render() -> String {
        let list = families.withLock { $0 }
        var out = ""
        out.reserveCapacity(4096)
        for family in list { family.render(into: &out) }
        return out
    }
}

/// One metric family: a name, help text, a type and its samples.
public protocol MetricFamily: Sendable {
    var name: String { get }
    func render(into out: inout String)
}

enum MetricName {
    static func isValid(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || first == ":" || first.properties.isAlphabetic
        else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || $0 == ":" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }
    }

    static func header(_ out: inout String, name: String, help: String, type: String) {
        out += "# HELP \(name) \(escapeHelp(help))\n# TYPE \(name) \(type)\n"
    }

    static func escapeHelp(_ s: String) -> String {
        s.replacingAll("\\", with: "\\\\").replacingAll("\n", with: "\\n")
    }

    static func labelString(_ names: [String], _ values: [String], extra: (String, String)? = nil) -> String {
        precondition(names.count == values.count, "label count mismatch")
        var pairs = zip(names, values).map { "\($0)=\"\(escapeLabel($1))\"" }
        if let (k, v) = extra { pairs.append("\(k)=\"\(v)\"") }
        return pairs.isEmpty ? "" : "{" + pairs.joined(separator: ",") + "}"
    }

    static func escapeLabel(_ s: String) -> String {
        s.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"").replacingAll("\n", with: "\\n")
    }

    static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}

/// Samples by label values, rendered in a stable order; an unlabelled family with no sample
/// renders 0 so scrapers always see it.
final class LabelledSamples: Sendable {
    private let values = Mutex<[[String]: Double]>([:])

    func update(_ labels: [String], _ change: (inout Double) -> Void) {
        values.withLock { v in change(&v[labels, default: 0]) }
    }

    func value(_ labels: [String]) -> Double? { values.withLock { $0[labels] } }

    func render(into out: inout String, name: String, labelNames: [String]) {
        let snapshot = values.withLock { $0 }
        if snapshot.isEmpty && labelNames.isEmpty { out += "\(name) 0\n"; return }
        for (labels, v) in snapshot.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            out += "\(name)\(MetricName.labelString(labelNames, labels)) \(MetricName.format(v))\n"
        }
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        guard contains(target) else { return self }
        var out = ""
        out.reserveCapacity(count + 8)
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}

/// A monotonically increasing count, optionally split by labels.
public final class Counter: MetricFamily {
    public let name: String
    let help: String
    let labelNames: [String]
    private let values = LabelledSamples()

    init(name: String, help: String, labelNames: [String]) {
        self.name = name
        self.help = help
        self.labelNames = labelNames
    }

    public func inc(_ by: Double = 1, _ labels: String...) {
        precondition(by >= 0, "a counter only goes up")
        precondition(labels.count == labelNames.count, "\(name): expected \(labelNames.count) labels")
        values.update(labels) { $0 += by }
    }

    public func value(_ labels: String...) -> Double { values.value(labels) ?? 0 }

    private let sampler = Mutex<(@Sendable () -> Double)?>(nil)

    /// Reads a monotonic total kept elsewhere (CPU seconds) at render time; unlabelled only.
    public func sample(_ read: @escaping @Sendable () -> Double) {
        precondition(labelNames.isEmpty, "a sampled counter has no labels")
        sampler.withLock { $0 = read }
    }

    public func render(into out: inout String) {
        MetricName.header(&out, name: name, help: help, type: "counter")
        if let read = sampler.withLock({ $0 }) {
            out += "\(name) \(MetricName.format(read()))\n"
            return
        }
        values.render(into: &out, name: name, labelNames: labelNames)
    }
}

/// A value that goes up and down; either set directly or read from a closure at render time.
public final class Gauge: MetricFamily {
    public let name: String
    let help: String
    let labelNames: [String]
    private let values = LabelledSamples()
    private let sampler = Mutex<(@Sendable () -> Double)?>(nil)

    init(name: String, help: String, labelNames: [String]) {
        self.name = name
        self.help = help
        self.labelNames = labelNames
    }

    public func set(_ v: Double, _ labels: String...) {
        precondition(labels.count == labelNames.count, "\(name): expected \(labelNames.count) labels")
        values.update(labels) { $0 = v }
    }

    /// The value last set for `labels` (0 when none was).
    public func value(_ labels: String...) -> Double { values.value(labels) ?? 0 }

    /// Reads the value at render time instead (only for unlabelled gauges).
    public func sample(_ read: @escaping @Sendable () -> Double) {
        precondition(labelNames.isEmpty, "a sampled gauge has no labels")
        sampler.withLock { $0 = read }
    }

    public func render(into out: inout String) {
        MetricName.header(&out, name: name, help: help, type: "gauge")
        if let read = sampler.withLock({ $0 }) {
            out += "\(name) \(MetricName.format(read()))\n"
            return
        }
        values.render(into: &out, name: name, labelNames: labelNames)
    }
}

/// Observations counted into fixed cumulative buckets, with their sum and count.
public final class Histogram: MetricFamily {
    public let name: String
    let help: String
    let labelNames: [String]
    let buckets: [Double]
    private struct Series { var counts: [UInt64]; var sum: Double; var count: UInt64 }
    private let series = Mutex<[[String]: Series]>([:])

    init(name: String, help: String, buckets: [Double], labelNames: [String]) {
        precondition(!buckets.isEmpty && zip(buckets, buckets.dropFirst()).allSatisfy { $0 < $1 },
                     "histogram buckets must be strictly increasing")
        self.name = name
        self.help = help
        self.buckets = buckets
        self.labelNames = labelNames
    }

    public func observe(_ v: Double, _ labels: String...) {
        precondition(labels.count == labelNames.count, "\(name): expected \(labelNames.count) labels")
        let slot = buckets.firstIndex { v <= $0 } ?? buckets.count
        series.withLock { all in
            var s = all[labels] ?? Series(counts: Array(repeating: 0, count: buckets.count + 1), sum: 0, count: 0)
            s.counts[slot] += 1
            s.sum += v
            s.count += 1
            all[labels] = s
        }
    }

    public func render(into out: inout String) {
        MetricName.header(&out, name: name, help: help, type: "histogram")
        var snapshot = series.withLock { $0 }
        if snapshot.isEmpty && labelNames.isEmpty {
            snapshot[[]] = Series(counts: Array(repeating: 0, count: buckets.count + 1), sum: 0, count: 0)
        }
        for (labels, s) in snapshot.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            var cumulative: UInt64 = 0
            for (i, bound) in buckets.enumerated() {
                cumulative += s.counts[i]
                let ls = MetricName.labelString(labelNames, labels, extra: ("le", MetricName.format(bound)))
                out += "\(name)_bucket\(ls) \(cumulative)\n"
            }
            let inf = MetricName.labelString(labelNames, labels, extra: ("le", "+Inf"))
            out += "\(name)_bucket\(inf) \(s.count)\n"
            let plain = MetricName.labelString(labelNames, labels)
            out += "\(name)_sum\(plain) \(MetricName.format(s.sum))\n"
            out += "\(name)_count\(plain) \(s.count)\n"
        }
    }
}
