import Dispatch
import Glibc
import Synchronization

/// A program run as a child process with `posix_spawn` and reaped by a thread of its own: what
/// Foundation's `Process` did here, without linking Foundation and its ICU data (about 44 MB).
///
/// Promises, as `Process` kept them: the child gets `arguments` after its path as `argv[0]` and
/// exactly `environment`; its standard output and error go to `output` (standard input stays the
/// parent's); it inherits no other descriptor; it runs in a process group of its own (a Ctrl-C at
/// the terminal reaches the parent, which stops its children itself). It also starts with no
/// signal blocked, whatever the spawning thread blocks. Once it has exited, `isRunning` is false,
/// `exitStatus` is set and `onExit` is called on the reaping thread.
public final class ChildProcess: Sendable {
    /// Where the child's standard output and standard error go.
    public enum Output: Sendable {
        /// The parent's own.
        case inherited
        /// One file for both, made when missing: from its start (`truncate`) or after what it holds.
        case file(path: String, truncate: Bool)
    }

    /// The child's process ID.
    public let pid: Int32
    /// Its exit code, or the number of the signal that ended it; nil while it runs.
    private let status = Mutex<Int32?>(nil)
    /// Signalled once it has exited; each waiter passes the signal on to the next.
    private let exited = DispatchSemaphore(value: 0)

    private init(pid: Int32) { self.pid = pid }

    /// Starts `executable`; throws when the output file cannot be opened or the system refuses
    /// the process (no such file, not executable, out of processes).
    public static func spawn(executable: String, arguments: [String], environment: [String: String],
                             output: Output = .inherited,
                             onExit: (@Sendable (Int32) -> Void)? = nil) throws(ChildProcessError) -> ChildProcess {
        guard let closeFrom = addCloseFrom else { throw .unsupported("posix_spawn_file_actions_addclosefrom_np (glibc 2.34)") }
        var outputFD: Int32 = -1
        if case .file(let path, let truncate) = output {
            outputFD = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND), 0o644)
            guard outputFD >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        }
        defer { if outputFD >= 0 { close(outputFD) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if outputFD >= 0 {
            posix_spawn_file_actions_adddup2(&actions, outputFD, StandardStream.output.rawValue)
            posix_spawn_file_actions_adddup2(&actions, outputFD, StandardStream.error.rawValue)
        }
        _ = closeFrom(&actions, StandardStream.error.rawValue + 1)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK))

        let argv = CStrings([executable] + arguments)
        let envp = CStrings(environment.map { "\($0.key)=\($0.value)" })
        var pid: pid_t = 0
        let rc = argv.withPointers { a in envp.withPointers { e in posix_spawn(&pid, executable, &actions, &attributes, a, e) } }
        guard rc == 0 else { throw .spawnFailed(path: executable, errno: rc) }

        let child = ChildProcess(pid: pid)
        guard PosixThread.start(name: "reap-\(pid)", { child.reap(onExit) }) else {
            Glibc.kill(pid, SIGKILL)
            child.reap(nil)
            throw .spawnFailed(path: executable, errno: EAGAIN)
        }
        return child
    }

    /// True until the child has exited and been reaped.
    public var isRunning: Bool { status.withLock { $0 == nil } }

    /// Its exit code, or the number of the signal that ended it; nil while it runs.
    public var exitStatus: Int32? { status.withLock { $0 } }

    /// Sends `signal` (SIGTERM unless told) while the child runs; nothing once it has exited.
    public func signal(_ signal: Int32 = SIGTERM) {
        status.withLock { if $0 == nil { _ = Glibc.kill(pid, signal) } }
    }

    /// Blocks until the child has exited.
    public func waitUntilExit() {
        exited.wait()
        exited.signal()
    }

    /// Blocks until the child has exited or `seconds` have passed; true when it has exited.
    public func waitUntilExit(seconds: Double) -> Bool {
        let ns = seconds.isFinite ? UInt64(max(0, min(seconds, 86_400)) * 1e9) : 0
        guard exited.wait(timeout: .now() + .nanoseconds(Int(ns))) == .success else { return false }
        exited.signal()
        return true
    }

    /// Waits for the child's exit (the reaping thread's whole life), then records and reports it.
    private func reap(_ onExit: (@Sendable (Int32) -> Void)?) {
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        // <sys/wait.h>'s macros, which Swift does not import: the low 7 bits are the signal that
        // ended the child (0 when it exited), the next 8 its exit code.
        let signalNumber = raw & 0x7f
        let code = signalNumber == 0 ? (raw >> 8) & 0xff : signalNumber
        status.withLock { $0 = code }
        exited.signal()
        onExit?(code)
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's `Glibc`
    /// module does not import (a GNU extension).
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()
}

/// Why a child process could not be started.
public enum ChildProcessError: Error, Sendable, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, errno: Int32)
    case spawnFailed(path: String, errno: Int32)
    case unsupported(String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let code): "cannot open \(path): \(Self.reason(code))"
        case .spawnFailed(let path, let code): "cannot start \(path): \(Self.reason(code))"
        case .unsupported(let what): "this C library lacks \(what)"
        }
    }

    private static func reason(_ code: Int32) -> String { String(cString: strerror(code)) + " (errno \(code))" }
}

/// A NULL-terminated array of C strings, as `argv` and `envp` are, freed with it.
private final class CStrings {
    private var pointers: [UnsafeMutablePointer<CChar>?]

    init(_ strings: [String]) { pointers = strings.map { strdup($0) } + [nil] }

    deinit { for p in pointers { free(p) } }

    func withPointers<R>(_ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
