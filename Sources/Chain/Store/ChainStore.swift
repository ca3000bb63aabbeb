/// The node's durable state in one SQLite database (WAL): committed blocks, the tx index,
/// accounts, the uncommitted Raft log tail, the Raft hard state and chain metadata.
///
/// Promises:
/// - a committed block is written in one SQLite transaction together with its account changes,
///   its tx index rows and the removal of its log-tail entry, so a crash leaves the store at a
///   block boundary;
/// - the tx index costs a commit about as many pages as the block's own data, however long the
///   chain: its rows are keyed by (bucket, hash), and a bucket holds the next `txIndexBucketRows`
///   transactions, so a block's rows land on the pages of the one young bucket, not all over an
///   index of the whole chain (a lookup by hash tries each bucket, newest first: `ChainReader`);
/// - `open` refuses a database that belongs to another chain, has another schema version, or
///   whose head does not check out, with a message that says what is wrong and what to do.
///
/// Confined to one thread (the node runtime); readers on other threads use `ChainReader`.
public final class ChainStore {
    public static let schemaVersion: Int64 = 2
    /// Transactions per tx-index bucket (see the type's promises). Smaller buckets make a
    /// commit write fewer index pages and a lookup try more buckets: at 16,384, a block of 2,000
    /// writes about 150 index pages (against 2,000 in an index keyed by hash alone once it holds
    /// 100,000 transfers), and a lookup in a 10,000,000-transfer chain tries 611 buckets.
    public static let txIndexBucketRows = 16_384

    let db: Database
    public let path: String
    public private(set) var headHeight: UInt64 = 0
    public private(set) var headHash: Hash32 = .zero
    public private(set) var headStateRoot: Hash32 = .zero
    public private(set) var feesBurned: UInt64 = 0
    /// The membership as of the head (empty until block 1, the bootstrap block, is applied).
    public private(set) var membership = ClusterMembership()
    /// Rows per tx-index bucket for this store (`txIndexBucketRows` but in tests).
    let txBucketLimit: Int
    /// The tx-index bucket new rows go to, and how many rows it holds: read at the first write
    /// (the index is not read at open, so damage there is the start-up check's to report).
    private var txBucket: (bucket: Int64, rows: Int)?

    /// Opens (creating if needed) the database at `path` for the chain whose genesis is given.
    public init(path: String, genesis: GenesisSpec, synchronous: DatabaseOptions.Synchronous = .full,
                txIndexBucketRows: Int = ChainStore.txIndexBucketRows) throws(StoreError) {
        self.path = path
        txBucketLimit = max(1, txIndexBucketRows)
        do {
            db = try Database(path: path, options: DatabaseOptions(synchronous: synchronous))
        } catch {
            throw .unusable(path: path, reason: "\(error)")
        }
        do {
            try createSchemaIfNeeded()
            try checkOrInitialize(genesis: genesis)
            try loadHead()
        } catch let e as StoreError {
            throw e
        } catch {
            throw .unusable(path: path, reason: "\(error)")
        }
    }

