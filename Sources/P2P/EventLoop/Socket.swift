import Glibc

/// Thin wrappers around the BSD socket calls the loop and the blocking client need.
///
/// Every function works on raw descriptors and returns typed errors; ownership of a descriptor
/// stays with the caller (`TCPListener`, `TCPConnection`, `HTTPClient`), which closes it exactly once.
public enum Socket {
    /// Backlog for `listen(2)`; the kernel caps it at `net.core.somaxconn`.
    public static let listenBacklog: Int32 = 1024

    /// `address` with a concrete port: port 0 is replaced by one the OS hands out (bound and released
    /// at once, so others can be told the port before the real listener starts).
    public static func concretePort(_ address: SocketAddress) throws(SocketError) -> SocketAddress {
        guard address.port == 0 else { return address }
        let (fd, bound) = try listen(on: address)
        _ = close(fd)
        return address.withPort(bound.port ?? 0)
    }

    /// True when nothing listens on the TCP `address` now (binding it would succeed).
    public static func isFree(_ address: SocketAddress) -> Bool {
        if case .unix = address { preconditionFailure("isFree is for TCP addresses (binding a Unix path replaces its file)") }
        guard let (fd, _) = try? listen(on: address) else { return false }
        _ = close(fd)
        return true
    }

    /// Creates a non-blocking, close-on-exec stream socket bound to `address` and listening.
    /// Sets SO_REUSEADDR (and SO_REUSEPORT when asked). Returns the fd and the bound address,
    /// so port 0 reports the port the kernel chose. A stale Unix socket file is replaced.
    public static func listen(on address: SocketAddress, reusePort: Bool = false) throws(SocketError) -> (fd: Int32, bound: SocketAddress) {
        let fd = try makeSocket(family: address.family, nonBlocking: true)
        do throws(SocketError) {
            if case .unix(let path) = address {
                _ = unlink(path)  // a previous run's socket file; ENOENT is the normal case
            } else {
                try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)")
                if reusePort { try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)") }
            }
            let rc = address.withSockAddr { Glibc.bind(fd, $0, $1) }
            guard rc == 0 else { throw SocketError.system(call: "bind", errno: errno, address: address.description) }
            guard Glibc.listen(fd, listenBacklog) == 0 else {
                throw SocketError.system(call: "listen", errno: errno, address: address.description)
            }
            return (fd, try localAddress(of: fd))
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
    }

    /// Accepts one pending connection as a non-blocking, close-on-exec fd.
    /// Returns nil when nothing is pending (EAGAIN) or the peer already left (ECONNABORTED).
    public static func accept(_ listener: Int32) throws(SocketError) -> (fd: Int32, remote: SocketAddress?)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                LinuxSyscalls.accept4(listener, $0, &length, LinuxSyscalls.nonBlocking | LinuxSyscalls.closeOnExec)
            }
        }
        if fd < 0 {
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK || code == ECONNABORTED || code == EINTR { return nil }
            throw .system(call: "accept4", errno: code, address: nil)
        }
        let remote = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress(sockaddr: $0) }
        }
        return (fd, remote)
    }

    /// Starts a connect. Returns the fd and whether the connection is already established
    /// (loopback and Unix sockets often are); otherwise wait for writability and call `connectResult`.
    public static func startConnect(to address: SocketAddress, nonBlocking: Bool = true) throws(SocketError) -> (fd: Int32, connected: Bool) {
        let fd = try makeSocket(family: address.family, nonBlocking: nonBlocking)
        let rc = address.withSockAddr { Glibc.connect(fd, $0, $1) }
        if rc == 0 { return (fd, true) }
        let code = errno
        if code == EINPROGRESS || code == EAGAIN { return (fd, false) }
        _ = Glibc.close(fd)
        if code == ECONNREFUSED || code == ENOENT { throw .connectionRefused(address.description) }
        throw .system(call: "connect", errno: code, address: address.description)
    }

    /// The outcome of a non-blocking connect once the fd became writable (SO_ERROR).
    public static func connectResult(_ fd: Int32, address: SocketAddress) -> SocketError? {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else {
            return .system(call: "getsockopt(SO_ERROR)", errno: errno, address: address.description)
        }
        if code == 0 { return nil }
        if code == ECONNREFUSED { return .connectionRefused(address.description) }
        return .system(call: "connect", errno: code, address: address.description)
    }

    /// Disables Nagle's algorithm; a no-op error on Unix sockets is ignored.
    public static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// The address a socket is bound to.
    public static func localAddress(of fd: Int32) throws(SocketError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { throw .system(call: "getsockname", errno: errno, address: nil) }
        let parsed = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress(sockaddr: $0) }
        }
        guard let address = parsed else { throw .invalidAddress("fd \(fd)", reason: "unknown address family") }
        return address
    }

    /// Makes SIGPIPE harmless for the whole process. We also send with MSG_NOSIGNAL; this covers
    /// any write path we do not own. Idempotent.
    public static func ignoreSIGPIPE() {
        _ = signal(SIGPIPE, SIG_IGN)
    }

    private static func makeSocket(family: Int32, nonBlocking: Bool) throws(SocketError) -> Int32 {
        var type = Int32(SOCK_STREAM.rawValue) | LinuxSyscalls.closeOnExec
        if nonBlocking { type |= LinuxSyscalls.nonBlocking }
        let fd = socket(family, type, 0)
        guard fd >= 0 else { throw .system(call: "socket", errno: errno, address: nil) }
        return fd
    }

    private static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ what: String) throws(SocketError) {
        var v = value
        guard setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw .system(call: what, errno: errno, address: nil)
        }
    }
}
