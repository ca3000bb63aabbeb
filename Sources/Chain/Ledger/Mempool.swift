/// Pending transactions waiting for a block. A value type, not thread-safe: the node owns one
/// behind a Mutex.
///
/// Promises:
/// - at most one pending tx per (sender, nonce) and per hash; every bound in `MempoolSettings` holds;
/// - a sender's pending txs never cost more than its committed balance (checked at `add`);
/// - a tx is *ready* when every nonce from the sender's committed nonce up to it is pending;
///   `takeReady` hands out ready txs oldest first, each sender's in nonce order, each only once
///   until `returnInFlight`;
/// - `add`, `takeReady` (per tx) and `committed` (per tx) are O(log n).
public struct Mempool: Sendable {
    public let settings: MempoolSettings

    struct Entry: Sendable {
        let tx: Transaction
        let arrival: UInt64
        let seq: UInt64  // unique, increasing: breaks arrival ties and marks heap items
    }

    /// One sender's pending txs. Invariant: committedNonce ≤ takeNonce ≤ readyEnd, every nonce in
    /// [committedNonce, readyEnd) is pending, none below committedNonce is.
    struct SenderQueue: Sendable {
        var committedNonce: UInt64
        var takeNonce: UInt64  // next nonce `takeReady` hands out; below it: in flight
        var readyEnd: UInt64  // first missing nonce at or after takeNonce
        var byNonce: [UInt64: Hash32] = [:]
        var pendingCost: UInt64 = 0
    }

    /// A sender whose tx at `takeNonce` is ready, ordered by that tx's arrival.
    struct ReadyItem: Comparable, Sendable {
        let arrival: UInt64
        let seq: UInt64
        let sender: Address
        static func < (a: Self, b: Self) -> Bool { a.arrival != b.arrival ? a.arrival < b.arrival : a.seq < b.seq }
    }

    private var entries: [Hash32: Entry] = [:]
    private var senders: [Address: SenderQueue] = [:]
    private var ready = BinaryHeap<ReadyItem>()  // may hold stale items; checked on pop
    private var nextSeq: UInt64 = 0
    /// Ready txs not yet taken: Σ (readyEnd - takeNonce).
    public private(set) var readyCount = 0

    public init(settings: MempoolSettings = MempoolSettings()) {
        self.settings = settings
    }

    public var count: Int { entries.count }

    /// Every pending transaction, each sender's in nonce order (a draining node hands them on).
    public var all: [Transaction] {
        entries.values.map(\.tx).sorted { ($0.from, $0.nonce) < ($1.from, $1.nonce) }
    }
    /// Drops transactions that wait for a missing earlier nonce (not ready) and arrived before
    /// `cutoff`: a sender whose gap never fills must not hold mempool space for ever.
    public mutating func evictStale(arrivedBefore cutoff: UInt64) -> [Transaction] {
        var evicted: [Transaction] = []
        for (address, var queue) in senders {
            let stale = queue.byNonce.filter { nonce, hash in nonce > queue.readyEnd && (entries[hash]?.arrival ?? .max) < cutoff }
            guard !stale.isEmpty else { continue }
            for (nonce, hash) in stale {
                guard let removed = entries.removeValue(forKey: hash) else { continue }
                queue.byNonce[nonce] = nil
                queue.pendingCost -= removed.tx.cost
                evicted.append(removed.tx)
            }
            if queue.byNonce.isEmpty && queue.takeNonce == queue.committedNonce {
                senders[address] = nil
            } else {
                senders[address] = queue
            }
        }
        assert(readyCount >= 0)
        return evicted
    }

    public func contains(_ hash: Hash32) -> Bool { entries[hash] != nil }
    public func get(_ hash: Hash32) -> Transaction? { entries[hash]?.tx }

