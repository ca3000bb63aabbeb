import Chain
import Consensus
import FoundationEssentials
import Glibc
import NodeCore

/// The runtime thread: the imperative shell around `RuntimeCore`. It gathers events (the inbox,
/// the clock, the mempool, connected peers), hands them to the core, and performs the effects the
/// core returns, in order: writes to SQLite, messages to peers, committed blocks into the shared
/// state, answers to waiters, metrics and log lines. It decides nothing itself.
/// Not shared: moved into the thread once and used only there.
struct RuntimeLoop: @unchecked Sendable {
    // Unchecked: handed to the runtime thread through `Mutex.take()` and never touched elsewhere;
    // `ownerThread` checks that on every round.
    let settings: NodeSettings
    let store: ChainStore
    var core: RuntimeCore<ChainStore>
    /// When each kind of refused Raft message or evidence was last logged (one line per
    /// `NodeSettings.Raft.peerFaultLogIntervalMs` each).
    var peerFaultLogged = PeerFaultLog()
    /// Callers waiting for the core's answer to a membership change or a leadership transfer.
    var membershipReplies: [UInt64: @Sendable (MembershipOutcome) -> Void] = [:]
    var transferReplies: [UInt64: @Sendable (Bool) -> Void] = [:]
    var lastRequestID: UInt64 = 0
    /// A write the disk refused, kept to be retried as it was. While set the node is degraded:
    /// the core is frozen (no ticks, no messages in, nothing out), so nothing derived from the
    /// unwritten state (an acknowledgement, a vote, a commit) can leave the node.
    var stalled: StalledWrite?
    var ownerThread: pthread_t?
    let log = Logger(component: "runtime")

    init(settings: NodeSettings, store: ChainStore, core: RuntimeCore<ChainStore>) {
        self.settings = settings
        self.store = store
        self.core = core
    }

    /// The time now, as the core takes it.
    static func now() -> RuntimeTime { RuntimeTime(monotonicNs: monotonicNs(), wallMs: wallClockMs()) }

    mutating func run(runtime: NodeRuntime) {
        ownerThread = pthread_self()
        let tickNs = UInt64(settings.consensus.heartbeatMs) * 1_000_000
        var nextTick = monotonicNs() + tickNs
        core.start(now: Self.now())
        while !runtime.isStopping {
            precondition(ownerThread.map { pthread_equal($0, pthread_self()) != 0 } ?? false, "runtime state used off its thread")
            if stalled != nil {
                for event in runtime.takeEvents() { handleWhileStalled(event, runtime) }
                retryStalledWrite(runtime, now: monotonicNs())
                if let s = stalled {
                    let untilRetryNs = s.backoff.nextAttemptNs - min(s.backoff.nextAttemptNs, monotonicNs())
                    runtime.waitForWork(timeoutNs: max(untilRetryNs, NodeSettings.RuntimeWaits.stalledWriteMinWaitMs * 1_000_000))
                    continue
                }
                nextTick = monotonicNs() + tickNs
            }
            for event in runtime.takeEvents() { handle(event, runtime) }
            let now = monotonicNs()
            if now >= nextTick {
                perform(core.tick(now: Self.now(), connected: connectedPeers(runtime)), runtime)
                nextTick = now + tickNs
            }
            // The pre-vote after the leader's link closed: due between ticks, so not tick-bound.
            if core.leaderLinkElectionAtNs != nil { core.leaderLinkElectionDue(now: Self.now()) }
            // A Ready first: an election just won appends the term-start entry and changes the
            // role, and the speculative head must be rebuilt on it before any block is cut.
            while stalled == nil, core.hasReady { perform(core.readyRound(now: Self.now()), runtime) }
            if stalled == nil { leaderDuties(runtime) }
            while stalled == nil, core.hasReady { perform(core.readyRound(now: Self.now()), runtime) }
            if stalled == nil { syncDuties(runtime) }
            let blockWait = UInt64(settings.consensus.blockIntervalMs) * 1_000_000
            var wait = min(nextTick - min(nextTick, monotonicNs()), blockWait)
            if let due = core.leaderLinkElectionAtNs { wait = min(wait, due - min(due, monotonicNs())) }
            wait = min(wait, untilNextCut(runtime))
            runtime.waitForWork(timeoutNs: max(wait, NodeSettings.RuntimeWaits.minWaitUs * 1_000))
        }
        log.info("runtime stopped", ["height": store.headHeight])
    }

