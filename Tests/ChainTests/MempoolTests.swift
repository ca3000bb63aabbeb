import Foundation
import Testing
@testable import Chain

private let a = addr(1), b = addr(2), c = addr(3)
private func rich(_ address: Address, nonce: UInt64 = 0) -> Account {
    Account(address: address, balance: 1_000_000, nonce: nonce)
}

@Test func mempool_addMakesTxVisibleAndReady() throws {
    var pool = Mempool()
    let tx = unsigned(from: a, to: b, nonce: 0)
    try pool.add(tx, sender: rich(a), arrival: 1)
    #expect(pool.contains(tx.hash) && pool.get(tx.hash) == tx)
    #expect(pool.count == 1 && pool.readyCount == 1)
    pool.checkInvariants()
}

@Test func mempool_rejectsDuplicateHash() throws {
    var pool = Mempool()
    let tx = unsigned(from: a, to: b, nonce: 0)
    try pool.add(tx, sender: rich(a), arrival: 1)
    #expect(throws: TxRejection.alreadyKnown(tx.hash)) { try pool.add(tx, sender: rich(a), arrival: 2) }
}

@Test func mempool_rejectsNonceBelowCommitted() {
    var pool = Mempool()
    #expect(throws: TxRejection.nonceTooLow(expected: 3, got: 2)) {
        try pool.add(unsigned(from: a, to: b, nonce: 2), sender: rich(a, nonce: 3), arrival: 1)
    }
    #expect(pool.count == 0)
    pool.checkInvariants()
}

@Test func mempool_rejectsSecondTxWithSamePendingNonce() throws {
    var pool = Mempool()
    try pool.add(unsigned(from: a, to: b, nonce: 0), sender: rich(a), arrival: 1)
    #expect(throws: TxRejection.nonceConflict(nonce: 0)) {
        try pool.add(unsigned(from: a, to: c, nonce: 0), sender: rich(a), arrival: 2)
    }
}

@Test func mempool_rejectsFutureNonceBeyondWindow() throws {
    var pool = Mempool(settings: MempoolSettings(futureNonceWindow: 4))
    try pool.add(unsigned(from: a, to: b, nonce: 0), sender: rich(a), arrival: 1)
    try pool.add(unsigned(from: a, to: b, nonce: 5), sender: rich(a), arrival: 2)  // next expected 1, +4
    #expect(throws: TxRejection.nonceTooFar(maxAllowed: 5, got: 6)) {
        try pool.add(unsigned(from: a, to: b, nonce: 6), sender: rich(a), arrival: 3)
    }
    #expect(pool.readyCount == 1)
    pool.checkInvariants()
}

@Test func mempool_rejectsSpendBeyondBalanceMinusPending() throws {
    var pool = Mempool()
    let sender = Account(address: a, balance: 25, nonce: 0)
    try pool.add(unsigned(from: a, to: b, amount: 10, fee: 1, nonce: 0), sender: sender, arrival: 1)
    try pool.add(unsigned(from: a, to: b, amount: 10, fee: 1, nonce: 1), sender: sender, arrival: 2)
    #expect(throws: TxRejection.insufficientFunds(available: 3, needed: 4)) {
        try pool.add(unsigned(from: a, to: b, amount: 3, fee: 1, nonce: 2), sender: sender, arrival: 3)
    }
}

@Test func mempool_enforcesPerSenderAndGlobalBounds() throws {
    var pool = Mempool(settings: MempoolSettings(maxTxs: 3, maxPerSender: 2, futureNonceWindow: 2))
    try pool.add(unsigned(from: a, to: b, nonce: 0), sender: rich(a), arrival: 1)
    try pool.add(unsigned(from: a, to: b, nonce: 1), sender: rich(a), arrival: 2)
    #expect(throws: TxRejection.senderQueueFull(limit: 2)) {
        try pool.add(unsigned(from: a, to: b, nonce: 2), sender: rich(a), arrival: 3)
    }
    try pool.add(unsigned(from: b, to: a, nonce: 0), sender: rich(b), arrival: 4)
    #expect(throws: TxRejection.mempoolFull(limit: 3)) {
        try pool.add(unsigned(from: c, to: a, nonce: 0), sender: rich(c), arrival: 5)
    }
}