    /// Admits `tx`, whose stateless checks (signature included) the caller has done. `sender` is
    /// the committed state of `tx.from`; `arrival` a monotonic timestamp in nanoseconds.
    public mutating func add(_ tx: Transaction, sender: Account, arrival: UInt64) throws(TxRejection) {
        precondition(sender.address == tx.from, "sender account is not the tx's sender")
        guard entries[tx.hash] == nil else { throw .alreadyKnown(tx.hash) }
        // Taken out of the dictionary so mutating `byNonce` does not copy it (copy-on-write).
        var queue = senders.removeValue(forKey: tx.from) ?? SenderQueue(
            committedNonce: sender.nonce, takeNonce: sender.nonce, readyEnd: sender.nonce)
        advance(&queue, to: sender.nonce)
        defer { store(queue, for: tx.from) }
        guard tx.nonce >= queue.committedNonce else {
            throw .nonceTooLow(expected: queue.committedNonce, got: tx.nonce)
        }
        guard queue.byNonce[tx.nonce] == nil else { throw .nonceConflict(nonce: tx.nonce) }
        let (maxNonce, overflow) = queue.readyEnd.addingReportingOverflow(settings.futureNonceWindow)
        guard overflow || tx.nonce <= maxNonce else { throw .nonceTooFar(maxAllowed: maxNonce, got: tx.nonce) }
        let available = sender.balance > queue.pendingCost ? sender.balance - queue.pendingCost : 0
        guard tx.cost <= available else { throw .insufficientFunds(available: available, needed: tx.cost) }
        guard queue.byNonce.count < settings.maxPerSender else {
            throw .senderQueueFull(limit: settings.maxPerSender)
        }
        guard entries.count < settings.maxTxs else { throw .mempoolFull(limit: settings.maxTxs) }

        let entry = Entry(tx: tx, arrival: arrival, seq: nextSeq)
        nextSeq += 1
        entries[tx.hash] = entry
        queue.byNonce[tx.nonce] = tx.hash
        queue.pendingCost += tx.cost
        if tx.nonce == queue.readyEnd { extendReady(&queue) }
        if tx.nonce == queue.takeNonce { pushReady(entry) }
        assert(entries.count <= settings.maxTxs && queue.byNonce.count <= settings.maxPerSender)
    }

    /// Up to `max` ready txs, oldest first, each sender's in nonce order; they are in flight
    /// afterwards and not returned again until `returnInFlight`.
    public mutating func takeReady(max: Int) -> [Transaction] {
        precondition(max >= 0)
        var taken: [Transaction] = []
        taken.reserveCapacity(Swift.min(max, readyCount))
        while taken.count < max, let item = ready.popMin() {
            guard var queue = senders[item.sender], queue.takeNonce < queue.readyEnd,
                let hash = queue.byNonce[queue.takeNonce], let entry = entries[hash], entry.seq == item.seq
            else { continue }  // stale item: that tx was taken, committed or evicted since
            taken.append(entry.tx)
            queue.takeNonce += 1
            readyCount -= 1
            if queue.takeNonce < queue.readyEnd, let next = queue.byNonce[queue.takeNonce] {
                pushReady(entries[next]!)
            }
            senders[item.sender] = queue
        }
        assert(readyCount >= 0 && taken.count <= max)
        compactReadyIfNeeded()
        return taken
    }

    /// Removes the txs of a committed block and evicts every pending tx made stale by it (a nonce
    /// below its sender's new nonce). `accounts` reads the state after the block. Returns the
    /// committed txs that were pending, with their arrival times.
    public mutating func committed(_ txs: [Transaction], accounts: (Address) -> Account)
        -> [(Transaction, arrival: UInt64)]
    {
        var result: [(Transaction, arrival: UInt64)] = []
        var newNonce: [Address: UInt64] = [:]
        for tx in txs {
            if let entry = entries[tx.hash] { result.append((entry.tx, arrival: entry.arrival)) }
            newNonce[tx.from] = Swift.max(newNonce[tx.from] ?? 0, tx.nonce + 1)
        }
        for (address, nonce) in newNonce {
            guard var queue = senders.removeValue(forKey: address) else { continue }
            advance(&queue, to: Swift.max(nonce, accounts(address).nonce))
            store(queue, for: address)
        }
        for (tx, _) in result { assert(entries[tx.hash] == nil, "committed tx still pending") }
        return result
    }

    /// Drops `hash` and every later-nonce tx of the same sender (they cannot execute without it):
    /// for txs a leader's `Ledger.select` rejected. Returns the dropped txs; empty if unknown.
    public mutating func drop(_ hash: Hash32) -> [Transaction] {
        guard let entry = entries[hash], var queue = senders.removeValue(forKey: entry.tx.from) else { return [] }
        let cut = entry.tx.nonce
        assert(queue.byNonce[cut] == hash)
        let readyBefore = Int(queue.readyEnd - queue.takeNonce)
        var dropped: [Transaction] = []
        for n in queue.byNonce.keys where n >= cut {
            let removed = entries.removeValue(forKey: queue.byNonce.removeValue(forKey: n)!)!
            queue.pendingCost -= removed.tx.cost
            dropped.append(removed.tx)
        }
        queue.takeNonce = Swift.min(queue.takeNonce, cut)
        queue.readyEnd = Swift.min(queue.readyEnd, cut)
        readyCount += Int(queue.readyEnd - queue.takeNonce) - readyBefore
        store(queue, for: entry.tx.from)
        assert(entries[hash] == nil && readyCount >= 0)
        return dropped.sorted { $0.nonce < $1.nonce }
    }

