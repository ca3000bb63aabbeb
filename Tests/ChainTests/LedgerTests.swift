import Testing
@testable import Chain

private let a = addr(1), b = addr(2), c = addr(3)

@Test func ledger_executeMovesAmountBurnsFeeAndBumpsNonce() throws {
    let base = MapSource([(a, 100)])
    let delta = try Ledger.execute(block: [unsigned(from: a, to: b, amount: 30, fee: 2, nonce: 0)], on: base)
    #expect(delta.changes == [Account(address: a, balance: 68, nonce: 1), Account(address: b, balance: 30, nonce: 0)])
    #expect(delta.feesBurned == 2 && delta.txCount == 1)
}

@Test func ledger_executeAppliesSeveralTxsOfOneSenderInNonceOrder() throws {
    let base = MapSource([(a, 100)])
    let txs = (0..<3).map { unsigned(from: a, to: b, amount: 10, fee: 1, nonce: UInt64($0)) }
    let delta = try Ledger.execute(block: txs, on: base)
    #expect(delta.changes.first { $0.address == a } == Account(address: a, balance: 67, nonce: 3))
}

@Test func ledger_executeLetsAnEarlierCreditFundALaterSpend() throws {
    let base = MapSource([(a, 100)])
    let txs = [unsigned(from: a, to: b, amount: 50, fee: 0, nonce: 0), unsigned(from: b, to: c, amount: 49, fee: 1, nonce: 0)]
    let delta = try Ledger.execute(block: txs, on: base)
    #expect(delta.changes.map(\.balance) == [50, 0, 49])
}

@Test func ledger_executeRejectsWholeBlockOnWrongNonce() {
    let base = MapSource([(a, 100)])
    let skip = unsigned(from: a, to: b, nonce: 1)
    #expect(throws: BlockRejection.invalidTransaction(index: 0, hash: skip.hash, reason: .nonceTooFar(maxAllowed: 0, got: 1))) {
        try Ledger.execute(block: [skip], on: base)
    }
    let first = unsigned(from: a, to: b, nonce: 0)
    let replay = unsigned(from: a, to: c, nonce: 0)
    #expect(throws: BlockRejection.invalidTransaction(index: 1, hash: replay.hash, reason: .nonceTooLow(expected: 1, got: 0))) {
        try Ledger.execute(block: [first, replay], on: base)
    }
}

@Test func ledger_executeRejectsSpendBeyondBalance() {
    let base = MapSource([(a, 10)])
    let tx = unsigned(from: a, to: b, amount: 10, fee: 1, nonce: 0)
    #expect(throws: BlockRejection.invalidTransaction(index: 0, hash: tx.hash, reason: .insufficientFunds(available: 10, needed: 11))) {
        try Ledger.execute(block: [tx], on: base)
    }
}

@Test func ledger_selectSkipsInvalidAndKeepsGoing() {
    let base = MapSource([(a, 100), (b, 5)])
    let good = unsigned(from: a, to: c, amount: 10, fee: 1, nonce: 0)
    let poor = unsigned(from: b, to: c, amount: 10, fee: 1, nonce: 0)
    let gap = unsigned(from: a, to: c, amount: 1, fee: 0, nonce: 5)
    let good2 = unsigned(from: a, to: c, amount: 1, fee: 0, nonce: 1)
    let result = Ledger.select(candidates: [good, poor, gap, good2], on: base, maxTxs: 10)
    #expect(result.included == [good, good2])
    #expect(result.rejected.map(\.1.code) == ["insufficient_funds", "nonce_too_far"])
    #expect(result.delta == (try? Ledger.execute(block: [good, good2], on: base)))
}

@Test func ledger_selectStopsAtMaxTxs() {
    let base = MapSource([(a, 100)])
    let txs = (0..<5).map { unsigned(from: a, to: b, amount: 1, fee: 0, nonce: UInt64($0)) }
    #expect(Ledger.select(candidates: txs, on: base, maxTxs: 2).included == Array(txs.prefix(2)))
}

@Test func ledger_overlayReadsAppliedDeltaOverBase() throws {
    let base = MapSource([(a, 100)])
    let d1 = try Ledger.execute(block: [unsigned(from: a, to: b, amount: 10, fee: 0, nonce: 0)], on: base)
    let overlay = AccountOverlay(base: base, deltas: [d1])
    #expect(overlay.account(a) == Account(address: a, balance: 90, nonce: 1))
    #expect(overlay.account(c) == Account(address: c))
    let d2 = try Ledger.execute(block: [unsigned(from: a, to: b, amount: 10, fee: 0, nonce: 1)], on: overlay)
    #expect(d2.changes.first { $0.address == b }?.balance == 20)
}

/// SplitMix64: a seeded generator, so a failing run replays exactly.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Test func ledger_supplyInvariantHoldsOverRandomBlocks() {
    var rng = SplitMix(state: 42)
    let addresses = (1...8).map { addr(UInt8($0)) }
    var state = MapSource(addresses.map { ($0, 1_000) })
    let supply: UInt64 = 8_000
    var burned: UInt64 = 0
    for _ in 0..<50 {
        var candidates: [Transaction] = []
        var nonces: [Address: UInt64] = [:]
        for _ in 0..<20 {
            let from = addresses.randomElement(using: &rng)!
            var to = addresses.randomElement(using: &rng)!
            if to == from { to = addresses[(addresses.firstIndex(of: from)! + 1) % addresses.count] }
            let nonce = (nonces[from] ?? state.account(from).nonce) + (rng.next() % 8 == 0 ? 1 : 0)
            nonces[from] = nonce + 1
            candidates.append(unsigned(from: from, to: to, amount: 1 + rng.next() % 300, fee: rng.next() % 5, nonce: nonce))
        }
        let result = Ledger.select(candidates: candidates, on: state, maxTxs: 15)
        #expect((try? Ledger.execute(block: result.included, on: state)) == result.delta)
        state.apply(result.delta)
        burned += result.delta.feesBurned
        #expect(addresses.reduce(0) { $0 + state.account($1).balance } + burned == supply)
    }
}
