import Dispatch

/// Which threads win a core when both are ready. The runtime thread (Raft, block cuts, the SQLite
/// commit every acknowledged transfer waits for) and the event loops are threads of their own and
/// run at the process's priority. Bulk work runs on libdispatch's pool at `bulk` QoS: verifying
/// the signatures of submissions and of replicated and synced blocks, the API's work queue,
/// forwarded transfers, serving peers' block requests. libdispatch on Linux gives its utility
/// threads nice 2, so when the cores are short the commit path goes first and the bulk work
/// waits its turn (`WorkPriorityTests` checks the mapping). The one piece of pool work on the
/// commit path, a follower's entry door (it decodes the leader's appends before the runtime may
/// store and acknowledge them), runs at `path` QoS, nice 0 like the runtime.
///
/// Why: the bulk queues were at userInitiated QoS, which libdispatch runs at nice -2 when the
/// process may raise priorities (as root, as `autochain up` and the image run it): above the
/// runtime thread, a priority inversion by construction. Measured on two cores at half the
/// one-node peak, the runtime thread waited for a core 0.7-1.8 s in each 7.7 s paced run (its
/// `/proc` schedstat), mostly behind the client sharing the machine, so this change alone did not
/// move that wait or the p99 beyond the noise there (docs/BENCHMARKS.md, "Who gets the core").
///
/// Limit: libdispatch sets these nice values absolutely, not relative to the process. Under
/// `nice -n 10` an unprivileged node runs every thread at 10 (no order, no inversion); a root
/// node started that way gets its pool threads lowered to 2 and 0 while the runtime stays at
/// 10, the inversion again. Run the node at the default priority.
enum WorkPriority {
    /// The QoS of every queue that verifies signatures or serves requests in bulk.
    static let bulk: DispatchQoS = .utility
    /// The QoS of pool work on the commit path itself: the entry door, which decodes a leader's
    /// appends before this follower can store and acknowledge them (nice 0, as the runtime).
    static let path: DispatchQoS = .default
}
