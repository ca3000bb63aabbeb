import Glibc
import Synchronization

/// One thread running an epoll loop: file-descriptor readiness, cross-thread tasks and timers.
///
/// Promises:
/// - Handlers registered with `register` and all work given to `execute`/`schedule` run on the
///   loop's own thread, one at a time, never concurrently with each other.
/// - `execute` may be called from any thread; it wakes the loop through an eventfd. Tasks run in
///   submission order. At most `maxPendingTasks` may wait; more is a programming error and traps.
/// - `shutdown()` stops the loop and joins its thread; tasks and timers still pending are dropped.
///
/// State touched by handlers lives on the loop; `@unchecked Sendable` is sound because every
/// loop-only member checks `preconditionInEventLoop()`, and cross-thread state is behind a `Mutex`.
public final class EventLoop: @unchecked Sendable, CustomStringConvertible {
    /// Readiness a handler asks for and receives.
    public struct IOEvents: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = IOEvents(rawValue: 1 << 0)
        public static let writable = IOEvents(rawValue: 1 << 1)
        /// The peer hung up (EPOLLHUP or EPOLLRDHUP); delivered whatever the interest.
        public static let hangup = IOEvents(rawValue: 1 << 2)
        /// A socket error is pending (EPOLLERR); delivered whatever the interest.
        public static let error = IOEvents(rawValue: 1 << 3)
    }

    /// One `epoll_wait` sleeps at most a minute, then the timers are looked at again (a far
    /// deadline must fit epoll's Int32 milliseconds).
    static let maxWaitSliceMs: UInt64 = 60_000

    /// A token for one registered descriptor. Ids are never reused, so a stale event for a
    /// closed and recycled fd can never reach the new owner's handler.
    public struct Registration: Hashable, Sendable {
        public let id: UInt64
        public let fd: Int32
    }

    /// Called on the loop with the events that fired.
    public typealias IOHandler = (IOEvents) -> Void

    /// Tasks that may wait for the loop at once (a stated bound on the cross-thread queue).
    public static let maxPendingTasks = 1_000_000
    /// Readiness events taken from the kernel per `epoll_wait`.
    public static let maxEventsPerWait = 256

    public let name: String
    private let epollFD: Int32
    private let wakeFD: Int32
    private let loopThread = Atomic<UInt>(0)
    private let pending = Mutex<(tasks: [@Sendable () -> Void], wakePending: Bool, stopped: Bool)>(([], false, false))
    private var thread: pthread_t?

    // Loop-only state (checked by preconditionInEventLoop in every accessor below).
    private var handlers: [UInt64: IOHandler] = [:]
    private var timers = TimerHeap<@Sendable () -> Void>()
    /// Work for the end of the current turn (`atEndOfTurn`).
    private var endOfTurn: [() -> Void] = []
    private var running = true
    /// Scratch space for socket reads, shared by every connection on this loop (loop thread only).
    private let readScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: EventLoop.readScratchBytes, alignment: 16)
    /// Bytes one `read(2)` may return into the shared scratch buffer.
    public static let readScratchBytes = 64 * 1024
    private let nextID = Atomic<UInt64>(1)

    /// Creates the epoll and eventfd descriptors; the loop thread starts with `start()`.
    public init(name: String = "event-loop") throws(SocketError) {
        self.name = name
        epollFD = LinuxSyscalls.epollCreate1(LinuxSyscalls.closeOnExec)
        guard epollFD >= 0 else { throw .system(call: "epoll_create1", errno: errno, address: nil) }
        wakeFD = LinuxSyscalls.eventFD(0, LinuxSyscalls.nonBlocking | LinuxSyscalls.closeOnExec)
        guard wakeFD >= 0 else {
            _ = close(epollFD)
            throw .system(call: "eventfd", errno: errno, address: nil)
        }
        var buffer = [UInt8](repeating: 0, count: LinuxSyscalls.epollEventStride)
        let rc = buffer.withUnsafeMutableBytes { raw in
            LinuxSyscalls.storeEvent(raw.baseAddress!, index: 0, events: LinuxSyscalls.epollIn, data: 0)
            return LinuxSyscalls.epollCtl(epollFD, LinuxSyscalls.epollCtlAdd, wakeFD, raw.baseAddress)
        }
        precondition(rc == 0, "epoll_ctl(ADD eventfd) on fresh descriptors cannot fail")
    }

    deinit {
        precondition(!inEventLoop, "an EventLoop cannot be released on its own thread")
        _ = close(wakeFD)
        _ = close(epollFD)
        readScratch.deallocate()
    }

    /// The loop's shared read buffer; its contents are valid only until the handler returns.
    func withReadScratch<R>(_ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
        preconditionInEventLoop()
        return body(readScratch)
    }

    public var description: String { "EventLoop(\(name))" }

    /// True when called on this loop's thread.
    public var inEventLoop: Bool {
        let owner = loopThread.load(ordering: .acquiring)
        return owner != 0 && owner == UInt(pthread_self())
    }

    /// Traps unless called on this loop's thread.
    public func preconditionInEventLoop(file: StaticString = #fileID, line: UInt = #line) {
        precondition(inEventLoop, "not on \(self)", file: file, line: line)
    }

    /// Starts the loop thread. Call once.
    public func start() {
        precondition(thread == nil, "EventLoop.start() called twice")
        let context = Unmanaged.passRetained(self).toOpaque()
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { raw in
            let loop = Unmanaged<EventLoop>.fromOpaque(raw!).takeRetainedValue()
            loop.run()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        thread = handle
    }

    /// Stops the loop after the current iteration and joins its thread. Call from another thread.
    public func shutdown() {
        precondition(!inEventLoop, "EventLoop.shutdown() would join its own thread")
        guard let handle = thread else { return }
        execute { [self] in running = false }
        _ = pthread_join(handle, nil)
        thread = nil
        pending.withLock { $0.stopped = true; $0.tasks.removeAll() }
    }

    /// Runs `work` on the loop thread, in submission order. Safe from any thread.
    /// Work submitted after `shutdown()` is dropped.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        let mustWake = pending.withLock { state -> Bool in
            if state.stopped { return false }
            precondition(state.tasks.count < Self.maxPendingTasks, "\(self): more than \(Self.maxPendingTasks) pending tasks")
            state.tasks.append(work)
            if state.wakePending { return false }
            state.wakePending = true
            return true
        }
        if mustWake {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, MemoryLayout<UInt64>.size)  // EAGAIN means already signalled
        }
    }

    /// Runs `work` on the loop once `delay` has passed, unless cancelled first. Safe from any thread.
    @discardableResult
    public func schedule(after delay: Duration, _ work: @escaping @Sendable () -> Void) -> ScheduledTimer {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let (seconds, attoseconds) = delay.components
        let delayNanos = UInt64(max(0, seconds)) &* 1_000_000_000 &+ UInt64(max(0, attoseconds / 1_000_000_000))
        let deadline = LinuxSyscalls.monotonicNanos() &+ delayNanos
        let timer = ScheduledTimer(loop: self, id: id)
        if inEventLoop {
            timers.insert(id: id, deadlineNanos: deadline, work: work)
        } else {
            execute { [self] in timers.insert(id: id, deadlineNanos: deadline, work: work) }
        }
        return timer
    }

    func cancelTimer(id: UInt64) {
        if inEventLoop {
            timers.cancel(id: id)
        } else {
            execute { [self] in timers.cancel(id: id) }
        }
    }

    /// Runs `work` on the loop once the current turn's readiness events, timers and tasks have
    /// been handled, before the loop waits again. Loop thread only; no wake-up is needed. For
    /// work that gathers what one turn produced and acts on it once (one `send` for several
    /// requests to one peer). Work added by end-of-turn work runs at the end of the next turn
    /// (which then does not wait).
    public func atEndOfTurn(_ work: @escaping () -> Void) {
        preconditionInEventLoop()
        endOfTurn.append(work)
    }

    // MARK: - Descriptors (loop thread only)

    /// Watches a non-blocking `fd`. The loop never closes it: the owner deregisters, then closes.
    public func register(fd: Int32, interest: IOEvents, handler: @escaping IOHandler) throws(SocketError) -> Registration {
        preconditionInEventLoop()
        precondition(fd >= 0, "register needs an open descriptor")
        let registration = Registration(id: nextID.wrappingAdd(1, ordering: .relaxed).oldValue, fd: fd)
        try control(LinuxSyscalls.epollCtlAdd, registration, interest)
        handlers[registration.id] = handler
        return registration
    }

    /// Changes what `registration` waits for.
    public func modify(_ registration: Registration, interest: IOEvents) throws(SocketError) {
        preconditionInEventLoop()
        precondition(handlers[registration.id] != nil, "modify of an unknown registration")
        try control(LinuxSyscalls.epollCtlMod, registration, interest)
    }

    /// Stops watching; pending events for it are discarded. Call before closing the fd.
    public func deregister(_ registration: Registration) {
        preconditionInEventLoop()
        guard handlers.removeValue(forKey: registration.id) != nil else { return }
        _ = try? control(LinuxSyscalls.epollCtlDel, registration, [])
    }

    private func control(_ op: Int32, _ registration: Registration, _ interest: IOEvents) throws(SocketError) {
        var mask: UInt32 = 0
        if interest.contains(.readable) { mask |= LinuxSyscalls.epollIn | LinuxSyscalls.epollRdHup }
        if interest.contains(.writable) { mask |= LinuxSyscalls.epollOut }
        var buffer = (UInt64(0), UInt64(0))  // 16 bytes: room for either epoll_event layout
        let rc = withUnsafeMutableBytes(of: &buffer) { raw in
            LinuxSyscalls.storeEvent(raw.baseAddress!, index: 0, events: mask, data: registration.id)
            return LinuxSyscalls.epollCtl(epollFD, op, registration.fd, raw.baseAddress)
        }
        guard rc == 0 else { throw .system(call: "epoll_ctl", errno: errno, address: "fd \(registration.fd)") }
    }

    // MARK: - The loop

    private func run() {
        loopThread.store(UInt(pthread_self()), ordering: .releasing)
        let capacity = Self.maxEventsPerWait * LinuxSyscalls.epollEventStride
        let events = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        defer {
            events.deallocate()
            handlers.removeAll()
            endOfTurn.removeAll()
            loopThread.store(0, ordering: .releasing)
        }
        while running {
            let count = LinuxSyscalls.epollWait(epollFD, events, Int32(Self.maxEventsPerWait), waitTimeoutMillis())
            if count < 0 {
                precondition(errno == EINTR, "epoll_wait failed: \(LinuxSyscalls.describe(errno: errno))")
                continue
            }
            for index in 0..<Int(count) {
                let (mask, id) = LinuxSyscalls.loadEvent(events, index: index)
                if id == 0 { drainWakeFD(); continue }
                guard let handler = handlers[id] else { continue }  // deregistered earlier in this batch
                handler(Self.ioEvents(mask))
            }
            runDueTimers()
            runPendingTasks()
            runEndOfTurn()
        }
    }

    private static func ioEvents(_ mask: UInt32) -> IOEvents {
        var result: IOEvents = []
        if mask & LinuxSyscalls.epollIn != 0 { result.insert(.readable) }
        if mask & LinuxSyscalls.epollOut != 0 { result.insert(.writable) }
        if mask & (LinuxSyscalls.epollHup | LinuxSyscalls.epollRdHup) != 0 { result.insert(.hangup) }
        if mask & LinuxSyscalls.epollErr != 0 { result.insert(.error) }
        return result
    }

    private func waitTimeoutMillis() -> Int32 {
        if !endOfTurn.isEmpty { return 0 }
        if pending.withLock({ !$0.tasks.isEmpty }) { return 0 }
        guard let deadline = timers.nextDeadline() else { return -1 }
        let now = LinuxSyscalls.monotonicNanos()
        if deadline <= now { return 0 }
        let millis = (deadline - now + 999_999) / 1_000_000  // round up: never wake before a deadline
        return Int32(min(millis, Self.maxWaitSliceMs))
    }

    private func drainWakeFD() {
        var value: UInt64 = 0
        _ = read(wakeFD, &value, MemoryLayout<UInt64>.size)
    }

    private func runDueTimers() {
        let now = LinuxSyscalls.monotonicNanos()
        // Bound: only timers due now; a timer scheduling another timer waits for the next turn.
        var budget = timers.count
        while budget > 0, let work = timers.popDue(nowNanos: now) {
            budget -= 1
            work()
        }
    }

    private func runEndOfTurn() {
        guard !endOfTurn.isEmpty else { return }
        let batch = endOfTurn
        endOfTurn = []
        for work in batch { work() }  // work added meanwhile runs at the end of the next turn
    }

    private func runPendingTasks() {
        let batch = pending.withLock { state -> [@Sendable () -> Void] in
            state.wakePending = false
            defer { state.tasks.removeAll(keepingCapacity: true) }
            return state.tasks
        }
        for task in batch { task() }  // tasks submitted meanwhile run on the next turn
    }
}

/// A timer created by `EventLoop.schedule`; cancelling is safe from any thread and idempotent.
/// A cancel that races with the timer firing may lose: the work then runs once.
public struct ScheduledTimer: Sendable {
    let loop: EventLoop
    let id: UInt64

    public func cancel() { loop.cancelTimer(id: id) }
}
