import Glibc

/// An address a socket can bind or connect to: IPv4, IPv6 or a Unix domain socket path.
///
/// Parsing accepts `127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`, `0.0.0.0:0`, a host name
/// (resolved once, blocking, through `getaddrinfo`), and Unix paths (`/var/run/docker.sock`,
/// `unix:/tmp/x.sock`). `description` formats back to the same forms, so it round-trips.
public enum SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// An IPv4 address; `host` is the dotted-quad form.
    case ipv4(host: String, port: UInt16)
    /// An IPv6 address; `host` is the canonical textual form without brackets.
    case ipv6(host: String, port: UInt16)
    /// A Unix domain socket path (at most 107 bytes, the size of `sun_path` minus the NUL).
    case unix(path: String)

    /// The longest Unix socket path `sockaddr_un` can carry.
    public static let maxUnixPathBytes = 107

    /// Parses `host:port`, `[v6]:port` or a Unix path. Throws `SocketError.invalidAddress`.
    public init(parsing text: String) throws(SocketError) {
        if text.hasPrefix("unix:") {
            self = try Self.unixPath(String(text.dropFirst("unix:".count)), original: text)
            return
        }
        if text.hasPrefix("/") || text.hasPrefix("./") {
            self = try Self.unixPath(text, original: text)
            return
        }
        let (host, port) = try Self.splitHostPort(text)
        self = try Self.resolve(host: host, port: port, original: text)
    }

    /// Builds an address from an IP literal and port, or a host name resolved with `getaddrinfo`.
    public init(host: String, port: UInt16) throws(SocketError) {
        self = try Self.resolve(host: host, port: port, original: "\(host):\(port)")
    }

    /// The port, or nil for Unix sockets.
    public var port: UInt16? {
        switch self {
        case .ipv4(_, let port), .ipv6(_, let port): return port
        case .unix: return nil
        }
    }

    /// The same address with another port (Unix addresses are returned unchanged).
    public func withPort(_ newPort: UInt16) -> SocketAddress {
        switch self {
        case .ipv4(let host, _): return .ipv4(host: host, port: newPort)
        case .ipv6(let host, _): return .ipv6(host: host, port: newPort)
        case .unix: return self
        }
    }

    /// The host part alone (the client's IP for an accepted TCP connection), nil for Unix paths:
    /// the key of per-address limits.
    public var hostKey: String? {
        switch self {
        case .ipv4(let host, _), .ipv6(let host, _): return host
        case .unix: return nil
        }
    }

    public var description: String {
        switch self {
        case .ipv4(let host, let port): return "\(host):\(port)"
        case .ipv6(let host, let port): return "[\(host)]:\(port)"
        case .unix(let path): return path.hasPrefix("/") ? path : "unix:\(path)"
        }
    }

    var family: Int32 {
        switch self {
        case .ipv4: return AF_INET
        case .ipv6: return AF_INET6
        case .unix: return AF_UNIX
        }
    }

    // MARK: - Parsing

    private static func unixPath(_ path: String, original: String) throws(SocketError) -> SocketAddress {
        guard !path.isEmpty, path.utf8.count <= maxUnixPathBytes, !path.utf8.contains(0) else {
            throw .invalidAddress(original, reason: "Unix socket path must be 1...\(maxUnixPathBytes) bytes")
        }
        return .unix(path: path)
    }

    private static func splitHostPort(_ text: String) throws(SocketError) -> (String, UInt16) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw .invalidAddress(text, reason: "missing ']' after IPv6 address")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .invalidAddress(text, reason: "missing ':port'") }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw .invalidAddress(text, reason: "missing ':port'")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard !host.contains(":") else {
                throw .invalidAddress(text, reason: "IPv6 addresses must be written [addr]:port")
            }
        }
        guard !host.isEmpty else { throw .invalidAddress(text, reason: "empty host") }
        guard portText.count <= 5, let port = UInt16(portText) else {
            throw .invalidAddress(text, reason: "port must be 0...65535")
        }
        return (String(host), port)
    }

    private static func resolve(host: String, port: UInt16, original: String) throws(SocketError) -> SocketAddress {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return .ipv4(host: host, port: port) }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return .ipv6(host: formatIPv6(v6), port: port)
        }
        if host == "localhost" { return .ipv4(host: "127.0.0.1", port: port) }
        return try lookUp(host: host, port: port, original: original)
    }

    /// Resolves a host name, preferring IPv4 (containers and test hosts rarely route IPv6).
    private static func lookUp(host: String, port: UInt16, original: String) throws(SocketError) -> SocketAddress {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &list)
        guard rc == 0, let first = list else {
            throw .invalidAddress(original, reason: "cannot resolve host '\(host)'")
        }
        defer { freeaddrinfo(list) }
        var found: SocketAddress?
        var node: UnsafeMutablePointer<addrinfo>? = first
        var visited = 0
        while let current = node, visited < 64 {  // bound: a resolver answer is a short list
            visited += 1
            if let addr = current.pointee.ai_addr, let parsed = SocketAddress(sockaddr: addr) {
                if case .ipv4 = parsed { found = parsed; break }
                if found == nil { found = parsed }
            }
            node = current.pointee.ai_next
        }
        guard let address = found else {
            throw .invalidAddress(original, reason: "no usable address for '\(host)'")
        }
        return address.withPort(port)
    }

    private static func formatIPv6(_ address: in6_addr) -> String {
        var copy = address
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = inet_ntop(AF_INET6, &copy, &buffer, socklen_t(buffer.count)) != nil
        precondition(ok, "inet_ntop(AF_INET6) cannot fail with a buffer of INET6_ADDRSTRLEN")
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: - sockaddr conversion

    /// Reads a kernel-filled `sockaddr`; nil for families we do not speak.
    init?(sockaddr pointer: UnsafePointer<sockaddr>) {
        switch Int32(pointer.pointee.sa_family) {
        case AF_INET:
            let sin = UnsafeRawPointer(pointer).loadUnaligned(as: sockaddr_in.self)
            var addr = sin.sin_addr
            var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            guard inet_ntop(AF_INET, &addr, &buffer, socklen_t(buffer.count)) != nil else { return nil }
            let host = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            self = .ipv4(host: host, port: UInt16(bigEndian: sin.sin_port))
        case AF_INET6:
            let sin6 = UnsafeRawPointer(pointer).loadUnaligned(as: sockaddr_in6.self)
            self = .ipv6(host: Self.formatIPv6(sin6.sin6_addr), port: UInt16(bigEndian: sin6.sin6_port))
        case AF_UNIX:
            let sun = UnsafeRawPointer(pointer).loadUnaligned(as: sockaddr_un.self)
            let path = withUnsafeBytes(of: sun.sun_path) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            self = .unix(path: path)
        default:
            return nil
        }
    }

    /// Calls `body` with this address as a `sockaddr` and its length.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var storage = sockaddr_storage()
        let length: Int
        switch self {
        case .ipv4(let host, let port):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            let ok = inet_pton(AF_INET, host, &sin.sin_addr) == 1
            precondition(ok, "SocketAddress.ipv4 holds a valid literal by construction")
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sin, as: sockaddr_in.self) }
            length = MemoryLayout<sockaddr_in>.size
        case .ipv6(let host, let port):
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            let ok = inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1
            precondition(ok, "SocketAddress.ipv6 holds a valid literal by construction")
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sin6, as: sockaddr_in6.self) }
            length = MemoryLayout<sockaddr_in6>.size
        case .unix(let path):
            var sun = sockaddr_un()
            sun.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            precondition(bytes.count <= Self.maxUnixPathBytes, "Unix path length checked at parse")
            withUnsafeMutableBytes(of: &sun.sun_path) { raw in
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sun, as: sockaddr_un.self) }
            length = MemoryLayout<sa_family_t>.size + bytes.count + 1
        }
        return withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(length)) }
        }
    }
}
