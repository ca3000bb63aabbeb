import Chain
import FoundationEssentials
import Glibc
import P2P
import Synchronization

/// A node's `http://host:port` URL taken apart without a name lookup: the discovery list and the
/// registry URL are checked with it, so a name that is missing for a moment (a Swarm task
/// restarting) neither drops the node from the list nor stops the gateway from starting.
public struct GatewayNodeURL: Sendable, Equatable {
    public let host: String
    public let port: UInt16
    /// `host:port` as written, for the `Host` header.
    public let hostHeader: String
    /// The host is an IP literal or `localhost`: making its address needs no lookup.
    public let isLiteral: Bool

    /// Nil unless `text` is `http://host[:port][/...]` with a non-empty host and a valid port.
    public init?(parsing text: String) {
        guard text.hasPrefix("http://") else { return nil }
        var authority = Substring(text.dropFirst("http://".count))
        if let slash = authority.firstIndex(of: "/") { authority = authority[..<slash] }
        guard !authority.isEmpty, authority.utf8.count <= 300 else { return nil }
        var hostPart = authority
        var port: UInt16 = 80
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            let portText = authority[authority.index(after: colon)...]
            guard portText.count <= 5, let parsed = UInt16(portText) else { return nil }
            hostPart = authority[..<colon]
            port = parsed
        }
        if hostPart.hasPrefix("["), hostPart.hasSuffix("]") { hostPart = hostPart.dropFirst().dropLast() }
        guard !hostPart.isEmpty, hostPart.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") }) else { return nil }
        host = String(hostPart)
        self.port = port
        hostHeader = String(authority)
        var v4 = in_addr(), v6 = in6_addr()
        isLiteral = host == "localhost" || inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

/// The addresses node URLs point to, looked up on threads of their own, never on an event loop:
/// `getaddrinfo` for a name that is missing (a Swarm task restarting, DNS out of reach) blocks
/// for seconds, and a loop waiting on it would hold every request it serves.
///
/// Promises: an address is kept per URL until `forget` (a connection to it failed, or the
/// registry's entry for the node changed) or until the URL leaves the node list (`keepOnly`), so
/// a node that comes back at a new address behind the same name is found again. At most
/// `maxNamesResolving` names are looked up at once, each once however many wait for it; the
/// table holds at most `maxNames` URLs. A failed lookup is not kept: the next request asks again.
final class GatewayResolver: Sendable {
    /// A name lookup (blocking); tests put their own names in.
    typealias Lookup = @Sendable (_ host: String, _ port: UInt16) -> Result<SocketAddress, SocketError>
    /// Told the outcome of a lookup, on the lookup's thread.
    typealias Answer = @Sendable (Result<SocketAddress, HTTPClientError>) -> Void

    /// Names being looked up at once, at most; a request for another waits for none and fails
    /// over to the next node (like the peer network's `PeerHost.maxNamesResolving`).
    static let maxNamesResolving = 64

    /// The system resolver (`getaddrinfo`, IPv4 first).
    static let systemLookup: Lookup = { host, port in
        Result { () throws(SocketError) -> SocketAddress in try SocketAddress(host: host, port: port) }
    }

    private struct Table {
        var addresses: [String: SocketAddress] = [:]
        var waiting: [String: [Answer]] = [:]
    }

    private let table = Mutex(Table())
    private let lookup: Lookup
    private let maxNames: Int

    init(maxNames: Int, lookup: @escaping Lookup = GatewayResolver.systemLookup) {
        precondition(maxNames > 0)
        self.maxNames = maxNames
        self.lookup = lookup
    }

    /// The address `url` points to when known now (an IP literal, or a name already looked up).
    func known(_ url: GatewayNodeURL, _ text: String) -> SocketAddress? {
        if url.isLiteral { return try? SocketAddress(host: url.host, port: url.port) }
        return table.withLock { $0.addresses[text] }
    }

    /// Looks `url`'s name up off the caller's thread and tells `answer` (on that thread). A name
    /// already being looked up gets `answer` added to its waiters; past `maxNamesResolving`
    /// names, `answer` is told at once that the lookup could not start.
    func resolve(_ url: GatewayNodeURL, _ text: String, answer: @escaping Answer) {
        enum Next { case known(SocketAddress), joined, start, busy }
        let next = table.withLock { t -> Next in
            if let address = t.addresses[text] { return .known(address) }
            if t.waiting[text] != nil { t.waiting[text]?.append(answer); return .joined }
            guard t.waiting.count < Self.maxNamesResolving else { return .busy }
            t.waiting[text] = [answer]
            return .start
        }
        switch next {
        case .known(let address): answer(.success(address))
        case .joined: return
        case .busy: answer(.failure(.io(.invalidAddress(text, reason: "\(Self.maxNamesResolving) names are being looked up already"))))
        case .start:
            // A thread per name (at most `maxNamesResolving`): one name that blocks for seconds
            // must not queue the others behind it, as a dispatch queue of CPU width would.
            let started = PosixThread.start(name: "gateway-resolve") { [self] in finish(text, lookup(url.host, url.port)) }
            if !started { finish(text, .failure(.invalidAddress(text, reason: "no thread to look the name up"))) }
        }
    }

    private func finish(_ text: String, _ result: Result<SocketAddress, SocketError>) {
        let waiters = table.withLock { t -> [Answer] in
            if case .success(let address) = result, t.addresses[text] != nil || t.addresses.count < maxNames {
                t.addresses[text] = address
            }
            return t.waiting.removeValue(forKey: text) ?? []
        }
        for answer in waiters { answer(result.mapError { .io($0) }) }  // bound: one per event loop
    }

    /// Drops `text`'s address: the next request looks the name up again.
    func forget(_ text: String) {
        table.withLock { _ = $0.addresses.removeValue(forKey: text) }
    }

    /// Drops the addresses of URLs not in `urls` (nodes no longer listed).
    func keepOnly(_ urls: Set<String>) {
        table.withLock { t in t.addresses = t.addresses.filter { urls.contains($0.key) } }
    }

    /// URLs with an address now (tests check the table's bound with it).
    var knownCount: Int { table.withLock { $0.addresses.count } }
}
