import Chain
import Dispatch
import FoundationEssentials
import Glibc
import P2P
import Synchronization

/// `autochain load --phases ...`: a load generator for demonstrations. It funds sending accounts,
/// then sends signed transfers at the rate a phase script sets (ramp up, hold, spike, ramp down:
/// `LoadSchedule`), to a node or the gateway, and prints one line a second: the target rate, the
/// transfers the node took, the ones committed, errors. Meant for watching the autoscaler add
/// and retire learners on the registry's dashboard, not for measuring (`autochain bench` does).
enum LoadCommand {
    static let spec = CommandSpec(name: "load", summary: "Send transfers at the rates of a phase script, one report line a second.", options: [
        .init(name: "node", valueName: "URL", help: "node or gateway API URL, e.g. http://127.0.0.1:8080 (required)"),
        .init(name: "key", valueName: "FILE", help: "funded key file that pays for the sending accounts (required)"),
        .init(name: "phases", valueName: "SCRIPT", help: "phases, comma-separated (required): ramp:FROM-TO/DURATION, hold:RATE/DURATION, "
            + "spike:RATE/DURATION, pause:DURATION; e.g. \"ramp:0-2000/30s,hold:2000/60s,spike:8000/10s,ramp:2000-0/30s\""),
        .init(name: "accounts", valueName: "N", help: "sending accounts to fund (default 500)"),
        .init(name: "concurrency", valueName: "N", help: "parallel connections sending (default 4)"),
        .init(name: "batch", valueName: "N", help: "transfers per /submit-txs request at most (default 200)"),
        .init(name: "drain", valueName: "SECONDS", help: "after the last phase, wait this long at most for transfers in flight to commit (default 15)"),
    ] + CredentialOption.clientOptions)

    /// Refusals that mean "not now": the account sends that nonce again.
    static let busy: Set<String> = ["mempool_full", "sender_queue_full", "nonce_too_far", "expired"]
    /// Refusals of a transfer sent again that mean the node or the chain has it.
    static let alreadyThere: Set<String> = ["already_known", "nonce_too_low"]
    /// An account with nothing committed for this long sends again from its committed nonce.
    static let stallS = 10.0
    static let windowPerAccount = 48

    struct Plan {
        var url: String
        var schedule: LoadSchedule
        var accounts: Int
        var concurrency: Int
        var batch: Int
        var drainS: Int
        var token: String?
    }

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        let script = try parsed.required("phases")
        let schedule: LoadSchedule
        do throws(LoadPhasesError) { schedule = try LoadSchedule.parse(script) } catch { throw .usage(error.message) }
        let plan = Plan(
            url: try parsed.required("node"), schedule: schedule,
            accounts: try parsed.int("accounts", default: 500, range: 2...100_000),
            concurrency: try parsed.int("concurrency", default: 4, range: 1...64),
            batch: try parsed.int("batch", default: 200, range: 1...10_000),
            drainS: try parsed.int("drain", default: 15, range: 0...3_600),
            token: try CredentialOption.explicit(parsed, environment: ProcessInfo.processInfo.environment)?.secret)
        let funder = try KeyFile.read(try parsed.required("key"))
        let client = try NodeClient(plan.url)
        guard let chainId = try client.get("/status")["chainId"]?.stringValue else { throw .failed("\(plan.url) /status has no chainId") }
        let keys = (0..<plan.accounts).map { _ in KeyPair.generate() }
        let perAccount = UInt64(schedule.totalTransfers / plan.accounts + 1)
        print("load: funding \(plan.accounts) accounts from \(funder.address.hex)")
        try BenchCommand.fund(keys, from: funder, each: perAccount * 2 + 10, chainId: chainId, url: plan.url, timeoutS: BenchPolls.fundCommitTimeoutS)
        print("load: \(schedule.phases.count) phases, \(LoadSchedule.durationText(schedule.totalS)), \(schedule.totalTransfers) transfers: \(schedule.text)")
        let run = LoadRun(plan: plan, keys: keys, chainId: chainId)
        let totals = run.execute()
        print("load: done: \(totals.sent) sent, \(totals.committed) committed, \(totals.errors) errors, \(totals.missed) missed "
            + "(behind the schedule by more than a second), \(totals.inFlight) still in flight")
        if totals.committed == 0 && schedule.totalTransfers > 0 { throw .failed("no transfer committed") }
    }
}

/// One run of `autochain load`: the senders, the chain follower and the reporter, sharing the
/// pacer, the accounts and the counters.
final class LoadRun: Sendable {
    let plan: LoadCommand.Plan
    let keys: [KeyPair]
    let chainId: String
    let indexByAddress: [Address: Int]
    let pacer = Mutex(LoadPacer())
    let accounts: Mutex<LoadAccounts>
    let sent = Atomic<Int>(0)
    let committed = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let height = Atomic<Int>(0)
    let firstError = Mutex<String?>(nil)
    let sending = Atomic<Bool>(true)
    /// Senders between claiming transfers and booking the node's answer.
    let busySenders = Atomic<Int>(0)
    let following = Atomic<Bool>(true)
    let started = monotonicSeconds()

