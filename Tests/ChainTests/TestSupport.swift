@testable import Chain

/// Deterministic keys for tests: seed = [i, i, ..., i].
func testKey(_ i: UInt8) -> KeyPair { KeyPair(seed: [UInt8](repeating: i, count: 32)) }

let testChain = "autochain-test"

/// A signed transfer from `key` (real signature: for tests of validation).
func transfer(_ key: KeyPair, to: Address, amount: UInt64 = 10, fee: UInt64 = 1, nonce: UInt64 = 0,
              chainId: String = testChain) -> Transaction {
    Transaction.signed(chainId: chainId, to: to, amount: amount, fee: fee, nonce: nonce, keyPair: key)
}

/// An unsigned transfer (zero signature) from `from`: cheap, for mempool and ledger tests, which
/// do not verify signatures.
func unsigned(from: Address, to: Address, amount: UInt64 = 10, fee: UInt64 = 1, nonce: UInt64) -> Transaction {
    Transaction(chainId: testChain, from: from, to: to, amount: amount, fee: fee, nonce: nonce,
                pubkey: .zero, signature: .zero)
}

/// An address made of one repeated byte.
func addr(_ b: UInt8) -> Address { Address(bytes: [UInt8](repeating: b, count: 20))! }

/// Account state in a dictionary.
struct MapSource: AccountSource {
    var accounts: [Address: Account] = [:]
    init(_ balances: [(Address, UInt64)]) {
        for (a, b) in balances { accounts[a] = Account(address: a, balance: b, nonce: 0) }
    }
    func account(_ address: Address) -> Account { accounts[address] ?? Account(address: address) }
    mutating func apply(_ delta: StateDelta) {
        for a in delta.changes { accounts[a.address] = a }
    }
}
