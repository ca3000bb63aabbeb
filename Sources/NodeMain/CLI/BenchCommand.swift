import Chain
import Dispatch
import FoundationEssentials
import Glibc
import P2P
import Synchronization

/// `autochain bench`: funds accounts, pre-signs transfers, submits them in batches from several
/// connections (optionally at a fixed rate), follows the chain until every one is committed, and
/// reports committed tx/s and submit-to-commit latency as the client saw it.
///
/// Flow control: at most `--window` transfers are in flight (sent, not yet seen committed); a
/// submitter waits for commits before it sends more, so a run of any size goes at the rate the
/// cluster commits. A transfer refused for good makes its sender's later nonces pointless: they
/// are skipped, not sent to wait in a mempool. Transfers in flight for `resubmitAfterS` while the
/// window is full are offered again (a leader that died took them with its mempool); the node
/// answers `already_known` or `nonce_too_low` for those it has, which is fine.
enum BenchCommand {
    static let spec = CommandSpec(name: "bench", summary: "Measure committed transfers/s and submit-to-commit latency.", options: [
        .init(name: "node", valueName: "URL", help: "node API URL (required)"),
        .init(name: "key", valueName: "FILE", help: "funded key file that pays for the accounts (required)"),
        .init(name: "accounts", valueName: "N", help: "sending accounts to fund (default 1000)"),
        .init(name: "txs", valueName: "N", help: "transfers to submit (default 100000)"),
        .init(name: "concurrency", valueName: "N", help: "parallel connections submitting (default 4)"),
        .init(name: "batch", valueName: "N", help: "transfers per /submit-txs request (default 500)"),
        .init(name: "single", valueName: nil, help: "one transfer per /submit-tx request, as an unbatched client sends (sets --batch 1)"),
        .init(name: "rate", valueName: "TX_PER_S", help: "submit at this fixed rate instead of as fast as possible"),
        .init(name: "window", valueName: "N", help: "transfers in flight at most (default min(50000, 48 per account))"),
        .init(name: "timeout", valueName: "SECONDS", help: "give up when no transfer commits for this long (default 300)"),
        .init(name: "json", valueName: "FILE", help: "also write the figures as JSON"),
    ])

    /// Refusals that mean "not now": offered again after a pause, up to `maxRetries` times.
    static let retryable: Set<String> = ["mempool_full", "sender_queue_full", "nonce_too_far", "no_leader"]
    static let maxRetries = 600
    /// Refusals of a transfer offered again that mean the node has it (pending or committed).
    static let alreadyThere: Set<String> = ["already_known", "nonce_too_low"]
    /// A full window that has not moved for this long has its stale transfers offered again.
    static let resubmitAfterS = 10.0
    /// Transfers per request when offering stale ones again.
    static let resubmitBatch = 500
    /// Room in the window for each account's nonces ahead of its committed one: below the
    /// node's default `future_nonce_window` (64), as the transfers go out in nonce-major order.
    static let windowPerAccount = 48

