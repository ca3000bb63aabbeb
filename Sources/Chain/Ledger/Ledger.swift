/// Read access to committed (or overlaid) account state. Unknown addresses must read as
/// `Account(address:)`: balance 0, nonce 0.
public protocol AccountSource {
    func account(_ address: Address) -> Account
}

/// What executing a block changes. Promises: `changes` holds the final value of every touched
/// account, sorted by address, unique — ready for `StateRoot.next` and for storage.
public struct StateDelta: Sendable, Equatable {
    public var changes: [Account]
    /// Fees leave circulation: sum of balances + all fees burned = genesis supply.
    public var feesBurned: UInt64
    public var txCount: Int

    public init(changes: [Account], feesBurned: UInt64, txCount: Int) {
        precondition(zip(changes, changes.dropFirst()).allSatisfy { $0.address < $1.address })
        self.changes = changes
        self.feesBurned = feesBurned
        self.txCount = txCount
    }

    public static let empty = StateDelta(changes: [], feesBurned: 0, txCount: 0)
}

/// Account state as `base` plus applied deltas, in memory: the leader executes block N+1 on top of
/// block N before N is committed. Promises: reads return the latest applied value, else `base`'s.
public struct AccountOverlay<Base: AccountSource>: AccountSource {
    public let base: Base
    private var overrides: [Address: Account] = [:]

    public init(base: Base, deltas: [StateDelta] = []) {
        self.base = base
        for delta in deltas { apply(delta) }
    }

    public mutating func apply(_ delta: StateDelta) {
        for account in delta.changes { overrides[account.address] = account }
    }

    public func account(_ address: Address) -> Account {
        overrides[address] ?? base.account(address)
    }
}

extension AccountOverlay: Sendable where Base: Sendable {}

/// The ledger rules (DESIGN §3), pure: state in, delta out. Signatures and stateless checks are the
/// caller's (in parallel, before); these functions check nonces and balances, applying
/// transactions in order so one block may hold several txs of a sender and spend earlier credits.
public enum Ledger {
    /// Executes a block received from a leader; any invalid transaction rejects the whole block.
    public static func execute(block txs: [Transaction], on base: some AccountSource) throws(BlockRejection)
        -> StateDelta
    {
        guard txs.count <= Limits.maxTxsPerBlock else {
            throw .tooManyTransactions(count: txs.count, limit: Limits.maxTxsPerBlock)
        }
        var work = Execution(base: base)
        for (i, tx) in txs.enumerated() {
            do {
                try work.apply(tx)
            } catch {
                throw .invalidTransaction(index: i, hash: tx.hash, reason: error)
            }
        }
        let delta = work.delta()
        assert(delta.txCount == txs.count)
        return delta
    }

    /// Builds a block's content as a leader: applies `candidates` in order, skipping (and
    /// reporting) the invalid ones, until `maxTxs` are included.
    public static func select(candidates: [Transaction], on base: some AccountSource, maxTxs: Int)
        -> (included: [Transaction], rejected: [(Transaction, TxRejection)], delta: StateDelta)
    {
        precondition(maxTxs >= 0 && maxTxs <= Limits.maxTxsPerBlock, "maxTxs out of range")
        var work = Execution(base: base)
        var included: [Transaction] = []
        var rejected: [(Transaction, TxRejection)] = []
        for tx in candidates where included.count < maxTxs {
            do {
                try work.apply(tx)
                included.append(tx)
            } catch {
                rejected.append((tx, error))
            }
        }
        let delta = work.delta()
        assert(delta.txCount == included.count && included.count <= maxTxs)
        return (included, rejected, delta)
    }
}

/// The working set of one block's execution.
private struct Execution<Base: AccountSource> {
    let base: Base
    var touched: [Address: Account] = [:]
    var feesBurned: UInt64 = 0
    var txCount = 0

    init(base: Base) { self.base = base }

    func current(_ address: Address) -> Account {
        touched[address] ?? base.account(address)
    }

    /// Validates everything first, then mutates: a rejected tx leaves the working set unchanged.
    mutating func apply(_ tx: Transaction) throws(TxRejection) {
        guard tx.amount > 0 else { throw .zeroAmount }
        guard tx.from != tx.to else { throw .selfTransfer }
        var sender = current(tx.from)
        guard tx.nonce >= sender.nonce else { throw .nonceTooLow(expected: sender.nonce, got: tx.nonce) }
        guard tx.nonce == sender.nonce else { throw .nonceTooFar(maxAllowed: sender.nonce, got: tx.nonce) }
        let (cost, overflow) = tx.amount.addingReportingOverflow(tx.fee)
        guard !overflow, cost <= Limits.maxSupply else { throw .amountTooLarge("amount + fee exceeds 2^53-1") }
        guard cost <= sender.balance else { throw .insufficientFunds(available: sender.balance, needed: cost) }
        var recipient = current(tx.to)
        let (credited, creditOverflow) = recipient.balance.addingReportingOverflow(tx.amount)
        guard !creditOverflow, credited <= Limits.maxSupply else {
            throw .amountTooLarge("recipient balance would exceed 2^53-1")
        }
        sender.balance -= cost
        sender.nonce += 1
        recipient.balance = credited
        touched[sender.address] = sender
        touched[recipient.address] = recipient
        feesBurned += tx.fee  // ≤ total supply ≤ 2^53-1: cannot overflow
        txCount += 1
    }

    func delta() -> StateDelta {
        StateDelta(
            changes: touched.values.sorted { $0.address < $1.address }, feesBurned: feesBurned, txCount: txCount)
    }
}