    init(plan: LoadCommand.Plan, keys: [KeyPair], chainId: String) {
        self.plan = plan
        self.keys = keys
        self.chainId = chainId
        indexByAddress = Dictionary(keys.enumerated().map { ($1.address, $0) }, uniquingKeysWith: { a, _ in a })
        accounts = Mutex(LoadAccounts(count: keys.count, windowPerAccount: LoadCommand.windowPerAccount))
    }

    var elapsedS: Double { monotonicSeconds() - started }

    struct Totals { var sent, committed, errors, missed, inFlight: Int }

    /// The counters at one report, for the differences the next one prints.
    struct Snapshot { var sent = 0, committed = 0, errors = 0, missed = 0, due = 0 }

    /// Runs the script, then drains; prints a line a second throughout.
    func execute() -> Totals {
        let startHeight = (try? NodeClient(plan.url).get("/chain/head"))?["head"]?["height"]?.intValue ?? 0
        height.store(Int(clamping: startHeight), ordering: .relaxed)
        PosixThread.start(name: "load-follow") { [self] in follow(from: UInt64(max(0, startHeight))) }
        let senders = DispatchGroup()
        for _ in 0..<plan.concurrency {
            senders.enter()
            PosixThread.start(name: "load-send") { [self] in
                defer { senders.leave() }
                sendLoop()
            }
        }
        reportEverySecond()
        sending.store(false, ordering: .relaxed)
        senders.wait()
        following.store(false, ordering: .relaxed)
        if let first = firstError.withLock({ $0 }) { print("load: first error: \(first)") }
        return Totals(sent: sent.load(ordering: .relaxed), committed: committed.load(ordering: .relaxed),
                      errors: errors.load(ordering: .relaxed), missed: pacer.withLock { $0.missed },
                      inFlight: accounts.withLock { $0.inFlight })
    }

    /// A line a second until the script is over and nothing is in flight (or the drain time is up).
    func reportEverySecond() {
        var last = Snapshot()
        let endS = plan.schedule.totalS
        for second in 1... {
            let wake = Double(second)
            let rest = wake - elapsedS
            if rest > 0 { usleep(UInt32(min(rest, 1) * 1e6)) }
            let inFlight = accounts.withLock { a in
                _ = a.rewindStalled(nowS: elapsedS, afterS: LoadCommand.stallS)
                return a.inFlight
            }
            last = report(second: second, inFlight: inFlight, since: last)
            // Done once every transfer of the script was claimed and sent, and none is in flight;
            // the senders keep going meanwhile (what is due stays constant after the end).
            let allSent = pacer.withLock { $0.issued } >= plan.schedule.totalTransfers && busySenders.load(ordering: .relaxed) == 0
            if wake >= endS + Double(plan.drainS) || (wake >= endS && allSent && inFlight == 0) { return }
        }
    }

    /// Prints the line for `second`: what was due, sent, committed, refused and missed in it.
    func report(second: Int, inFlight: Int, since last: Snapshot) -> Snapshot {
        let wake = Double(second)
        let now = Snapshot(sent: sent.load(ordering: .relaxed), committed: committed.load(ordering: .relaxed),
                           errors: errors.load(ordering: .relaxed), missed: pacer.withLock { $0.missed },
                           due: plan.schedule.transfersDue(byS: min(wake, plan.schedule.totalS)))
        let phase = plan.schedule.phase(atS: wake - 0.5).map { "\($0.phase.kind.rawValue)(\($0.index + 1)/\(plan.schedule.phases.count))" } ?? "drain"
        print("load: t=\(second)s \(phase) target=\(now.due - last.due)/s sent=\(now.sent - last.sent)/s "
            + "committed=\(now.committed - last.committed)/s errors=\(now.errors - last.errors) missed=\(now.missed - last.missed) "
            + "inflight=\(inFlight) height=\(height.load(ordering: .relaxed))")
        return now
    }

    // MARK: sending

    /// One connection: claims what the schedule has made due, signs it and sends it.
    func sendLoop() {
        guard var client = try? NodeClient(plan.url) else { return }
        while sending.load(ordering: .relaxed) {
            busySenders.add(1, ordering: .relaxed)
            let sent = sendDue(client)
            busySenders.subtract(1, ordering: .relaxed)
            switch sent {
            case .nothingDue: usleep(BenchPolls.nothingDuePollUs)
            case .sent: break
            case .connectionFailed:
                // A failed connection is opened again for the next batch.
                client.http.close()
                if let fresh = try? NodeClient(plan.url) { client = fresh } else { usleep(BenchPolls.reconnectDelayUs) }
            }
        }
        client.http.close()
    }

