import Chain
import Dispatch
import Foundation
import P2P
import Synchronization

/// `autochain bench`: funds accounts, pre-signs transfers, submits them in batches from several
/// connections (optionally at a fixed rate), follows the chain until every one is committed, and
/// reports committed tx/s and submit-to-commit latency as the client saw it.
enum BenchCommand {
    static let spec = CommandSpec(name: "bench", summary: "Measure committed transfers/s and submit-to-commit latency.", options: [
        .init(name: "node", valueName: "URL", help: "node API URL (required)"),
        .init(name: "key", valueName: "FILE", help: "funded key file that pays for the accounts (required)"),
        .init(name: "accounts", valueName: "N", help: "sending accounts to fund (default 1000)"),
        .init(name: "txs", valueName: "N", help: "transfers to submit (default 100000)"),
        .init(name: "concurrency", valueName: "N", help: "parallel connections submitting (default 4)"),
        .init(name: "batch", valueName: "N", help: "transfers per /submit-txs request (default 500)"),
        .init(name: "rate", valueName: "TX_PER_S", help: "submit at this fixed rate instead of as fast as possible"),
        .init(name: "timeout", valueName: "SECONDS", help: "give up waiting for commits after this long (default 300)"),
        .init(name: "json", valueName: "FILE", help: "also write the figures as JSON"),
    ])

    /// Refusals that mean "not now": offered again after a pause, up to `maxRetries` times.
    static let retryable: Set<String> = ["mempool_full", "sender_queue_full", "nonce_too_far", "no_leader"]
    static let maxRetries = 600