    func connectedPeers(_ runtime: NodeRuntime) -> [(id: String, height: UInt64)] {
        runtime.transport.withLock { $0 }?.peerHeights() ?? []
    }

    mutating func nextRequestID() -> UInt64 {
        lastRequestID += 1
        return lastRequestID
    }

    mutating func handle(_ event: RuntimeEvent, _ runtime: NodeRuntime) {
        let now = Self.now()
        switch event {
        case .raft(let m):
            perform(core.handle(.raft(m), now: now), runtime)
        case .join(let id, let key, let from):
            guard runtime.transport.withLock({ $0 }) != nil else { return }
            perform(core.handle(.join(nodeId: id, nodeKey: key, from: from), now: now), runtime)
        case .membership(let change, let reply):
            let request = nextRequestID()
            membershipReplies[request] = reply
            perform(core.handle(.membership(change, request: request), now: now), runtime)
        case .transferLeadership(let to, let done):
            let request = nextRequestID()
            transferReplies[request] = done
            perform(core.handle(.transferLeadership(to: to, request: request), now: now), runtime)
        case .blocks(let blocks, let from):
            perform(core.handle(.blocks(blocks, from: from), now: now), runtime)
        case .peerHeight(let peer, let height):
            perform(core.handle(.peerHeight(peer, height), now: now), runtime)
        case .peerLinkClosed(let peer):
            perform(core.handle(.peerLinkClosed(peer), now: now), runtime)
        case .peerLinkOpened(let peer):
            perform(core.handle(.peerLinkOpened(peer), now: now), runtime)
        case .joinAnswered(let from, let accepted, let leaderHint):
            perform(core.handle(.joinAnswered(from: from, accepted: accepted, leaderHint: leaderHint), now: now), runtime)
        }
    }

    /// Cuts blocks while the core asks for mempool transactions (a bootstrap block first, alone).
    mutating func leaderDuties(_ runtime: NodeRuntime) {
        let bootstrap = core.leaderDuties(now: Self.now())
        guard bootstrap.isEmpty else { return perform(bootstrap, runtime) }
        while stalled == nil {
            let now = Self.now()
            let waiting = runtime.state.withLock { $0.mempool.readyCount }
            guard let max = core.cutDemand(readyCount: waiting, now: now) else { return }
            let candidates = runtime.state.withLock { $0.mempool.takeReady(max: max) }
            let (cut, effects) = core.cut(candidates: candidates, now: now)
            perform(effects, runtime)
            guard cut else { return }
        }
    }

    /// How long the runtime may sleep before a block falls due, and whether arrivals wake it
    /// meanwhile: with transfers ready it sleeps until the block interval ends and arrivals do not
    /// wake it (they could not make a block due sooner); with none ready the first arrival does.
    /// Armed before the mempool is read, so an arrival in between is never missed (at worst it
    /// wakes the runtime once for nothing).
    func untilNextCut(_ runtime: NodeRuntime) -> UInt64 {
        runtime.arrivals.arm(true)
        let ready = runtime.state.withLock { $0.mempool.readyCount }
        let now = monotonicNs()
        let due = core.cutIntervalEndsNs
        // Ready but not cut with the interval over: the core waits for something else (a commit,
        // room in flight, leadership), and that comes as an event, which wakes the runtime.
        guard ready > 0, core.isLeader else { return .max }
        runtime.arrivals.arm(false)
        return due > now ? due - now : .max
    }

    /// Block sync steps until one neither writes nor can go on (each write is one step), or
    /// until events wait in the inbox: then back to `run`, which takes them (the replies of
    /// peers among them) before the next step, in its usual order (events, tick, Ready rounds),
    /// so a peer's reply never waits behind more than one batch of writes. Each step ends with
    /// its write done (`persist` is performed at once), so `handle` finds no write outstanding.
    mutating func syncDuties(_ runtime: NodeRuntime) {
        guard let t = runtime.transport.withLock({ $0 }) else { return }
        while stalled == nil {
            let effects = core.syncDuties(connected: t.peerHeights(), now: Self.now())
            perform(effects, runtime)
            guard case .persist = effects.last, !runtime.hasEvents else { return }
        }
    }
}