    enum SendOutcome { case nothingDue, sent, connectionFailed }

    /// Claims what is due now (at most a batch), takes accounts and nonces for it, sends it.
    func sendDue(_ client: NodeClient) -> SendOutcome {
        let t = elapsedS
        let due = plan.schedule.transfersDue(byS: t)
        // Behind by more than a second of the current rate (or a batch): the rest is missed.
        let backlog = max(plan.batch, Int(plan.schedule.rate(atS: t)))
        let n = pacer.withLock { $0.claim(due: due, atMost: plan.batch, maxBacklog: backlog) }
        guard n > 0 else { return .nothingDue }
        let picks = accounts.withLock { $0.take(n, nowS: t) }
        if picks.count < n { pacer.withLock { $0.giveBack(n - picks.count) } }
        guard !picks.isEmpty else { return .nothingDue }
        let txs = picks.map { p in
            Transaction.signed(chainId: chainId, to: keys[(p.account + 1) % keys.count].address, amount: 1, fee: 1,
                               nonce: p.nonce, keyPair: keys[p.account])
        }
        return submit(txs, picks, client) ? .sent : .connectionFailed
    }

    /// Sends one batch and books each answer; false when the request itself failed.
    func submit(_ txs: [Transaction], _ picks: [(account: Int, nonce: UInt64)], _ client: NodeClient) -> Bool {
        var headers = HTTPHeaders([("Content-Type", "application/json")])
        if let token = plan.token { headers.add("Authorization", "Bearer \(token)") }
        let body = JSON.object(JSONObject([("txs", .array(txs.map(\.json)))])).serialized()
        let answer: JSON?
        do {
            let r = try client.http.request(method: "POST", path: "/submit-txs", headers: headers, body: body, timeout: BenchPolls.submitBatchTimeout)
            answer = try? JSON.parse(r.body)
            if answer?["results"] == nil { noteError("POST /submit-txs: HTTP \(r.status) \(String(decoding: r.body.prefix(200), as: UTF8.self))") }
        } catch {
            noteError("POST \(plan.url)/submit-txs: \(error)")
            answer = nil
        }
        guard let results = answer?["results"]?.arrayValue, results.count == txs.count else {
            errors.add(txs.count, ordering: .relaxed)
            accounts.withLock { a in for p in picks { a.rewind(account: p.account, to: p.nonce) } }
            return answer != nil
        }
        var accepted = 0
        accounts.withLock { a in
            for (p, r) in zip(picks, results) {
                guard let code = r["error"]?["code"]?.stringValue else { accepted += 1; continue }
                if LoadCommand.alreadyThere.contains(code) { continue }
                errors.add(1, ordering: .relaxed)
                if LoadCommand.busy.contains(code) {
                    a.rewind(account: p.account, to: p.nonce)
                } else {
                    a.retire(account: p.account)
                    noteError("\(code): \(r["error"]?["message"]?.stringValue ?? "")")
                }
            }
        }
        sent.add(accepted, ordering: .relaxed)
        return true
    }

    func noteError(_ text: String) {
        firstError.withLock { $0 = $0 ?? String(text.prefix(300)) }
    }

    // MARK: following the chain

    /// Reads each new block and books the commits of the run's accounts.
    func follow(from startHeight: UInt64) {
        guard let client = try? NodeClient(plan.url) else { return }
        var read = startHeight
        while following.load(ordering: .relaxed) {
            guard let head = (try? client.get("/chain/head"))?["head"]?["height"]?.intValue, head >= 0, UInt64(head) > read else {
                usleep(BenchPolls.blockPollUs)
                continue
            }
            // Behind a gateway the block may come from a node a moment behind the one that gave the
            // head: asked again on the next round, not skipped.
            while read < UInt64(head), following.load(ordering: .relaxed), let block = try? client.get("/block/\(read + 1)") {
                read += 1
                book(block)
                height.store(Int(read), ordering: .relaxed)
            }
        }
        client.http.close()
    }

    func book(_ block: JSON) {
        let now = elapsedS
        var ours: [(Int, UInt64)] = []
        for tx in block["block"]?["txs"]?.arrayValue ?? [] {
            guard let from = tx["from"]?.stringValue.flatMap(Address.init(hex:)), let i = indexByAddress[from],
                  let nonce = tx["nonce"]?.intValue, nonce >= 0 else { continue }
            ours.append((i, UInt64(nonce)))
        }
        guard !ours.isEmpty else { return }
        accounts.withLock { a in for (i, nonce) in ours { a.committed(account: i, nonce: nonce, nowS: now) } }
        committed.add(ours.count, ordering: .relaxed)
    }
}
