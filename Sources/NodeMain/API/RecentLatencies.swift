import Chain
import Dispatch
import FoundationEssentials
import Synchronization

/// The submit-to-commit times of the transactions this node committed lately, for the p99 it
/// reports in its heartbeat (`submitLatencyMs`, drawn on the registry's dashboard). A fixed ring:
/// the newest `capacity` commits at most, whatever the load.
final class RecentLatencies: Sendable {
    /// Commits remembered at most (a p99 over more would change little).
    static let capacity = 4_096
    /// The p99 is over the commits of this many past seconds.
    static let windowS = 10.0
    private let ring = Mutex(FixedRing<(atS: Double, seconds: Double)>(capacity: capacity))

    func observe(_ seconds: Double, atS: Double = RecentLatencies.clockS()) {
        ring.withLock { $0.append((atS, seconds)) }
    }

    var count: Int { ring.withLock { $0.count } }

    /// The 99th percentile (nearest rank) of the window's times in milliseconds; nil with no commits in it.
    func p99Ms(nowS: Double = RecentLatencies.clockS()) -> Double? {
        let recent = ring.withLock { $0.elements }.filter { nowS - $0.atS <= Self.windowS }.map(\.seconds).sorted()
        guard !recent.isEmpty else { return nil }
        let rank = Int((Double(recent.count) * 0.99).rounded(.up)) - 1
        return recent[min(max(rank, 0), recent.count - 1)] * 1000
    }

    static func clockS() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
