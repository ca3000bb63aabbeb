import Chain
import Synchronization

/// Whether the node's disk takes writes, shared between the runtime thread (which finds out when
/// a write fails and when a retry succeeds) and the API and registry client (which report it).
///
/// Promises: `fault` is nil exactly while the last write attempt succeeded; while it is set the
/// node is degraded: it accepts no writes, answers reads, and is not ready.
final class StorageHealth: Sendable {
    /// Why the last write failed: `disk_full` (SQLITE_FULL) or `io_error` (another write error).
    struct Fault: Sendable, Equatable {
        let reason: String
        let code: String
        let message: String
    }

    private let current = Mutex<Fault?>(nil)

    var fault: Fault? { current.withLock { $0 } }

    /// Records a failed write; true when the node was healthy until now.
    @discardableResult
    func degrade(_ error: SQLiteError) -> Bool {
        let fault = Fault(reason: error.isDiskFull ? "disk_full" : "io_error", code: error.codeName, message: error.message)
        return current.withLock { f in
            defer { f = fault }
            return f == nil
        }
    }

    /// Records a successful write; true when the node was degraded until now.
    @discardableResult
    func recover() -> Bool {
        current.withLock { f in
            defer { f = nil }
            return f != nil
        }
    }
}

/// When the runtime tries a failed write again: soon at first, then less often, never slower
/// than `maxDelayMs`, so a node recovers within seconds of space coming back.
struct WriteRetryBackoff: Sendable {
    static let firstDelayMs = NodeSettings.Storage.writeRetryFirstDelayMs
    static let maxDelayMs = NodeSettings.Storage.writeRetryMaxDelayMs
    private(set) var attempts = 0
    private(set) var nextAttemptNs: UInt64

    init(failedAtNs: UInt64) {
        nextAttemptNs = failedAtNs + Self.firstDelayMs * 1_000_000
    }

    mutating func failedAgain(atNs now: UInt64) {
        attempts += 1
        let delayMs = min(Self.maxDelayMs, Self.firstDelayMs << UInt64(min(attempts, 16)))
        nextAttemptNs = now + delayMs * 1_000_000
    }
}
