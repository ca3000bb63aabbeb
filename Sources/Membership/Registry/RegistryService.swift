import Chain
import Dispatch
import FoundationEssentials
import Glibc
import P2P
import Synchronization

/// The registry: node discovery, health (heartbeats plus active probes), and the shell around
/// `RegistryCore` — it parses and checks requests, gathers the provider's facts, feeds them to
/// the core with the time, and performs the effects the core returns.
/// Soft state only: restarted, it rebuilds itself from heartbeats and, during a grace period,
/// takes no action against nodes it has not heard from yet.
public final class RegistryService: Sendable {
    public let settings: RegistrySettings
    let provider: any NodeProvider
    let state: Mutex<RegistryState>
    let metrics = RegistryMetrics()
    /// The dashboard's time series and decision marks (`GET /series`); bounded rings.
    let series: Mutex<RegistrySeries>
    let startedAt: Double
    private let server = Mutex<HTTPServer?>(nil)
    private let stopping = Atomic<Bool>(false)
    private let loopDone = DispatchSemaphore(value: 0)
    /// Signalled when something the autoscaler acts on changed (a process exit, a new verified
    /// membership): the decide loop runs a round at once instead of at its next tick.
    private let decideWake = DispatchSemaphore(value: 0)
    let chainDone = DispatchSemaphore(value: 0)
    let actions = DispatchQueue(label: "registry-actions", attributes: .concurrent)
    let probes = DispatchQueue(label: "registry-probes", attributes: .concurrent)
    let log = Logger(component: "registry")
    let boundAddress = Mutex<String>("")

    public init(settings: RegistrySettings, provider: any NodeProvider) {
        self.settings = settings
        self.provider = provider
        startedAt = Self.now()
        // Incarnations issued by this registry start above any an earlier run of it issued
        // (fencing): the wall clock in ms at start, as a restarted registry remembers nothing.
        let floor = UInt64(max(1, Date().timeIntervalSince1970 * 1000))
        state = Mutex(RegistryState(core: RegistryCore(settings: settings.coreSettings, startedAt: startedAt, incarnationFloor: floor)))
        series = Mutex(RegistrySeries(intervalS: Double(settings.seriesIntervalS), points: settings.seriesPoints,
                                      maxMarks: settings.seriesMaxMarks))
        provider.onExit { [weak self] id, status in self?.processExited(id, status: status) }
    }

    /// Seconds on a monotonic clock.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Starts the REST API and the decide loop; returns the bound address.
    public func start() throws -> SocketAddress {
        var http = HTTPServerSettings()
        http.defaultMaxBodyBytes = 64 * 1024
        let s = HTTPServer(settings: http) { [self] request, responder in handle(request, responder) }
        let bound = try s.start(bindTo: try SocketAddress(parsing: settings.addr))
        server.withLock { $0 = s }
        boundAddress.withLock { $0 = "\(bound)" }
        record(.registryStarted, nil, "registry listening on \(bound) with the \(provider.name) provider; " +
               "grace period \(Int(settings.autoscaler.gracePeriodS)) s before acting on nodes not yet heard from")
        PosixThread.start(name: "registry-decide") { [self] in decideLoop() }
        PosixThread.start(name: "registry-chain") { [self] in chainLoop() }
        return bound
    }

    public func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        decideWake.signal()
        _ = loopDone.wait(timeout: .now() + .seconds(settings.stopWaitDecideS))
        _ = chainDone.wait(timeout: .now() + .seconds(settings.stopWaitChainS))
        server.withLock { $0 }?.stop()
    }

    /// The incarnation of a start the shell performs outside the core's effects (resuming the
    /// provider's nodes at registry start): fresh, like every start (fencing).
    public func issueIncarnation(for id: String) -> UInt64 {
        state.withLock { $0.core.issueIncarnation(for: id) }
    }

    var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    /// Records an event of `kind` unless one of that kind was recorded less than `seconds` ago:
    /// for events a stranger can trigger at will (refused calls), so they cannot flood the log.
    func record(_ kind: RegistryEventKind, _ node: String?, _ message: String, atMostEvery seconds: Double) {
        let now = Self.now()
        let due = state.withLock { s in
            guard now - (s.lastEventAtByKind[kind] ?? -.infinity) >= seconds else { return false }
            s.lastEventAtByKind[kind] = now
            return true
        }
        if due { record(kind, node, message) }
    }

    func record(_ kind: RegistryEventKind, _ node: String?, _ message: String) {
        let now = Self.now()
        state.withLock { $0.record(kind, node: node, message, at: now - startedAt, max: settings.maxEvents) }
        metrics.events.inc(1, kind.name)
        log.info(message, ["event": kind.name, "node": node ?? "-"])
    }

    func processExited(_ id: String, status: Int32) {
        guard !isStopping else { return }
        let deliberately = provider.stoppedDeliberately(id)
        let now = Self.now()
        perform(state.withLock { $0.core.processExited(id, status: status, deliberately: deliberately, at: now) })
        wakeDecide()
    }

    /// Asks for a decide round now (the replacement of a node seen to exit starts at once, not up
    /// to `decideIntervalMs` later). Rounds stay one at a time, on the decide thread.
    func wakeDecide() { decideWake.signal() }

    // MARK: the decide loop

    /// How often set-aside data of destroyed nodes is checked for deletion.
    static let purgeIntervalS = 30.0

    func decideLoop() {
        let interval = Double(settings.decideIntervalMs) / 1000
        var lastPurge = -Double.infinity
        while !isStopping {
            let started = Self.now()
            decideOnce(now: started)
            if started - lastPurge >= Self.purgeIntervalS {
                lastPurge = started
                for name in provider.purgeSetAside(keepS: Double(settings.retiredDataKeepS), nowUnixS: Date().timeIntervalSince1970) {
                    record(.dataPurged, nil, "set-aside data \(name) deleted after \(settings.retiredDataKeepS) s")
                }
            }
            metrics.decideSeconds.observe(Self.now() - started)
            let rest = interval - (Self.now() - started)
            if rest > 0 { _ = decideWake.wait(timeout: .now() + .microseconds(Int(rest * 1e6))) }
        }
        loopDone.signal()
    }
}