@Test func mempool_futureTxBecomesReadyWhenGapFills() throws {
    var pool = Mempool()
    try pool.add(unsigned(from: a, to: b, nonce: 1), sender: rich(a), arrival: 1)
    #expect(pool.readyCount == 0 && pool.takeReady(max: 10).isEmpty)
    try pool.add(unsigned(from: a, to: b, nonce: 0), sender: rich(a), arrival: 2)
    #expect(pool.readyCount == 2)
    #expect(pool.takeReady(max: 10).map(\.nonce) == [0, 1])
    pool.checkInvariants()
}

@Test func mempool_takeReadyIsOldestFirstAndNonceOrderedPerSender() throws {
    var pool = Mempool()
    try pool.add(unsigned(from: a, to: c, nonce: 1), sender: rich(a), arrival: 1)
    try pool.add(unsigned(from: b, to: c, nonce: 0), sender: rich(b), arrival: 2)
    try pool.add(unsigned(from: a, to: c, nonce: 0), sender: rich(a), arrival: 3)
    try pool.add(unsigned(from: b, to: c, nonce: 1), sender: rich(b), arrival: 4)
    let taken = pool.takeReady(max: 10)
    #expect(taken.map { "\($0.from == a ? "a" : "b")\($0.nonce)" } == ["b0", "a0", "a1", "b1"])
}

@Test func mempool_takeReadyDoesNotReturnInFlightTxsAgain() throws {
    var pool = Mempool()
    for n in 0..<5 { try pool.add(unsigned(from: a, to: b, nonce: UInt64(n)), sender: rich(a), arrival: UInt64(n)) }
    #expect(pool.takeReady(max: 2).map(\.nonce) == [0, 1])
    #expect(pool.readyCount == 3 && pool.count == 5)
    #expect(pool.takeReady(max: 10).map(\.nonce) == [2, 3, 4])
    #expect(pool.takeReady(max: 10).isEmpty)
    pool.checkInvariants()
}

@Test func mempool_committedRemovesTxsAndReturnsArrivals() throws {
    var pool = Mempool()
    let txs = (0..<3).map { unsigned(from: a, to: b, nonce: UInt64($0)) }
    for (i, tx) in txs.enumerated() { try pool.add(tx, sender: rich(a), arrival: UInt64(100 + i)) }
    _ = pool.takeReady(max: 2)
    let removed = pool.committed(Array(txs.prefix(2))) { rich($0, nonce: $0 == a ? 2 : 0) }
    #expect(removed.map(\.0) == Array(txs.prefix(2)) && removed.map(\.arrival) == [100, 101])
    #expect(pool.count == 1 && pool.readyCount == 1)
    #expect(pool.takeReady(max: 10) == [txs[2]])
    pool.checkInvariants()
}

@Test func mempool_committedEvictsTxsMadeStaleByAnotherTx() throws {
    var pool = Mempool()
    let mine = unsigned(from: a, to: b, nonce: 0)
    try pool.add(mine, sender: rich(a), arrival: 1)
    let other = unsigned(from: a, to: c, nonce: 0)  // committed via another node
    #expect(pool.committed([other]) { rich($0, nonce: 1) }.isEmpty)
    #expect(!pool.contains(mine.hash) && pool.count == 0 && pool.readyCount == 0)
    pool.checkInvariants()
}

@Test func mempool_returnInFlightMakesTakenTxsReadyAgain() throws {
    var pool = Mempool()
    for n in 0..<3 { try pool.add(unsigned(from: a, to: b, nonce: UInt64(n)), sender: rich(a), arrival: UInt64(n)) }
    _ = pool.takeReady(max: 3)
    #expect(pool.readyCount == 0)
    pool.returnInFlight()
    #expect(pool.readyCount == 3)
    #expect(pool.takeReady(max: 10).map(\.nonce) == [0, 1, 2])
    pool.checkInvariants()
}

@Test func mempool_dropRemovesTxAndItsSendersLaterNonces() throws {
    var pool = Mempool()
    let txs = (0..<4).map { unsigned(from: a, to: b, nonce: UInt64($0)) }
    for tx in txs { try pool.add(tx, sender: rich(a), arrival: 1) }
    try pool.add(unsigned(from: b, to: a, nonce: 0), sender: rich(b), arrival: 2)
    _ = pool.takeReady(max: 2)
    #expect(pool.drop(txs[1].hash) == Array(txs[1...]))
    #expect(pool.count == 2 && pool.readyCount == 1)
    pool.checkInvariants()
    // The sender can resubmit nonce 1 once it is no longer pending.
    try pool.add(unsigned(from: a, to: c, nonce: 1), sender: rich(a), arrival: 3)
    pool.checkInvariants()
}

