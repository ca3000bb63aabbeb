import Chain
import Foundation
import Synchronization
import Testing

/// Crash safety with kill -9, not a clean shutdown: nothing acknowledged is lost, the chain ends
/// at a block boundary, and the balances are exactly a replay of the committed blocks.
@Suite("ProcessTests.Crash") struct CrashTests {
    struct MapSource: AccountSource {
        var accounts: [Address: Account]
        func account(_ a: Address) -> Account { accounts[a] ?? Account(address: a, balance: 0, nonce: 0) }
    }

    @Test func kill9MidLoad_losesNothingAcknowledged() throws {
        let node = try NodeProcess()
        try node.start()
        let dev = KeyPair.development
        let senders = (0..<8).map { _ in KeyPair.generate() }
        let funding = senders.enumerated().map { i, k in
            Transaction.signed(chainId: "autochain-dev", to: k.address, amount: 1_000_000, fee: 1, nonce: UInt64(i), keyPair: dev)
        }
        let (fs, fa) = try node.json("POST", "/submit-txs", ["txs": .array(funding.map(\.json))])
        #expect(fs == 202, "\(fa)")
        _ = try node.json("POST", "/submit-tx?wait=commit",
                          Transaction.signed(chainId: "autochain-dev", to: senders[0].address, amount: 1, fee: 1,
                                             nonce: UInt64(senders.count), keyPair: dev).json)

        let acknowledged = Mutex<[Hash32]>([])
        let stop = Atomic<Bool>(false)
        let group = DispatchGroup()
        for (i, sender) in senders.enumerated() {
            group.enter()
            Thread {
                defer { group.leave() }
                var nonce: UInt64 = 0
                let to = senders[(i + 1) % senders.count].address
                while !stop.load(ordering: .relaxed) {
                    let tx = Transaction.signed(chainId: "autochain-dev", to: to, amount: 1, fee: 1, nonce: nonce, keyPair: sender)
                    guard let r = try? node.json("POST", "/submit-tx?wait=commit", tx.json) else { return }
                    if r.status == 200 { acknowledged.withLock { $0.append(tx.hash) } }
                    nonce += 1
                }
            }.start()
        }
        // Mid-load means: the senders have had a good number of transfers acknowledged. Waited for
        // (bounded), not assumed after a fixed time: a busy machine commits fewer in 1.5 s.
        let loaded = Date().addingTimeInterval(60)
        while acknowledged.withLock({ $0.count }) <= 50, Date() < loaded { usleep(20_000) }
        node.kill9()
        stop.store(true, ordering: .relaxed)
        _ = group.wait(timeout: .now() + 30)
        let acked = acknowledged.withLock { $0 }
        #expect(acked.count > 50, "the load should have committed more than 50 transfers within 60 s; \(acked.count) were acknowledged")

        try node.start()
        defer { node.stop() }
        for hash in acked {
            let r = try node.json("GET", "/tx/\(hash.hex)")
            #expect(r.body["status"]?.stringValue == "committed", "acknowledged \(hash.hex) lost: \(r.body)")
        }
        // Replay every committed block from genesis and compare with what the node serves.
        let height = try #require(node.json("GET", "/chain/head").body["head"]?["height"]?.intValue)
        let genesis = GenesisSpec(chainId: "autochain-dev", timestamp: 1_767_225_600_000,
                                  allocations: [(dev.address, 1_000_000_000_000_000)]).block()
        var state = MapSource(accounts: [dev.address: Account(address: dev.address, balance: 1_000_000_000_000_000, nonce: 0)])
        var prevHash = genesis.hash
        var stateRoot = genesis.header.stateRoot
        var fees: UInt64 = 0
        for h in 1...height {
            let json = try #require(node.json("GET", "/block/\(h)").body["block"])
            let block = try Block(json: json)
            #expect(block.header.prevHash == prevHash, "block \(h) does not link")
            #expect(block.verifyProposerSignature())
            let delta = try Ledger.execute(block: block.txs, on: state)
            if let change = block.membership {
                stateRoot = StateRoot.next(previous: stateRoot, membership: change)
            } else if !block.txs.isEmpty {
                stateRoot = StateRoot.next(previous: stateRoot, changes: delta.changes)
            }
            #expect(stateRoot == block.header.stateRoot, "stateRoot diverges at \(h)")
            for a in delta.changes { state.accounts[a.address] = a }
            fees += delta.feesBurned
            prevHash = block.hash
        }
        #expect(try node.json("GET", "/block/\(height + 1)").status == 404)
        var total: UInt64 = 0
        for (address, account) in state.accounts {
            let served = try node.json("GET", "/balance/\(address.hex)").body
            #expect(served["balance"]?.intValue == Int64(account.balance), "balance of \(address.hex)")
            #expect(served["nonce"]?.intValue == Int64(account.nonce), "nonce of \(address.hex)")
            total += account.balance
        }
        #expect(total + fees == 1_000_000_000_000_000, "supply is conserved")
    }
}