    private func createSchemaIfNeeded() throws {
        try db.execute("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,
                term INTEGER NOT NULL, data BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS \(Self.txIndexTable);
            CREATE TABLE IF NOT EXISTS accounts (address BLOB PRIMARY KEY, balance INTEGER NOT NULL,
                nonce INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS raft_log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL,
                data BLOB NOT NULL, conf TEXT);
            """)
    }

    private func checkOrInitialize(genesis spec: GenesisSpec) throws {
        let genesis = spec.block()
        guard var version = try metaInt("schema_version") else {
            try initialize(genesis: genesis, spec: spec)
            return
        }
        if version == 1 {
            try migrateTxIndexFromVersion1()
            version = 2
        }
        guard version == Self.schemaVersion else {
            throw StoreError.unusable(path: path, reason:
                "schema version \(version), this binary reads version \(Self.schemaVersion); wipe the data directory to re-sync")
        }
        let storedChain = try metaText("chain_id") ?? "?"
        let storedGenesis = try metaBlob("genesis_hash").flatMap { Hash32(bytes: $0) }
        guard storedChain == spec.chainId, storedGenesis == genesis.hash else {
            throw StoreError.wrongChain(path: path, stored: storedChain, storedGenesis: storedGenesis?.hex ?? "?",
                                        configured: spec.chainId, configuredGenesis: genesis.hash.hex)
        }
    }

    /// Schema 2's tx index (the type's promises), for `CREATE TABLE`.
    static let txIndexTable = """
        txs (bucket INTEGER NOT NULL, hash BLOB NOT NULL, height INTEGER NOT NULL, idx INTEGER NOT NULL,
            PRIMARY KEY (bucket, hash)) WITHOUT ROWID
        """

    /// Schema 1 keyed the tx index by hash alone; its rows become bucket 0 of schema 2's index
    /// (one big bucket: new rows go to bucket 1 on), in one transaction with the version bump,
    /// so a crash leaves either schema whole.
    private func migrateTxIndexFromVersion1() throws {
        try db.transaction {
            try db.execute("""
                ALTER TABLE txs RENAME TO txs_v1;
                CREATE TABLE \(Self.txIndexTable);
                INSERT INTO txs (bucket, hash, height, idx) SELECT 0, hash, height, idx FROM txs_v1 ORDER BY hash;
                DROP TABLE txs_v1;
                """)
            try setMeta("schema_version", int: 2)
        }
    }

    private func initialize(genesis: Block, spec: GenesisSpec) throws {
        precondition(genesis.header.height == 0, "genesis must be height 0")
        try db.transaction {
            try setMeta("schema_version", int: Self.schemaVersion)
            try setMeta("chain_id", text: spec.chainId)
            try setMeta("genesis_hash", blob: genesis.hash.bytes)
            try setMeta("fees_burned", int: 0)
            try insertBlock(genesis)
            let upsert = try db.prepare("INSERT INTO accounts (address, balance, nonce) VALUES (?, ?, ?)")
            for (address, balance) in spec.allocations {
                try upsert.run(.blob(address.bytes), .integer(Int64(balance)), .integer(0))
            }
        }
    }

    private func loadHead() throws {
        let stmt = try db.prepare("SELECT height, data FROM blocks ORDER BY height DESC LIMIT 1")
        defer { stmt.reset() }
        guard try stmt.step() else { throw StoreError.unusable(path: path, reason: "no blocks, not even genesis") }
        let height = try stored(stmt.int64(0), "head height")
        let block: Block
        do { block = try Block.decode(stmt.blob(1)) } catch {
            throw StoreError.corrupt(path: path, reason: "head block \(height) does not decode: \(error)")
        }
        guard block.header.height == height else {
            throw StoreError.corrupt(path: path, reason: "block stored at \(height) says height \(block.header.height)")
        }
        headHeight = height
        headHash = block.hash
        headStateRoot = block.header.stateRoot
        feesBurned = try stored(try metaInt("fees_burned") ?? 0, "fees_burned")
        if let text = try metaText("membership") {
            guard let parsed = try? JSON.parse(text), var m = ClusterMembership(json: parsed) else {
                throw StoreError.corrupt(path: path, reason: "membership record does not parse")
            }
            if ClusterMembership.lacksRetiredKeys(parsed), !m.retired.isEmpty { m.retiredKeys = try replayedMembership().retiredKeys }
            membership = m
        }
    }

    /// The membership replayed from the chain's membership blocks: for a record written before
    /// it kept `retiredKeys`, so every node derives the same tombstones from the same chain.
    /// A membership block carries no transactions, so only blocks of at most
    /// `maxMembershipBlockBytes` are decoded.
    private func replayedMembership() throws -> ClusterMembership {
        let stmt = try db.prepare("SELECT height, data FROM blocks WHERE height >= 1 AND length(data) <= ? ORDER BY height")
        defer { stmt.reset() }
        try stmt.bind(1, SQLValue.integer(Int64(Self.maxMembershipBlockBytes)))
        var replayed = ClusterMembership()
        while try stmt.step() {
            let block: Block
            do { block = try Block.decode(stmt.blob(1)) } catch {
                throw StoreError.corrupt(path: path, reason: "block \(stmt.int64(0)) does not decode: \(error)")
            }
            if let change = block.membership { replayed = replayed.applying(change) }
        }
        return replayed
    }

    /// Longest encoded block without transactions: version (1) ‖ header (156) ‖ signature (64) ‖
    /// flag (1) ‖ kind (1) ‖ len (1) ‖ node ID (≤ 63) ‖ key (32) = 319, rounded up.
    static let maxMembershipBlockBytes = 512

    // MARK: reads (runtime thread)

    public func block(at height: UInt64) throws -> Block? {
        let stmt = try db.prepare("SELECT data FROM blocks WHERE height = ?")
        defer { stmt.reset() }
        try stmt.bind(1, SQLValue.integer(Int64(height)))
        guard try stmt.step() else { return nil }
        return try Block.decode(stmt.blob(0))
    }

    public func blockTerm(at height: UInt64) throws -> UInt64? {
        let stmt = try db.prepare("SELECT term FROM blocks WHERE height = ?")
        defer { stmt.reset() }
        try stmt.bind(1, SQLValue.integer(Int64(height)))
        guard try stmt.step() else { return nil }
        return try stored(stmt.int64(0), "term of block \(height)")
    }

    /// Every account, for the runtime's in-memory view of committed state.
    public func loadAccounts() throws -> [Address: Account] {
        let stmt = try db.prepare("SELECT address, balance, nonce FROM accounts")
        defer { stmt.reset() }
        var out: [Address: Account] = [:]
        while try stmt.step() {
            guard let address = Address(bytes: stmt.blob(0)) else {
                throw StoreError.corrupt(path: path, reason: "account row with a malformed address")
            }
            out[address] = Account(address: address, balance: try stored(stmt.int64(1), "a balance"),
                                   nonce: try stored(stmt.int64(2), "a nonce"))
        }
        return out
    }

    // MARK: the Raft hard state and log tail

    public func loadHardState() throws -> (term: UInt64, vote: String?, commit: UInt64) {
        let term = try stored(try metaInt("raft_term") ?? 0, "raft_term")
        let vote = try metaText("raft_vote")
        return (term, vote?.isEmpty == false ? vote : nil, try stored(try metaInt("raft_commit") ?? 0, "raft_commit"))
    }

    public func loadLogTail() throws -> [LogRecord] {
        let stmt = try db.prepare("SELECT idx, term, data, conf FROM raft_log ORDER BY idx")
        defer { stmt.reset() }
        var out: [LogRecord] = []
        while try stmt.step() {
            out.append(LogRecord(index: try stored(stmt.int64(0), "a log index"), term: try stored(stmt.int64(1), "a log term"),
                                 data: stmt.blob(2),
                                 conf: stmt.isNull(3) ? nil : stmt.text(3)))
        }
        return out
    }

    /// Drops every uncommitted log entry (forced recovery only).
    public func dropLogTail() throws {
        try db.execute("DELETE FROM raft_log")
    }

    /// Writes everything one consensus round produced, atomically: hard state, new log entries
    /// (truncating a conflicting uncommitted tail first), and committed blocks with their state.
    public func persist(_ batch: StoreBatch) throws {
        let bucket = try db.transaction {
            if let hs = batch.hardState {
                try setMeta("raft_term", int: Int64(hs.term))
                try setMeta("raft_vote", text: hs.vote ?? "")
                try setMeta("raft_commit", int: Int64(hs.commit))
            }
            if let first = batch.logEntries.first {
                precondition(first.index > headHeight, "only the uncommitted tail may be rewritten")
                try db.prepare("DELETE FROM raft_log WHERE idx >= ?").run(.integer(Int64(first.index)))
                let insert = try db.prepare("INSERT INTO raft_log (idx, term, data, conf) VALUES (?, ?, ?, ?)")
                for e in batch.logEntries where e.index > headHeight + UInt64(batch.committed.count) {
                    try insert.run(.integer(Int64(e.index)), .integer(Int64(e.term)), .blob(e.data), e.conf.map { .text($0) } ?? .null)
                }
            }
            var next = headHeight + 1
            for c in batch.committed {
                precondition(c.block.header.height == next, "blocks must be applied in height order")
                next += 1
            }
            let bucket = try applyCommitted(batch.committed)
            if let m = batch.membership { try setMeta("membership", text: m.json.serializedString()) }
            return bucket
        }
        txBucket = bucket
        if let m = batch.membership { membership = m }
        if let last = batch.committed.last {
            headHeight = last.block.header.height
            headHash = last.block.hash
            headStateRoot = last.block.header.stateRoot
        }
        feesBurned = batch.committed.reduce(feesBurned) { $0 + $1.delta.feesBurned }
    }

    /// Writes committed blocks with their tx index rows; account changes are coalesced over the
    /// whole batch (a later block's value of an account overwrites an earlier one's inside the same
    /// transaction anyway), so a batch of many blocks costs one upsert per touched account.
    /// The tx index rows of the whole batch go into one bucket (a new one once the current holds
    /// `txIndexBucketRows`), in hash order, so each insertion finds its page next to the last
    /// one's. Returns the bucket and its row count after the batch, for the caller to keep once
    /// the transaction is committed.
    private func applyCommitted(_ batch: [CommittedBlock]) throws -> (bucket: Int64, rows: Int)? {
        guard let last = batch.last else { return txBucket }
        let txInsert = try db.prepare("INSERT INTO txs (bucket, hash, height, idx) VALUES (?, ?, ?, ?)")
        var finalAccounts: [Address: Account] = [:]
        var fees: UInt64 = 0
        var rows: [(hash: Hash32, height: UInt64, index: Int)] = []
        rows.reserveCapacity(batch.reduce(0) { $0 + $1.block.txs.count })
        for c in batch {
            let height = c.block.header.height
            try insertBlock(c.block)
            for (i, tx) in c.block.txs.enumerated() { rows.append((tx.hash, height, i)) }
            for a in c.delta.changes { finalAccounts[a.address] = a }
            fees += c.delta.feesBurned
        }
        var bucket = txBucket
        if !rows.isEmpty {
            var (index, held) = try bucket ?? currentTxBucket()
            if held >= txBucketLimit { (index, held) = (index + 1, 0) }
            bucket = (index, held + rows.count)
            rows.sort { $0.hash < $1.hash }
            for r in rows {
                try txInsert.run(.integer(index), .blob(r.hash.bytes), .integer(Int64(r.height)), .integer(Int64(r.index)))
            }
        }
        let upsert = try db.prepare("""
            INSERT INTO accounts (address, balance, nonce) VALUES (?, ?, ?)
            ON CONFLICT(address) DO UPDATE SET balance = excluded.balance, nonce = excluded.nonce
            """)
        for a in finalAccounts.values.sorted(by: { $0.address < $1.address }) {
            try upsert.run(.blob(a.address.bytes), .integer(Int64(a.balance)), .integer(Int64(a.nonce)))
        }
        if fees > 0 {
            try db.prepare("UPDATE meta SET value = value + ? WHERE key = 'fees_burned'").run(.integer(Int64(fees)))
        }
        try db.prepare("DELETE FROM raft_log WHERE idx <= ?").run(.integer(Int64(last.block.header.height)))
        return bucket
    }

    /// The newest tx-index bucket and its row count, from the table (bucket 0 when empty).
    private func currentTxBucket() throws -> (bucket: Int64, rows: Int) {
        let stmt = try db.prepare("SELECT bucket, count(*) FROM txs WHERE bucket = (SELECT max(bucket) FROM txs)")
        defer { stmt.reset() }
        guard try stmt.step(), !stmt.isNull(0) else { return (0, 0) }
        return (Int64(try stored(stmt.int64(0), "a tx index bucket")), Int(stmt.int64(1)))
    }

    private func insertBlock(_ block: Block) throws {
        try db.prepare("INSERT INTO blocks (height, hash, term, data) VALUES (?, ?, ?, ?)")
            .run(.integer(Int64(block.header.height)), .blob(block.hash.bytes), .integer(Int64(block.header.term)), .blob(block.encode()))
    }

    // MARK: meta

    /// A count, height, term or amount read back from the file: never negative unless the file
    /// was damaged or tampered with, which is a `.corrupt` error, not a trap.
    private func stored(_ value: Int64, _ what: String) throws -> UInt64 {
        guard value >= 0 else { throw StoreError.corrupt(path: path, reason: "\(what) is negative (\(value))") }
        return UInt64(value)
    }

    private func metaInt(_ key: String) throws -> Int64? {
        let stmt = try db.prepare("SELECT value FROM meta WHERE key = ?")
        defer { stmt.reset() }
        try stmt.bind(1, SQLValue.text(key))
        return try stmt.step() ? stmt.int64(0) : nil
    }

    private func metaText(_ key: String) throws -> String? {
        let stmt = try db.prepare("SELECT value FROM meta WHERE key = ?")
        defer { stmt.reset() }
        try stmt.bind(1, SQLValue.text(key))
        return try stmt.step() ? stmt.text(0) : nil
    }

    private func metaBlob(_ key: String) throws -> [UInt8]? {
        let stmt = try db.prepare("SELECT value FROM meta WHERE key = ?")
        defer { stmt.reset() }
        try stmt.bind(1, SQLValue.text(key))
        return try stmt.step() ? stmt.blob(0) : nil
    }

    private func setMeta(_ key: String, int: Int64) throws {
        try db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(.text(key), .integer(int))
    }

    private func setMeta(_ key: String, text: String) throws {
        try db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(.text(key), .text(text))
    }

    private func setMeta(_ key: String, blob: [UInt8]) throws {
        try db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(.text(key), .blob(blob))
    }
}

/// One entry of the uncommitted Raft log tail as stored.
public struct LogRecord: Sendable, Equatable {
    public var index: UInt64
    public var term: UInt64
    public var data: [UInt8]
    public var conf: String?
    public init(index: UInt64, term: UInt64, data: [UInt8], conf: String?) {
        self.index = index; self.term = term; self.data = data; self.conf = conf
    }
}

/// A committed block with the state changes its execution produced.
public struct CommittedBlock: Sendable {
    public var block: Block
    public var delta: StateDelta
    public init(block: Block, delta: StateDelta) { self.block = block; self.delta = delta }
}

/// What one consensus round asks the store to make durable, in one transaction.
public struct StoreBatch: Sendable {
    public var hardState: (term: UInt64, vote: String?, commit: UInt64)?
    public var logEntries: [LogRecord]
    public var committed: [CommittedBlock]
    /// The membership after the committed blocks, when one of them changed it.
    public var membership: ClusterMembership?
    public init(hardState: (term: UInt64, vote: String?, commit: UInt64)?, logEntries: [LogRecord], committed: [CommittedBlock],
                membership: ClusterMembership? = nil) {
        self.hardState = hardState; self.logEntries = logEntries; self.committed = committed; self.membership = membership
    }
}

/// Why a data directory cannot be used, worded for the operator who has to fix it.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    case unusable(path: String, reason: String)
    case corrupt(path: String, reason: String)
    case wrongChain(path: String, stored: String, storedGenesis: String, configured: String, configuredGenesis: String)

    public var description: String {
        switch self {
        case .unusable(let path, let reason):
            "database \(path) is unusable: \(reason)"
        case .corrupt(let path, let reason):
            "database \(path) is corrupt: \(reason); stop the node, move the data directory aside and restart to re-sync"
        case .wrongChain(let path, let stored, let sg, let configured, let cg):
            "database \(path) belongs to chain '\(stored)' (genesis \(sg)) but the configuration describes chain '\(configured)' (genesis \(cg)); use another --data-dir or fix [genesis]"
        }
    }
}
