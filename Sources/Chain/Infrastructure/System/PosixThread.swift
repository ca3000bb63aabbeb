import Glibc

/// Threads of our own, straight on pthreads. Foundation's `Thread` would do the same, but any use
/// of it links all of Foundation and its ICU data into the binary (about 44 MB of the image).
///
/// Promises: `start` runs `body` once on a new detached thread named `name` (as `top -H`, `perf`
/// and `/proc/<pid>/task/*/comm` show it, cut to the kernel's 15 bytes), or returns false when the
/// system has no thread to give (nothing runs then, and nothing leaks).
public enum PosixThread {
    /// The longest name Linux keeps for a thread (16 bytes with the terminating zero).
    public static let maxNameBytes = 15

    /// Starts `body` on a new detached thread; false when `pthread_create` refuses (EAGAIN: out of
    /// threads or memory).
    @discardableResult
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
        let context = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { raw in
            guard let raw else { return nil }
            let start = Unmanaged<Start>.fromOpaque(raw).takeRetainedValue()
            PosixThread.nameCurrent(start.name)
            start.body()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Start>.fromOpaque(context).release()
            return false
        }
        pthread_detach(handle)
        return true
    }

    /// Blocks the calling thread for `seconds` (nothing for zero, negative or not finite).
    public static func sleep(seconds: Double) {
        guard seconds.isFinite, seconds > 0 else { return }
        let whole = seconds.rounded(.towardZero)
        var request = timespec(tv_sec: Int(min(whole, Double(Int32.max))), tv_nsec: Int((seconds - whole) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    /// The calling thread's nice value (Linux keeps one per thread); nil when it cannot be read.
    public static var currentNice: Int32? {
        errno = 0
        let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)  // who 0: this thread
        return nice == -1 && errno != 0 ? nil : nice
    }

    /// Names the calling thread (cut to `maxNameBytes` on a character boundary).
    public static func nameCurrent(_ name: String) {
        var cut = ""
        for c in name {
            guard cut.utf8.count + String(c).utf8.count <= maxNameBytes else { break }
            cut.append(c)
        }
        _ = setName?(pthread_self(), cut)
    }

    /// What `start` hands the new thread.
    private final class Start {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) { self.name = name; self.body = body }
    }

    /// `pthread_setname_np`, which Swift's `Glibc` module does not import (a GNU extension);
    /// nil on a C library without it (threads then keep the process's name).
    private typealias SetName = @convention(c) (pthread_t, UnsafePointer<CChar>?) -> Int32
    private static let setName: SetName? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "pthread_setname_np") else { return nil }
        return unsafeBitCast(symbol, to: SetName.self)
    }()
}
