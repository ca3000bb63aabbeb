// The fixed world of the simulated chains, shared by the simulators: accounts, genesis balances,
// random transfers.
import Chain
@testable import Consensus

/// The fixed world of a simulated chain: accounts, genesis balances, the block payload codec.
enum SimChain {
    static let chainId = "sim"
    /// Few accounts, so nonces collide and transfers chain within and across blocks.
    static let accountCount = 8
    static let genesisBalance: UInt64 = 1_000_000
    static let genesisSupply = genesisBalance * UInt64(accountCount)
    /// Most transactions one simulated block carries (keeps replay cheap; the real bound is Limits).
    static let maxTxsPerBlock = 8

    /// Addresses 0x00…01 … 0x00…08, ascending.
    static let addresses: [Address] = (1...accountCount).map { i in
        Address(bytes: [UInt8](repeating: 0, count: Address.byteCount - 1) + [UInt8(i)])!
    }

    static let genesisAccounts: [Account] = addresses.map { Account(address: $0, balance: genesisBalance) }
    static let genesisRoot = StateRoot.next(previous: .zero, changes: genesisAccounts)

    /// An unsigned transfer: execution does not look at signatures (the runtime verifies them
    /// before), and skipping Ed25519 keeps thousands of schedules fast.
    static func transfer(from: Address, to: Address, amount: UInt64, fee: UInt64, nonce: UInt64) -> Transaction {
        Transaction(chainId: chainId, from: from, to: to, amount: amount, fee: fee, nonce: nonce,
                    pubkey: .zero, signature: .zero)
    }
}

extension SimChain {
    /// Random transfers, mostly valid on `state`; a few carry a wrong nonce, overspend, or pay
    /// oneself, so selection has something to reject. At most `maxCount` of them.
    static func candidates(on state: some AccountSource, maxCount: UInt64, rng: inout SplitMix64) -> [Transaction] {
        precondition(maxCount >= 1)
        func pick(_ items: [Address]) -> Address { items[Int(rng.next() % UInt64(items.count))] }
        var nextNonce: [Address: UInt64] = [:]
        var candidates: [Transaction] = []
        let count = 1 + rng.next() % maxCount
        for _ in 0..<count {
            let from = pick(addresses)
            let to = pick(addresses)
            let account = state.account(from)
            let expected = nextNonce[from] ?? account.nonce
            let roll = rng.next() % 100
            let nonce = roll < 4 ? expected + 1 : (roll < 8 && expected > 0 ? expected - 1 : expected)
            let amount = roll % 20 == 19 ? account.balance + 1 : 1 + rng.next() % max(1, account.balance / 4)
            candidates.append(transfer(from: from, to: to, amount: amount, fee: rng.next() % 3, nonce: nonce))
            if nonce == expected { nextNonce[from] = expected + 1 }
        }
        assert(candidates.count == Int(count))
        return candidates
    }
}