@Test func mempool_invariantsHoldUnderRandomOperations() {
    var rng = SplitMix(state: 7)
    var pool = Mempool(settings: MempoolSettings(maxTxs: 200, maxPerSender: 30, futureNonceWindow: 5))
    let senders = (1...6).map { addr(UInt8($0)) }
    var committedNonce: [Address: UInt64] = [:]
    for step in 0..<3_000 {
        let from = senders.randomElement(using: &rng)!
        switch rng.next() % 10 {
        case 0..<6:
            let nonce = (committedNonce[from] ?? 0) + rng.next() % 8
            let tx = unsigned(from: from, to: addr(99), amount: 1 + rng.next() % 5, nonce: nonce)
            try? pool.add(tx, sender: Account(address: from, balance: 500, nonce: committedNonce[from] ?? 0),
                          arrival: UInt64(step))
        case 6, 7:
            let taken = pool.takeReady(max: Int(rng.next() % 5))
            if rng.next() % 2 == 0, let first = taken.first {
                committedNonce[first.from] = first.nonce + 1
                _ = pool.committed([first]) { Account(address: $0, nonce: committedNonce[$0] ?? 0) }
            }
        case 8:
            pool.returnInFlight()
        default:
            if let victim = pool.takeReady(max: 1).first { _ = pool.drop(victim.hash) }
        }
        pool.checkInvariants()
    }
}

/// Adds and takes scale linearly: 100,000 transfers cost about ten times what 10,000 cost. A
/// ratio of two runs on the same thread, not a time bound, so a busy or slow machine cannot fail
/// it, while quadratic work (a ratio near 100) still does. The absolute figure is printed only.
@Test func mempool_addsAndTakesScaleLinearly() throws {
    let small = try mempoolAddsAndTakesCPUSeconds(perSender: 100)
    let large = try mempoolAddsAndTakesCPUSeconds(perSender: 1_000)
    print("mempool adds + takes: 10k in \(small) s, 100k in \(large) s of CPU (ratio \(large / small))")
    #expect(large / small < 35, "100k took \(large) s of CPU, 10k \(small) s: worse than linear")
}

/// Thread CPU time of adding `perSender` transfers for each of 100 senders and taking them all.
private func mempoolAddsAndTakesCPUSeconds(perSender: Int) throws -> Double {
    let senders = (0..<100).map { i in Address(bytes: [UInt8(i)] + [UInt8](repeating: 7, count: 19))! }
    var txs: [Transaction] = []
    txs.reserveCapacity(100 * perSender)
    for n in 0..<perSender {
        for s in senders { txs.append(unsigned(from: s, to: addr(200), amount: 1, fee: 0, nonce: UInt64(n))) }
    }
    var pool = Mempool()
    // CPU time of this thread, not wall time: other tests run in parallel on the same cores.
    func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
    let started = threadCPUSeconds()
    for (i, tx) in txs.enumerated() {
        try pool.add(tx, sender: Account(address: tx.from, balance: 10_000), arrival: UInt64(i))
    }
    #expect(pool.count == txs.count)
    var taken = 0
    while taken < txs.count { taken += pool.takeReady(max: 5_000).count }
    #expect(taken == txs.count)
    return max(threadCPUSeconds() - started, 1e-6)
}

@Test func mempool_evictsTxsStuckBehindANonceGapAfterTheirTime() throws {
    var pool = Mempool()
    let sender = addr(1)
    let account = Account(address: sender, balance: 1_000)
    try pool.add(unsigned(from: sender, to: addr(2), amount: 1, fee: 0, nonce: 0), sender: account, arrival: 10)
    // nonce 1 never arrives; 2 and 3 wait behind the gap
    try pool.add(unsigned(from: sender, to: addr(2), amount: 1, fee: 0, nonce: 2), sender: account, arrival: 20)
    try pool.add(unsigned(from: sender, to: addr(2), amount: 1, fee: 0, nonce: 3), sender: account, arrival: 90)
    #expect(pool.evictStale(arrivedBefore: 15).isEmpty, "the ready tx is never evicted")
    let evicted = pool.evictStale(arrivedBefore: 50)
    #expect(evicted.map(\.nonce) == [2])
    #expect(pool.count == 2)
    #expect(pool.readyCount == 1)
    #expect(pool.takeReady(max: 10).map(\.nonce) == [0])
}
