import Synchronization

/// The server-wide shares of an `HTTPServer` that every loop draws on: open connections, open
/// connections per client address, and request body bytes in flight. Promises: each check is
/// O(1); bodies cost one atomic add per read (no lock on the request path); the per-address map
/// is touched only at accept and close, and holds only addresses with an open connection.
final class HTTPServerBudget: Sendable {
    let settings: HTTPServerSettings
    /// Open connections across all loops.
    let connections = Atomic<Int>(0)
    private let bodyBytes = Atomic<Int>(0)
    private let perAddress = Mutex<[String: Int]>([:])
    private let refusedPerAddress = Atomic<UInt64>(0)
    private let refusedBodies = Atomic<UInt64>(0)

    init(settings: HTTPServerSettings) { self.settings = settings }

    /// Takes a connection slot for `address`; false (and counted) when it already holds
    /// `maxConnectionsPerAddress`. Addresses without a host (Unix sockets) are not limited.
    func admit(address: String?) -> Bool {
        guard let address else { return true }
        let admitted = perAddress.withLock { map -> Bool in
            let held = map[address, default: 0]
            guard held < settings.maxConnectionsPerAddress else { return false }
            map[address] = held + 1
            return true
        }
        if !admitted { refusedPerAddress.wrappingAdd(1, ordering: .relaxed) }
        return admitted
    }

    /// Gives back the slot `admit` took.
    func release(address: String?) {
        guard let address else { return }
        perAddress.withLock { map in
            let held = map[address, default: 0]
            if held <= 1 { map[address] = nil } else { map[address] = held - 1 }
        }
    }

    /// Reserves `bytes` of the body budget; false (and counted) when that would exceed it.
    func reserveBody(_ bytes: Int) -> Bool {
        guard bytes > 0 else { return true }
        let after = bodyBytes.wrappingAdd(bytes, ordering: .relaxed).newValue
        guard after <= settings.maxBodyBytesInFlight else {
            bodyBytes.wrappingSubtract(bytes, ordering: .relaxed)
            refusedBodies.wrappingAdd(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func releaseBody(_ bytes: Int) {
        if bytes > 0 { bodyBytes.wrappingSubtract(bytes, ordering: .relaxed) }
    }

    var stats: HTTPServerStats {
        HTTPServerStats(connections: connections.load(ordering: .relaxed),
                        bodyBytesInFlight: bodyBytes.load(ordering: .relaxed),
                        refusedConnectionsPerAddress: refusedPerAddress.load(ordering: .relaxed),
                        refusedBodiesOverBudget: refusedBodies.load(ordering: .relaxed))
    }
}

/// A snapshot of an `HTTPServer`'s shared limits, for metrics.
public struct HTTPServerStats: Sendable, Equatable {
    public let connections: Int
    public let bodyBytesInFlight: Int
    /// Connections closed at accept because their address held `maxConnectionsPerAddress`.
    public let refusedConnectionsPerAddress: UInt64
    /// Requests refused because the body budget (`maxBodyBytesInFlight`) was spent.
    public let refusedBodiesOverBudget: UInt64
}