    struct Plan {
        var accounts: Int
        var txs: Int
        var concurrency: Int
        var batch: Int
        /// One transfer per `/submit-tx` request instead of batches to `/submit-txs`.
        var single = false
        var rate: Int?
        var window: Int
        var timeoutS: Int
    }

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        let url = try parsed.required("node")
        let client = try NodeClient(url)
        let funder = try KeyFile.read(try parsed.required("key"))
        let accountCount = try parsed.int("accounts", default: 1_000, range: 1...100_000)
        let plan = Plan(
            accounts: accountCount,
            txs: try parsed.int("txs", default: 100_000, range: 1...10_000_000),
            concurrency: try parsed.int("concurrency", default: 4, range: 1...256),
            batch: parsed.flag("single") ? 1 : try parsed.int("batch", default: 500, range: 1...10_000),
            single: parsed.flag("single"),
            rate: parsed.string("rate") == nil ? nil : try parsed.int("rate", default: 0, range: 1...10_000_000),
            window: try parsed.int("window", default: min(50_000, accountCount * windowPerAccount), range: 1...10_000_000),
            timeoutS: try parsed.int("timeout", default: 300, range: 1...86_400))
        let chainId = try client.get("/status")["chainId"]?.stringValue ?? ""
        let accounts = (0..<plan.accounts).map { _ in KeyPair.generate() }
        let perAccount = (plan.txs + plan.accounts - 1) / plan.accounts
        print("bench: funding \(plan.accounts) accounts from \(funder.address.hex)")
        try fund(accounts, from: funder, each: UInt64(perAccount) * 2 + 10, chainId: chainId, url: url, timeoutS: plan.timeoutS)
        print("bench: signing \(plan.txs) transfers")
        let batches = sign(accounts, total: plan.txs, chainId: chainId, batch: plan.batch, workers: plan.concurrency)
        print("bench: submitting with \(plan.concurrency) connections, " +
              (plan.single ? "one transfer per /submit-tx request" : "batches of \(plan.batch)") + ", at most \(plan.window) in flight" +
              (plan.rate.map { ", at \($0) tx/s" } ?? ", as fast as the node commits them"))
        let result = try measure(batches, url: url, plan: plan)
        report(result, plan: plan, jsonPath: parsed.string("json"))
    }

    // MARK: phases

    /// Sends `each` from `funder` to every account, in order, and waits until the last is committed
    /// (also used by `autochain load`).
    static func fund(_ accounts: [KeyPair], from funder: KeyPair, each: UInt64, chainId: String, url: String, timeoutS: Int) throws(CLIError) {
        let client = try NodeClient(url)
        let start = UInt64(try client.get("/balance/\(funder.address.hex)")["nonce"]?.intValue ?? 0)
        let txs = accounts.enumerated().map { i, a in
            Transaction.signed(chainId: chainId, to: a.address, amount: each, fee: 1, nonce: start + UInt64(i), keyPair: funder)
        }
        // The funder's own nonces must arrive in order: one connection, sender-window-sized batches.
        let chunk = 64
        var batches: [[Transaction]] = []
        var i = 0
        while i < txs.count { batches.append(Array(txs[i..<min(i + chunk, txs.count)])); i += chunk }
        for b in batches {
            let answer = try client.post("/submit-txs", ["txs": .array(b.map(\.json))])
            if let rejected = answer["rejected"]?.intValue, rejected > 0 {
                throw .failed("funding refused: \(String(decoding: answer.serialized(), as: UTF8.self).prefix(300))")
            }
            try waitCommitted(client, txs: [b.last!], timeoutS: timeoutS)
        }
    }

    static func waitCommitted(_ client: NodeClient, txs: [Transaction], timeoutS: Int) throws(CLIError) {
        let deadline = Date().addingTimeInterval(Double(timeoutS))
        for tx in txs {
            while true {
                let status = (try? client.get("/tx/\(tx.hash.hex)"))?["status"]?.stringValue
                if status == "committed" { break }
                if Date() > deadline { throw .failed("transaction \(tx.hash.hex) not committed after \(timeoutS) s") }
                usleep(BenchPolls.commitStatusPollUs)
            }
        }
    }

    /// Pre-signs `total` transfers in nonce-major order (every account's nonce 0, then nonce 1...),
    /// split into batches; each account sends to the next one, so no account runs dry.
    static func sign(_ accounts: [KeyPair], total: Int, chainId: String, batch: Int, workers: Int) -> [[Transaction]] {
        let slots = ResultSlots<Transaction?>(count: total, empty: nil)
        let n = accounts.count
        let chunk = 1_024
        DispatchQueue.concurrentPerform(iterations: (total + chunk - 1) / chunk) { c in
            let lo = c * chunk
            let hi = min(lo + chunk, total)
            let part = (lo..<hi).map { i -> Transaction? in
                let sender = accounts[i % n]
                let to = accounts[(i + 1) % n].address
                return Transaction.signed(chainId: chainId, to: to, amount: 1, fee: 1, nonce: UInt64(i / n), keyPair: sender)
            }
            slots.store(part, at: lo)
        }
        let all = slots.values.map { $0! }
        return stride(from: 0, to: all.count, by: batch).map { Array(all[$0..<min($0 + batch, all.count)]) }
    }

    struct Result {
        var submitted: Int
        var rejected: Int
        var skipped: Int
        var resubmitted: Int
        var committed: Int
        var elapsedS: Double
        var latenciesMs: [Double]
        var firstRejection: String?
        /// Sent and admitted, never seen committed before the run gave up, with a few of their
        /// hashes to look up (`GET /tx/{hash}`).
        var unconfirmed: Int = 0
        var unconfirmedSample: [String] = []
    }

    /// What the submitting threads share.
    final class Run: Sendable {
        let batches: [[Transaction]]
        let byHash: [Hash32: Transaction]
        let plan: Plan
        let url: String
        let tracker: CommitTracker
        let dead = DeadSenders()
        let next = Atomic<Int>(0)
        let rejected = Atomic<Int>(0)
        let resubmitted = Atomic<Int>(0)
        let lastResubmit = Mutex<Double>(0)
        let firstRejection = Mutex<String?>(nil)
        let started = monotonicSeconds()

        init(_ batches: [[Transaction]], url: String, plan: Plan) {
            self.batches = batches
            let all = batches.flatMap { $0 }
            byHash = Dictionary(uniqueKeysWithValues: all.map { ($0.hash, $0) })
            tracker = CommitTracker(all.map(\.hash))
            self.plan = plan
            self.url = url
        }

        /// True while commits keep coming: the run gives up after `timeoutS` without one.
        var progressing: Bool {
            monotonicSeconds() - max(started, tracker.snapshot().lastCommit) < Double(plan.timeoutS)
        }

        func refused(_ txs: [Transaction], _ why: String) {
            guard !txs.isEmpty else { return }
            rejected.wrappingAdd(txs.count, ordering: .relaxed)
            tracker.forget(txs.map(\.hash))
            dead.add(txs.map(\.from))
            firstRejection.withLock { $0 = $0 ?? why }
        }
    }

    static func measure(_ batches: [[Transaction]], url: String, plan: Plan) throws(CLIError) -> Result {
        let run = Run(batches, url: url, plan: plan)
        // The head before anything is sent: read by the follower once started, a fast first block
        // could already be below it, its transfers never seen committed.
        let startHeight = UInt64(try NodeClient(url).get("/chain/head")["head"]?["height"]?.intValue ?? 0)
        PosixThread.start(name: "bench-follow") { follow(url: url, run: run, from: startHeight) }
        let group = DispatchGroup()
        for _ in 0..<plan.concurrency {
            group.enter()
            PosixThread.start(name: "bench-submit") {
                defer { group.leave() }
                guard let client = try? NodeClient(url) else { return }
                submitLoop(run, client)
            }
        }
        group.wait()
        // Everything is sent; transfers a deposed or dead leader lost are offered again here too,
        // or the run would wait out its timeout for them.
        let tail = try? NodeClient(url)
        while !run.tracker.isDone, run.progressing {
            if let tail { offerStaleIfDue(run, tail) }
            usleep(BenchPolls.commitPollUs)
        }
        let snapshot = run.tracker.snapshot()
        let lost = run.tracker.stale(sentBefore: .infinity, max: Int.max)
        return Result(submitted: batches.reduce(0) { $0 + $1.count } - snapshot.skipped, rejected: run.rejected.load(ordering: .relaxed),
                      skipped: snapshot.skipped, resubmitted: run.resubmitted.load(ordering: .relaxed),
                      committed: snapshot.latencies.count, elapsedS: max(snapshot.lastCommit - run.started, 1e-9),
                      latenciesMs: snapshot.latencies.map { $0 * 1000 }, firstRejection: run.firstRejection.withLock { $0 },
                      unconfirmed: lost.count, unconfirmedSample: lost.prefix(3).map(\.hex))
    }

    /// One submitting connection: takes the next batch, waits for its pace and for room in the
    /// window, leaves out transfers of dead senders, and offers the rest until the node takes them.
    static func submitLoop(_ run: Run, _ client: NodeClient) {
        let plan = run.plan
        while true {
            let i = run.next.wrappingAdd(1, ordering: .relaxed).oldValue
            guard i < run.batches.count else { return }
            if let rate = plan.rate {
                let wait = run.started + Double(i * plan.batch) / Double(rate) - monotonicSeconds()
                if wait > 0 { usleep(UInt32(wait * 1e6)) }
            }
            var batch = run.batches[i]
            guard waitForRoom(run, client, count: batch.count) else {
                run.refused(batch, "no commit for \(plan.timeoutS) s; gave up")
                continue
            }
            if !run.dead.isEmpty {
                let skip = batch.filter { run.dead.contains($0.from) }
                run.tracker.forget(skip.map(\.hash), skipped: true)
                batch.removeAll { run.dead.contains($0.from) }
                if batch.isEmpty { continue }
            }
            run.tracker.submitted(batch.map(\.hash), at: monotonicSeconds())
            do {
                let refused = try offer(batch, client, single: plan.single)
                run.refused(refused.map(\.tx), refused.first.map { String(decoding: $0.answer.serialized(), as: UTF8.self) } ?? "")
            } catch {
                run.refused(batch, "\(error)")
            }
        }
    }

    /// Offers `txs`; refusals that mean "not now" are offered again after a pause (backpressure,
    /// as a client would), except those of a sender with a transfer refused for good. Returns the
    /// transfers refused for good (or given up), with the node's answer. Codes in `accept` count as taken.
    static func offer(_ txs: [Transaction], _ client: NodeClient, accept: Set<String> = [],
                      single: Bool = false) throws(CLIError) -> [(tx: Transaction, answer: JSON)] {
        var pending = txs
        var refused: [(tx: Transaction, answer: JSON)] = []
        for attempt in 0...Self.maxRetries {
            let (answer, results) = try single ? submitEach(pending, client) : submitBatch(pending, client)
            guard let results, results.count == pending.count else {
                return refused + pending.map { ($0, answer) }
            }
            var retry: [Transaction] = []
            for (tx, r) in zip(pending, results) {
                guard let code = r["error"]?["code"]?.stringValue, !accept.contains(code) else { continue }
                if Self.retryable.contains(code) && attempt < Self.maxRetries { retry.append(tx) } else { refused.append((tx, r)) }
            }
            let dead = Set(refused.map(\.tx.from))
            refused += retry.filter { dead.contains($0.from) }.map { (tx: $0, answer: JSON.string("an earlier nonce of its sender was refused")) }
            retry.removeAll { dead.contains($0.from) }
            guard !retry.isEmpty else { return refused }
            usleep(BenchPolls.refusedRetryDelayUs)
            pending = retry
        }
        assert(pending.isEmpty, "the last attempt retries nothing")
        return refused
    }

    /// One `/submit-txs` request: the node's answer and its per-transfer results (nil when malformed).
    static func submitBatch(_ txs: [Transaction], _ client: NodeClient) throws(CLIError) -> (JSON, [JSON]?) {
        let answer = try client.post("/submit-txs", ["txs": .array(txs.map(\.json))])
        return (answer, answer["results"]?.arrayValue)
    }

    /// One `/submit-tx` request per transfer, answered as `/submit-txs` would: an empty result for
    /// an admitted transfer, the error answer (`{"error": {"code", ...}}`) for a refused one.
    /// A failure without an error answer (the connection, a timeout) is thrown, as for a batch.
    static func submitEach(_ txs: [Transaction], _ client: NodeClient) throws(CLIError) -> (JSON, [JSON]?) {
        var results: [JSON] = []
        for tx in txs {
            do {
                _ = try client.post("/submit-tx", tx.json)
                results.append(.object(JSONObject([])))
            } catch {
                guard let body = client.lastErrorBody, body["error"]?["code"] != nil else { throw error }
                results.append(body)
            }
        }
        return (.array(results), results)
    }

    /// Waits until `count` more transfers fit in the window (or none is in flight). A window that
    /// stays full for `resubmitAfterS` has its oldest transfers offered again, by one thread at a
    /// time. False when nothing committed for the run's timeout.
    static func waitForRoom(_ run: Run, _ client: NodeClient, count: Int) -> Bool {
        while true {
            let inFlight = run.tracker.inFlight
            if inFlight == 0 || inFlight + count <= run.plan.window { return true }
            guard run.progressing else { return false }
            offerStaleIfDue(run, client)
            usleep(BenchPolls.windowPollUs)
        }
    }

    /// Every `resubmitAfterS`, by one thread at a time, offers again the transfers sent that long
    /// ago and not seen committed (a leader that stepped down keeps its mempool; one that died
    /// loses it), each sender's nonces in order so the new leader can admit them.
    static func offerStaleIfDue(_ run: Run, _ client: NodeClient) {
        let now = monotonicSeconds()
        let due = run.lastResubmit.withLock { last -> Bool in
            guard now - max(last, run.started) >= Self.resubmitAfterS else { return false }
            last = now
            return true
        }
        guard due else { return }
        let stale = run.tracker.stale(sentBefore: now - Self.resubmitAfterS, max: run.plan.window).compactMap { run.byHash[$0] }
            .sorted { ($0.from, $0.nonce) < ($1.from, $1.nonce) }
        run.resubmitted.wrappingAdd(stale.count, ordering: .relaxed)
        for part in stride(from: 0, to: stale.count, by: Self.resubmitBatch) {
            let chunk = Array(stale[part..<min(part + Self.resubmitBatch, stale.count)])
            if let refused = try? offer(chunk, client, accept: Self.alreadyThere) {
                run.refused(refused.map(\.tx), "offered again: " + (refused.first.map { String(decoding: $0.answer.serialized(), as: UTF8.self) } ?? ""))
            }
        }
    }

    /// Follows the chain from the block after `height` and records when each block's transactions
    /// were first seen committed: the moment the head was seen at or past the block, not the
    /// moment this client finished reading the block's transactions (reading and decoding a
    /// block of 2,000 transfers as JSON is this client's cost, not the node's latency).
    static func follow(url: String, run: Run, from startHeight: UInt64) {
        guard let client = try? NodeClient(url) else { return }
        let tracker = run.tracker
        var height = startHeight
        while !tracker.isDone, run.progressing {
            guard let head = (try? client.get("/chain/head"))?["head"]?["height"]?.intValue, UInt64(head) > height else {
                usleep(BenchPolls.commitPollUs)
                continue
            }
            let seen = monotonicSeconds()
            while height < UInt64(head) {
                // A block that cannot be read now is asked for again (bounded), not skipped:
                // its transfers would otherwise stay in flight and hold the window.
                var read: JSON?
                for _ in 0..<100 where read == nil && run.progressing {
                    read = try? client.get("/block/\(height + 1)?txs=hashes")
                    if read == nil { usleep(BenchPolls.blockPollUs) }
                }
                guard let block = read else { break }
                height += 1
                let hashes = block["block"]?["txHashes"]?.arrayValue?.compactMap { $0.stringValue.flatMap(Hash32.init(hex:)) } ?? []
                tracker.committed(hashes, at: seen)
            }
        }
    }

    static func report(_ r: Result, plan: Plan, jsonPath: String?) {
        let sorted = r.latenciesMs.sorted()
        func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        let tps = Double(r.committed) / r.elapsedS
        func ms(_ x: Double) -> String { NumberText.fixed(x, places: 1) }
        print("bench: committed \(r.committed) of \(r.submitted) transfers in \(NumberText.fixed(r.elapsedS, places: 2)) s: "
            + "\(NumberText.fixed(tps, places: 0)) tx/s")
        print("bench: submit-to-commit latency p50 \(ms(pct(0.5))) ms, p99 \(ms(pct(0.99))) ms, max \(ms(sorted.last ?? 0)) ms")
        if r.rejected > 0 { print("bench: \(r.rejected) refused; first: \(r.firstRejection ?? "?")") }
        if r.skipped > 0 { print("bench: \(r.skipped) not sent (an earlier nonce of their sender was refused)") }
        if r.resubmitted > 0 { print("bench: \(r.resubmitted) offered again after \(Int(resubmitAfterS)) s in flight") }
        if r.unconfirmed > 0 {
            print("bench: \(r.unconfirmed) admitted but not seen committed within \(plan.timeoutS) s; e.g. \(r.unconfirmedSample.joined(separator: ", "))")
        }
        guard let jsonPath else { return }
        let out: JSON = [
            "committed": .int(r.committed), "submitted": .int(r.submitted), "rejected": .int(r.rejected),
            "skipped": .int(r.skipped), "resubmitted": .int(r.resubmitted), "unconfirmed": .int(r.unconfirmed),
            "window": .int(plan.window),
            "elapsedSeconds": .double(r.elapsedS), "txPerSecond": .double(tps),
            "latencyMs": ["p50": .double(pct(0.5)), "p99": .double(pct(0.99)), "max": .double(sorted.last ?? 0)],
            "accounts": .int(plan.accounts), "concurrency": .int(plan.concurrency), "batch": .int(plan.batch),
            "rate": plan.rate.map { .int($0) } ?? .null,
        ]
        _ = FileManager.default.createFile(atPath: jsonPath, contents: Data(out.serializedPretty().utf8))
    }
}
