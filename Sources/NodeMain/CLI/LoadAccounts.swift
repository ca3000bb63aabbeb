/// The sending accounts of `autochain load` and their nonces: the next nonce each sends, the
/// next one the chain has yet to commit, and whether the account is still used.
///
/// A transfer is identified by (account, nonce) and its content is fixed by them (amount 1, fee 1,
/// to the next account), so sending a nonce again sends the same transaction: the node answers
/// `already_known` when it has it. That makes recovery one rule: an account rewinds to a refused
/// nonce (busy node) or, when nothing of it committed for a while (a leader died with its
/// mempool), to its committed nonce, and sends from there again.
struct LoadAccounts: Sendable {
    struct Account: Equatable, Sendable {
        var next: UInt64 = 0
        var committed: UInt64 = 0
        /// When the account last started sending or saw a commit (seconds, the caller's clock).
        var lastProgressS = 0.0
        var retired = false
        var inFlight: Int { Int(next - committed) }
    }

    private(set) var accounts: [Account]
    /// Nonces an account may have sent and not yet seen committed: below the node's default
    /// `future_nonce_window` (64), as one account's transfers may arrive out of order.
    let windowPerAccount: Int
    private var cursor = 0

    init(count: Int, windowPerAccount: Int) {
        precondition(count > 0 && windowPerAccount > 0)
        accounts = Array(repeating: Account(), count: count)
        self.windowPerAccount = windowPerAccount
    }

    var inFlight: Int { accounts.reduce(0) { $0 + ($1.retired ? 0 : $1.inFlight) } }
    var usable: Int { accounts.count { !$0.retired } }

    /// Up to `n` (account, nonce) pairs to send, spread round-robin over the accounts with room
    /// in their window; fewer when the windows are full.
    mutating func take(_ n: Int, nowS: Double) -> [(account: Int, nonce: UInt64)] {
        var out: [(account: Int, nonce: UInt64)] = []
        out.reserveCapacity(max(0, n))
        while out.count < n {
            let before = out.count
            for step in 0..<accounts.count where out.count < n {
                let i = (cursor + step) % accounts.count
                guard !accounts[i].retired, accounts[i].inFlight < windowPerAccount else { continue }
                if accounts[i].inFlight == 0 { accounts[i].lastProgressS = nowS }
                out.append((i, accounts[i].next))
                accounts[i].next += 1
            }
            cursor = (cursor + 1) % accounts.count
            if out.count == before { break }
        }
        return out
    }

    /// The chain committed `nonce` of `account`.
    mutating func committed(account: Int, nonce: UInt64, nowS: Double) {
        guard accounts.indices.contains(account), nonce >= accounts[account].committed else { return }
        accounts[account].committed = nonce + 1
        accounts[account].next = max(accounts[account].next, nonce + 1)
        accounts[account].lastProgressS = nowS
    }

    /// The node did not take `nonce` of `account` for now (busy, or the request failed): it is
    /// sent again, with the ones after it.
    mutating func rewind(account: Int, to nonce: UInt64) {
        guard accounts.indices.contains(account) else { return }
        accounts[account].next = max(accounts[account].committed, min(accounts[account].next, nonce))
    }

    /// The node refused a transfer of `account` for good: the account sends no more.
    mutating func retire(account: Int) {
        guard accounts.indices.contains(account) else { return }
        accounts[account].retired = true
    }

    /// Accounts with transfers in flight and no commit for `afterS` seconds send again from their
    /// committed nonce. Returns how many rewound.
    mutating func rewindStalled(nowS: Double, afterS: Double) -> Int {
        var count = 0
        for i in accounts.indices where !accounts[i].retired && accounts[i].inFlight > 0 && nowS - accounts[i].lastProgressS > afterS {
            accounts[i].next = accounts[i].committed
            accounts[i].lastProgressS = nowS
            count += 1
        }
        return count
    }
}
