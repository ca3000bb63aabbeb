import Chain
import FoundationEssentials
import Glibc
import Membership

/// `autochain bench-decide`: times `Autoscaler.decide` over a large synthetic cluster (1,000 nodes
/// by default) in three load shapes, and reports the wall time per call (median, p99, max) and
/// the thread CPU time per call, so a busy machine shows as a gap between the two.
enum BenchDecideCommand {
    static let spec = CommandSpec(name: "bench-decide", summary: "Time the autoscaler's decide over a synthetic cluster.", options: [
        .init(name: "nodes", valueName: "N", help: "nodes in the synthetic cluster (default 1000)"),
        .init(name: "rounds", valueName: "N", help: "decide calls per load shape (default 2000)"),
        .init(name: "json", valueName: "FILE", help: "also write the figures as JSON"),
    ])

    /// Calls before timing starts (caches, allocator), per shape.
    static let warmupRounds = 50

    struct Figures {
        let shape: String
        let wallUs: [Double]   // one per call, sorted
        let cpuUsPerCall: Double
        let actions: Int
        func pct(_ p: Double) -> Double { wallUs[min(wallUs.count - 1, Int(Double(wallUs.count) * p))] }
    }

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        let nodes = try parsed.int("nodes", default: 1_000, range: 50...MembershipLimits.maxNodes)
        let rounds = try parsed.int("rounds", default: 2_000, range: 1...1_000_000)
        let settings = SyntheticCluster.settings(nodes: nodes)
        var all: [Figures] = []
        for shape in SyntheticCluster.Shape.allCases {
            let f = measure(shape, nodes: nodes, rounds: rounds, settings: settings)
            func us(_ x: Double) -> String { NumberText.fixed(x, places: 1) }
            print("decide over \(nodes) nodes (\(shape.rawValue)): wall median \(us(f.pct(0.5))) µs, p99 \(us(f.pct(0.99))) µs, "
                + "max \(us(f.wallUs.last ?? 0)) µs; CPU \(us(f.cpuUsPerCall)) µs per call (\(rounds) calls, \(f.actions) actions)")
            all.append(f)
        }
        guard let path = parsed.string("json") else { return }
        let out: JSON = [
            "nodes": .int(Int64(nodes)), "rounds": .int(Int64(rounds)),
            "shapes": .array(all.map { f in
                ["shape": .string(f.shape), "wallMedianUs": .double(f.pct(0.5)), "wallP99Us": .double(f.pct(0.99)),
                 "wallMaxUs": .double(f.wallUs.last ?? 0), "cpuUsPerCall": .double(f.cpuUsPerCall), "actions": .int(Int64(f.actions))]
            }),
        ]
        guard FileManager.default.createFile(atPath: path, contents: Data(out.serializedPretty().utf8)) else {
            throw .failed("cannot write \(path)")
        }
    }

    /// A fresh autoscaler per shape; round r decides at t0 + r seconds, as the registry's loop would.
    static func measure(_ shape: SyntheticCluster.Shape, nodes: Int, rounds: Int, settings: AutoscalerSettings) -> Figures {
        precondition(rounds > 0)
        let t0 = 1_000.0
        let observed = SyntheticCluster.observed(nodes: nodes, shape: shape, now: t0)
        var scaler = Autoscaler()
        var actions = 0
        for r in 0..<warmupRounds { actions &+= scaler.decide(observed, settings: settings, now: t0 - Double(warmupRounds - r) * 1e-3).count }
        var wallUs: [Double] = []
        wallUs.reserveCapacity(rounds)
        let cpuStarted = threadCPUSeconds()
        for r in 0..<rounds {
            let started = monotonicNs()
            actions &+= scaler.decide(observed, settings: settings, now: t0 + Double(r)).count
            wallUs.append(Double(monotonicNs() - started) / 1e3)
        }
        let cpuUs = (threadCPUSeconds() - cpuStarted) * 1e6 / Double(rounds)
        assert(wallUs.count == rounds)
        return Figures(shape: shape.rawValue, wallUs: wallUs.sorted(), cpuUsPerCall: cpuUs, actions: actions)
    }

    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