    /// Leadership lost: every in-flight tx becomes ready again (each sender from its committed nonce).
    public mutating func returnInFlight() {
        for (address, var queue) in senders where queue.takeNonce > queue.committedNonce {
            readyCount += Int(queue.takeNonce - queue.committedNonce)
            queue.takeNonce = queue.committedNonce
            senders[address] = queue
        }
        rebuildReady()
    }

    // MARK: - Internals

    /// Records that the sender's committed nonce is now `nonce`: evicts what is below it.
    private mutating func advance(_ queue: inout SenderQueue, to nonce: UInt64) {
        guard nonce > queue.committedNonce else { return }
        let readyBefore = Int(queue.readyEnd - queue.takeNonce)
        let stale: [UInt64] =
            nonce - queue.committedNonce <= UInt64(queue.byNonce.count)
            ? (queue.committedNonce..<nonce).filter { queue.byNonce[$0] != nil }
            : queue.byNonce.keys.filter { $0 < nonce }
        for n in stale {
            let hash = queue.byNonce.removeValue(forKey: n)!
            let entry = entries.removeValue(forKey: hash)!
            queue.pendingCost -= entry.tx.cost
        }
        let takeBefore = queue.takeNonce
        queue.committedNonce = nonce
        queue.takeNonce = Swift.max(queue.takeNonce, nonce)
        queue.readyEnd = Swift.max(queue.readyEnd, nonce)
        readyCount += Int(queue.readyEnd - queue.takeNonce) - readyBefore
        extendReady(&queue)
        if queue.takeNonce != takeBefore, let hash = queue.byNonce[queue.takeNonce] { pushReady(entries[hash]!) }
        // O(n) check, so only on small queues.
        assert(queue.byNonce.count > 64 || queue.byNonce.keys.allSatisfy { $0 >= nonce })
    }

    /// Moves `readyEnd` over every pending nonce that continues the run; counts them ready.
    /// Callers have subtracted any earlier contribution of this queue when they reset it.
    private mutating func extendReady(_ queue: inout SenderQueue) {
        let before = queue.readyEnd
        while queue.byNonce[queue.readyEnd] != nil { queue.readyEnd += 1 }
        readyCount += Int(queue.readyEnd - before)
    }

    private mutating func store(_ queue: SenderQueue, for address: Address) {
        if queue.byNonce.isEmpty {
            assert(queue.pendingCost == 0 && queue.readyEnd == queue.takeNonce)
            senders[address] = nil
        } else {
            senders[address] = queue
        }
    }

    private mutating func pushReady(_ entry: Entry) {
        ready.push(ReadyItem(arrival: entry.arrival, seq: entry.seq, sender: entry.tx.from))
    }

    /// Stale heap items are skipped on pop; rebuild when they outnumber the live ones.
    private mutating func compactReadyIfNeeded() {
        if ready.count > 2 * entries.count + 1_024 { rebuildReady() }
    }

    private mutating func rebuildReady() {
        var items: [ReadyItem] = []
        for (address, queue) in senders where queue.takeNonce < queue.readyEnd {
            let entry = entries[queue.byNonce[queue.takeNonce]!]!
            items.append(ReadyItem(arrival: entry.arrival, seq: entry.seq, sender: address))
        }
        ready = BinaryHeap(items)
    }
}

extension Mempool {
    /// Recomputes every derived count from scratch and traps on a mismatch: O(n), for tests.
    func checkInvariants() {
        var ready = 0
        var pending = 0
        for (address, queue) in senders {
            precondition(!queue.byNonce.isEmpty, "empty sender queue kept")
            precondition(queue.committedNonce <= queue.takeNonce && queue.takeNonce <= queue.readyEnd)
            precondition((queue.committedNonce..<queue.readyEnd).allSatisfy { queue.byNonce[$0] != nil })
            precondition(queue.byNonce[queue.readyEnd] == nil)
            var cost: UInt64 = 0
            for (nonce, hash) in queue.byNonce {
                let entry = entries[hash]!
                precondition(entry.tx.from == address && entry.tx.nonce == nonce && nonce >= queue.committedNonce)
                cost += entry.tx.cost
            }
            precondition(cost == queue.pendingCost, "pendingCost drifted")
            ready += Int(queue.readyEnd - queue.takeNonce)
            pending += queue.byNonce.count
        }
        precondition(ready == readyCount, "readyCount drifted")
        precondition(pending == entries.count, "entries not all in sender queues")
    }
}
