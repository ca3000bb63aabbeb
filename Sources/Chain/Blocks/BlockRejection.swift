/// Why a block from a peer or the log was refused. A leader never produces one of these for its
/// own blocks; on a follower each means a faulty or malicious proposer, so it is a typed error.
public enum BlockRejection: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidJSON(String)
    case hashMismatch(claimed: Hash32, computed: Hash32)
    case tooManyTransactions(count: Int, limit: Int)
    case txCountMismatch(header: UInt32, actual: Int)
    case txRootMismatch(header: Hash32, computed: Hash32)
    case duplicateTransaction(index: Int, hash: Hash32)
    /// Transaction `index` failed a stateless or ledger rule.
    case invalidTransaction(index: Int, hash: Hash32, reason: TxRejection)

    public var description: String {
        switch self {
        case .invalidJSON(let why): "invalid block JSON: \(why)"
        case .hashMismatch(let c, let h): "block hash \(c) does not match computed \(h)"
        case .tooManyTransactions(let c, let l): "block has \(c) transactions, limit \(l)"
        case .txCountMismatch(let h, let a): "header txCount \(h) but block carries \(a)"
        case .txRootMismatch(let h, let c): "header txRoot \(h) but transactions give \(c)"
        case .duplicateTransaction(let i, let h): "transaction \(i) (\(h)) appears twice"
        case .invalidTransaction(let i, let h, let r): "transaction \(i) (\(h)): \(r)"
        }
    }
}
