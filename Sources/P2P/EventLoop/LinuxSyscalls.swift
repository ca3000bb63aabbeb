import Glibc

/// The Linux calls that Swift's `Glibc` module does not import (`sys/epoll.h`, `sys/eventfd.h`,
/// `accept4`). They are resolved once from the C library with `dlsym`; a missing symbol is a
/// broken platform and traps at first use.
enum LinuxSyscalls {
    typealias EpollCreate1 = @convention(c) (Int32) -> Int32
    typealias EpollCtl = @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32
    typealias EpollWait = @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32
    typealias EventFD = @convention(c) (UInt32, Int32) -> Int32
    typealias Accept4 = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?,
                                        UnsafeMutablePointer<socklen_t>?, Int32) -> Int32

    // Values from the Linux UAPI headers; identical on every Linux architecture we build for.
    static let epollIn: UInt32 = 0x001
    static let epollOut: UInt32 = 0x004
    static let epollErr: UInt32 = 0x008
    static let epollHup: UInt32 = 0x010
    static let epollRdHup: UInt32 = 0x2000
    static let epollCtlAdd: Int32 = 1
    static let epollCtlDel: Int32 = 2
    static let epollCtlMod: Int32 = 3
    static let closeOnExec: Int32 = 0o2000000  // EPOLL_CLOEXEC == EFD_CLOEXEC == O_CLOEXEC
    static let nonBlocking: Int32 = 0o4000  // EFD_NONBLOCK == SOCK_NONBLOCK == O_NONBLOCK

    /// `struct epoll_event` is packed on x86_64 (12 bytes) and naturally aligned elsewhere (16).
    #if arch(x86_64)
    static let epollEventStride = 12
    static let epollEventDataOffset = 4
    #else
    static let epollEventStride = 16
    static let epollEventDataOffset = 8
    #endif

    private static func symbol<F>(_ name: String, as type: F.Type) -> F {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, name) else {
            preconditionFailure("libc symbol \(name) is missing")
        }
        return unsafeBitCast(sym, to: type)
    }

    nonisolated(unsafe) static let epollCreate1 = symbol("epoll_create1", as: EpollCreate1.self)
    nonisolated(unsafe) static let epollCtl = symbol("epoll_ctl", as: EpollCtl.self)
    nonisolated(unsafe) static let epollWait = symbol("epoll_wait", as: EpollWait.self)
    nonisolated(unsafe) static let eventFD = symbol("eventfd", as: EventFD.self)
    nonisolated(unsafe) static let accept4 = symbol("accept4", as: Accept4.self)

    /// Writes one `epoll_event` into `buffer` at index `index`.
    static func storeEvent(_ buffer: UnsafeMutableRawPointer, index: Int, events: UInt32, data: UInt64) {
        let base = buffer + index * epollEventStride
        base.storeBytes(of: events, as: UInt32.self)
        base.storeBytes(of: data, toByteOffset: epollEventDataOffset, as: UInt64.self)
    }

    /// Reads one `epoll_event` from `buffer` at index `index`.
    static func loadEvent(_ buffer: UnsafeRawPointer, index: Int) -> (events: UInt32, data: UInt64) {
        let base = buffer + index * epollEventStride
        let events = base.loadUnaligned(as: UInt32.self)
        let data = base.loadUnaligned(fromByteOffset: epollEventDataOffset, as: UInt64.self)
        return (events, data)
    }

    /// CLOCK_MONOTONIC in nanoseconds: the only clock the loop's timers read.
    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        let rc = clock_gettime(CLOCK_MONOTONIC, &ts)
        precondition(rc == 0, "clock_gettime(CLOCK_MONOTONIC) failed")
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// The calling thread's `errno` as a readable string, for error messages.
    static func describe(errno code: Int32) -> String {
        String(cString: strerror(code))
    }
}
