import Chain
import Consensus
import FoundationEssentials
import Glibc
import P2P
import Synchronization

/// The node's Prometheus metrics, registered once at start-up.
struct NodeMetrics: Sendable {
    let registry = MetricsRegistry()
    let height: Gauge
    let blocksCommitted: Counter
    let txsCommitted: Counter
    let txRejected: Counter
    let mempoolTxs: Gauge
    let submitToCommit: Histogram
    /// The same times, the recent ones only, for the p99 in the heartbeat.
    let recentSubmitToCommit = RecentLatencies()
    let blockApply: Histogram
    let httpRequests: Counter
    let raftTerm: Gauge
    let isLeader: Gauge
    let residentMemory: Gauge
    let cpuSeconds: Counter
    let startTime: Gauge
    let storageDegraded: Gauge
    let storageWriteFailures: Counter
    let unauthorized: Counter
    let peerRefused: Counter
    let raftRefused: Counter
    let raftEvidence: Counter
    let replicatedSignaturesVerified: Counter

    init() {
        height = registry.gauge("autochain_block_height", "Height of the last committed block.")
        blocksCommitted = registry.counter("autochain_blocks_committed_total", "Blocks committed since start.")
        txsCommitted = registry.counter("autochain_txs_committed_total", "Transactions committed since start.")
        txRejected = registry.counter("autochain_txs_rejected_total", "Transactions refused, by error code.", labels: ["code"])
        mempoolTxs = registry.gauge("autochain_mempool_txs", "Transactions waiting in the mempool.")
        submitToCommit = registry.histogram(
            "autochain_submit_to_commit_seconds", "Time from admission to commit of a transaction.",
            buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
        blockApply = registry.histogram(
            "autochain_block_persist_seconds", "Time to execute, persist and publish one consensus round.",
            buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1])
        httpRequests = registry.counter("autochain_http_requests_total", "HTTP requests served, by route and status.",
                                        labels: ["route", "status"])
        storageDegraded = registry.gauge("autochain_storage_degraded",
                                         "1 while the disk refuses writes and the node is read-only, else 0.")
        storageWriteFailures = registry.counter("autochain_storage_write_failures_total",
                                                "Refused database writes (full disk, I/O errors), by SQLite code.", labels: ["code"])
        raftTerm = registry.gauge("autochain_raft_term", "Current Raft term.")
        isLeader = registry.gauge("autochain_raft_is_leader", "1 when this node leads, else 0.")
        raftRefused = registry.counter("autochain_raft_refused_messages_total",
                                       "Raft messages the consensus core refused before acting on them, by reason.",
                                       labels: ["reason"])
        raftEvidence = registry.counter("autochain_raft_evidence_total",
                                        "Raft messages only a faulty member sends (two leaders for one term, a conflict "
                                            + "with a committed entry), ignored and kept as evidence, by kind.", labels: ["kind"])
        // Every kind at 0 from the start, so the first one counts in increase() (the evidence alert).
        for kind in Evidence.Kind.allCases { raftEvidence.inc(0, kind.rawValue) }
        residentMemory = registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes.")
        cpuSeconds = registry.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
        startTime = registry.gauge("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.")
        unauthorized = registry.counter("autochain_http_unauthorized_total",
                                        "Mutating calls refused for a missing or wrong cluster credential, by route.", labels: ["route"])
        peerRefused = registry.counter("autochain_peer_refused_total",
                                       "Peer messages or requests refused or ignored by a peer rule, by reason.", labels: ["reason"])
        replicatedSignaturesVerified = registry.counter(
            "autochain_replicated_transfer_signatures_verified_total",
            "Transfer signatures of blocks replicated to this node verified ahead of their commit.")
        startTime.set(Date().timeIntervalSince1970)
        residentMemory.sample { ProcessStats.read().residentBytes }
        cpuSeconds.sample { ProcessStats.read().cpuSeconds }
    }
}

extension NodeMetrics {
    /// Exposes the HTTP server's shared limits and the API work queue, sampled at each scrape.
    func sampleHTTPServer(_ server: HTTPServer, api: NodeAPI) {
        registry.gauge("autochain_http_connections", "Open HTTP connections.")
            .sample { Double(server.stats.connections) }
        registry.gauge("autochain_http_body_bytes_in_flight", "Request body bytes held across all connections.")
            .sample { Double(server.stats.bodyBytesInFlight) }
        registry.counter("autochain_http_refused_connections_total",
                         "Connections closed at accept because their address held max_connections_per_address.")
            .sample { Double(server.stats.refusedConnectionsPerAddress) }
        registry.counter("autochain_http_refused_bodies_total",
                         "Requests refused with 503 overloaded because max_body_bytes_in_flight was spent.")
            .sample { Double(server.stats.refusedBodiesOverBudget) }
        registry.gauge("autochain_http_queued_requests", "Requests waiting for or running on the API work queue.")
            .sample { Double(api.workGate.count) }
        registry.counter("autochain_http_overloaded_total",
                         "Requests refused with 503 overloaded because max_queued_requests were queued.")
            .sample { Double(api.workGate.refusedCount) }
        registry.gauge("autochain_forwards_waiting", "Requests this follower sent to the leader over the peer link, awaiting its answer.")
            .sample { Double(api.leaderForwards.count) }
        registry.counter("autochain_p2p_forwarded_refused_total",
                         "Members' txs requests answered overloaded because max_forwarded_txs_per_peer were being served.")
            .sample { Double(api.forwardedBudget.refusedCount) }
    }
}

extension NodeMetrics {
    /// Exposes the space of the filesystem holding the data directory, read at each scrape (the
    /// "disk nearly full" alert of deploy/prometheus); NaN when it cannot be read.
    func sampleStorage(dataDir: String) {
        registry.gauge("autochain_storage_available_bytes",
                       "Bytes an unprivileged writer may still use on the filesystem of the data directory.")
            .sample { DiskSpace.read(dataDir)?.availableBytes ?? .nan }
        registry.gauge("autochain_storage_size_bytes", "Size in bytes of the filesystem of the data directory.")
            .sample { DiskSpace.read(dataDir)?.sizeBytes ?? .nan }
    }
}

/// Size and free space of the filesystem holding a path, from statvfs(3).
enum DiskSpace {
    static func read(_ path: String) -> (availableBytes: Double, sizeBytes: Double)? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        let fragment = Double(s.f_frsize)
        return (Double(s.f_bavail) * fragment, Double(s.f_blocks) * fragment)
    }
}

/// Resident memory and CPU time of this process, from /proc/self/stat.
enum ProcessStats {
    static func read() -> (residentBytes: Double, cpuSeconds: Double) {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return (0, 0) }
        // Fields after the command name; utime/stime are fields 14/15, rss is field 24 (1-based).
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 22 else { return (0, 0) }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let utime = Double(fields[11]) ?? 0
        let stime = Double(fields[12]) ?? 0
        let rss = Double(fields[21]) ?? 0
        return (rss * pageSize, (utime + stime) / max(ticks, 1))
    }
}

/// Request rate and CPU use over the last heartbeat interval.
final class LoadSampler: Sendable {
    private let last = Mutex<(at: Double, requests: UInt64, cpu: Double)?>(nil)

    func sample(requests: UInt64) -> (requestRate: Double, cpu: Double) {
        let now = Date().timeIntervalSince1970
        let cpu = ProcessStats.read().cpuSeconds
        return last.withLock { prev in
            defer { prev = (now, requests, cpu) }
            guard let p = prev, now > p.at else { return (0, 0) }
            let dt = now - p.at
            return (Double(requests &- p.requests) / dt, (cpu - p.cpu) / dt)
        }
    }
}