    struct Plan {
        var accounts: Int
        var txs: Int
        var concurrency: Int
        var batch: Int
        var rate: Int?
        var timeoutS: Int
    }

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        let url = try parsed.required("node")
        let client = try NodeClient(url)
        let funder = try KeyFile.read(try parsed.required("key"))
        let plan = Plan(
            accounts: try parsed.int("accounts", default: 1_000, range: 1...100_000),
            txs: try parsed.int("txs", default: 100_000, range: 1...10_000_000),
            concurrency: try parsed.int("concurrency", default: 4, range: 1...256),
            batch: try parsed.int("batch", default: 500, range: 1...10_000),
            rate: parsed.string("rate") == nil ? nil : try parsed.int("rate", default: 0, range: 1...10_000_000),
            timeoutS: try parsed.int("timeout", default: 300, range: 1...86_400))
        let chainId = try client.get("/status")["chainId"]?.stringValue ?? ""
        let accounts = (0..<plan.accounts).map { _ in KeyPair.generate() }
        let perAccount = (plan.txs + plan.accounts - 1) / plan.accounts
        print("bench: funding \(plan.accounts) accounts from \(funder.address.hex)")
        try fund(accounts, from: funder, each: UInt64(perAccount) * 2 + 10, chainId: chainId, url: url, plan: plan)
        print("bench: signing \(plan.txs) transfers")
        let batches = sign(accounts, total: plan.txs, chainId: chainId, batch: plan.batch, workers: plan.concurrency)
        print("bench: submitting with \(plan.concurrency) connections, batches of \(plan.batch)" +
              (plan.rate.map { ", at \($0) tx/s" } ?? ", as fast as the node takes them"))
        let result = try measure(batches, url: url, plan: plan)
        report(result, plan: plan, jsonPath: parsed.string("json"))
    }

    // MARK: phases

    static func fund(_ accounts: [KeyPair], from funder: KeyPair, each: UInt64, chainId: String, url: String, plan: Plan) throws(CLIError) {
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
            try waitCommitted(client, txs: [b.last!], timeoutS: plan.timeoutS)
        }
    }

    static func waitCommitted(_ client: NodeClient, txs: [Transaction], timeoutS: Int) throws(CLIError) {
        let deadline = Date().addingTimeInterval(Double(timeoutS))
        for tx in txs {
            while true {
                let status = (try? client.get("/tx/\(tx.hash.hex)"))?["status"]?.stringValue
                if status == "committed" { break }
                if Date() > deadline { throw .failed("transaction \(tx.hash.hex) not committed after \(timeoutS) s") }
                usleep(5_000)
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
        var committed: Int
        var elapsedS: Double
        var latenciesMs: [Double]
        var firstRejection: String?
    }

    static func measure(_ batches: [[Transaction]], url: String, plan: Plan) throws(CLIError) -> Result {
        let tracker = CommitTracker(batches.flatMap { $0 }.map(\.hash))
        let next = Atomic<Int>(0)
        let rejected = Atomic<Int>(0)
        let firstRejection = Mutex<String?>(nil)
        let started = monotonicSeconds()
        let follower = Thread { follow(url: url, tracker: tracker, timeoutS: plan.timeoutS) }
        follower.start()
        let group = DispatchGroup()
        for _ in 0..<plan.concurrency {
            group.enter()
            Thread {
                defer { group.leave() }
                guard let client = try? NodeClient(url) else { return }
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard i < batches.count else { return }
                    if let rate = plan.rate {
                        let due = started + Double(i * plan.batch) / Double(rate)
                        let wait = due - monotonicSeconds()
                        if wait > 0 { usleep(UInt32(wait * 1e6)) }
                    }
                    let now = monotonicSeconds()
                    tracker.submitted(batches[i].map(\.hash), at: now)
                    do {
                        // Backpressure: transfers refused because the node is full (or a nonce
                        // runs ahead of the window) are offered again after a pause, as a client would.
                        var pending = batches[i]
                        var answer = try client.post("/submit-txs", ["txs": .array(pending.map(\.json))])
                        for _ in 0..<Self.maxRetries {
                            let retry = answer["results"]?.arrayValue?.enumerated().filter {
                                Self.retryable.contains($0.element["error"]?["code"]?.stringValue ?? "")
                            }.map { pending[$0.offset] } ?? []
                            guard !retry.isEmpty else { break }
                            usleep(50_000)
                            pending = retry
                            answer = try client.post("/submit-txs", ["txs": .array(pending.map(\.json))])
                        }
                        let bad = answer["results"]?.arrayValue?.enumerated().filter { $0.element["error"] != nil } ?? []
                        if !bad.isEmpty {
                            rejected.wrappingAdd(bad.count, ordering: .relaxed)
                            tracker.forget(bad.map { pending[$0.offset].hash })
                            firstRejection.withLock { $0 = $0 ?? String(decoding: bad[0].element.serialized(), as: UTF8.self) }
                        }
                    } catch {
                        rejected.wrappingAdd(batches[i].count, ordering: .relaxed)
                        tracker.forget(batches[i].map(\.hash))
                        firstRejection.withLock { $0 = $0 ?? "\(error)" }
                    }
                }
            }.start()
        }
        group.wait()
        tracker.waitUntilDone(timeoutS: Double(plan.timeoutS))
        let snapshot = tracker.snapshot()
        return Result(submitted: batches.reduce(0) { $0 + $1.count }, rejected: rejected.load(ordering: .relaxed),
                      committed: snapshot.latencies.count, elapsedS: max(snapshot.lastCommit - started, 1e-9),
                      latenciesMs: snapshot.latencies.map { $0 * 1000 }, firstRejection: firstRejection.withLock { $0 })
    }

    /// Follows the chain head and records when each block's transactions were first seen committed.
    static func follow(url: String, tracker: CommitTracker, timeoutS: Int) {
        guard let client = try? NodeClient(url) else { return }
        var height = UInt64((try? client.get("/chain/head"))?["head"]?["height"]?.intValue ?? 0)
        let deadline = monotonicSeconds() + Double(timeoutS)
        while !tracker.isDone, monotonicSeconds() < deadline {
            guard let head = (try? client.get("/chain/head"))?["head"]?["height"]?.intValue, UInt64(head) > height else {
                usleep(2_000)
                continue
            }
            while height < UInt64(head) {
                height += 1
                guard let block = try? client.get("/block/\(height)") else { continue }
                let seen = monotonicSeconds()
                let hashes = block["block"]?["txs"]?.arrayValue?.compactMap { $0["hash"]?.stringValue.flatMap(Hash32.init(hex:)) } ?? []
                tracker.committed(hashes, at: seen)
            }
        }
    }

    static func report(_ r: Result, plan: Plan, jsonPath: String?) {
        let sorted = r.latenciesMs.sorted()
        func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        let tps = Double(r.committed) / r.elapsedS
        print(String(format: "bench: committed %d of %d transfers in %.2f s: %.0f tx/s", r.committed, r.submitted, r.elapsedS, tps))
        print(String(format: "bench: submit-to-commit latency p50 %.1f ms, p99 %.1f ms, max %.1f ms", pct(0.5), pct(0.99), sorted.last ?? 0))
        if r.rejected > 0 { print("bench: \(r.rejected) refused; first: \(r.firstRejection ?? "?")") }
        guard let jsonPath else { return }
        let out: JSON = [
            "committed": .int(r.committed), "submitted": .int(r.submitted), "rejected": .int(r.rejected),
            "elapsedSeconds": .double(r.elapsedS), "txPerSecond": .double(tps),
            "latencyMs": ["p50": .double(pct(0.5)), "p99": .double(pct(0.99)), "max": .double(sorted.last ?? 0)],
            "accounts": .int(plan.accounts), "concurrency": .int(plan.concurrency), "batch": .int(plan.batch),
            "rate": plan.rate.map { .int($0) } ?? .null,
        ]
        _ = FileManager.default.createFile(atPath: jsonPath, contents: Data(out.serializedPretty().utf8))
    }
}

/// Submission and first-seen-committed times per transaction.
final class CommitTracker: Sendable {
    private struct State {
        var pending: [Hash32: Double]
        var unsent: Set<Hash32>
        var latencies: [Double] = []
        var lastCommit: Double = 0
    }
    private let state: Mutex<State>

    init(_ hashes: [Hash32]) { state = Mutex(State(pending: [:], unsent: Set(hashes))) }

    func submitted(_ hashes: [Hash32], at t: Double) {
        state.withLock { s in for h in hashes where s.unsent.remove(h) != nil { s.pending[h] = t } }
    }

    func forget(_ hashes: [Hash32]) { state.withLock { s in for h in hashes { s.pending[h] = nil } } }

    func committed(_ hashes: [Hash32], at t: Double) {
        state.withLock { s in
            for h in hashes {
                if let sent = s.pending.removeValue(forKey: h) {
                    s.latencies.append(t - sent)
                    s.lastCommit = max(s.lastCommit, t)
                }
            }
        }
    }

    var isDone: Bool { state.withLock { $0.pending.isEmpty && $0.unsent.isEmpty } }

    func waitUntilDone(timeoutS: Double) {
        let deadline = monotonicSeconds() + timeoutS
        while !isDone, monotonicSeconds() < deadline { usleep(2_000) }
    }

    func snapshot() -> (latencies: [Double], lastCommit: Double) { state.withLock { ($0.latencies, $0.lastCommit) } }
}

func monotonicSeconds() -> Double { Double(monotonicNs()) / 1e9 }
