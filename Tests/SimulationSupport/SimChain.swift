// The fixed world of the simulated chains, shared by the simulators: accounts with real keys,
// genesis balances, node keys, random transfers.
import Chain
import Synchronization
@testable import Consensus

/// Accounts, genesis, and the transfers clients send in a simulated run.
enum SimChain {
    static let chainId = "sim"
    /// Few accounts, so nonces collide and transfers chain within and across blocks.
    static let accountCount = 8
    static let genesisBalance: UInt64 = 1_000_000
    static let genesisSupply = genesisBalance * UInt64(accountCount)
    /// Most transactions one simulated block carries (keeps runs cheap; the real bound is Limits).
    static let maxTxsPerBlock = 8

    static let accounts: [KeyPair] = (1...accountCount).map { KeyPair(seed: [UInt8](repeating: UInt8(100 + $0), count: 32)) }
    static let genesis = GenesisSpec(chainId: chainId, timestamp: 1, allocations: accounts.map { ($0.address, genesisBalance) })

    /// Random transfers, mostly valid on `state`; a few carry a wrong nonce or overspend, so
    /// selection has something to refuse. Unsigned: the store answers that signatures were checked
    /// (the path the node's entry door provides), and Ed25519 per transfer would slow thousands of runs.
    static func transfers(on state: some AccountSource, count: Int, rng: inout SplitMix64) -> [Transaction] {
        var next: [Address: UInt64] = [:]
        return (0..<count).map { _ in
            let from = accounts[Int(rng.next() % UInt64(accounts.count))]
            let to = accounts[Int(rng.next() % UInt64(accounts.count))].address
            let account = state.account(from.address)
            let expected = next[from.address] ?? account.nonce
            let roll = rng.next() % 100
            let nonce = roll < 5 ? expected + 1 : expected
            let amount = roll % 20 == 19 ? account.balance + 1 : 1 + rng.next() % max(1, account.balance / 4)
            if nonce == expected { next[from.address] = expected + 1 }
            return Transaction(chainId: chainId, from: from.address, to: to, amount: amount, fee: rng.next() % 3,
                               nonce: nonce, pubkey: from.publicKey, signature: .zero)
        }
    }

    /// A node's signing key, derived from its ID once per process (a derivation costs libsodium work).
    static func key(_ id: String) -> KeyPair {
        if let known = keys.withLock({ $0[id] }) { return known }
        var seed = [UInt8](repeating: 7, count: 32)
        for (i, b) in id.utf8.enumerated() where i < 32 { seed[i] = b }
        let key = KeyPair(seed: seed)
        keys.withLock { $0[id] = key }
        return key
    }

    private static let keys = Mutex<[String: KeyPair]>([:])
}
