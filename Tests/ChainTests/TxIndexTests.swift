import Foundation
import Testing
@testable import Chain

/// The tx index in buckets (`ChainStore.txIndexBucketRows`): every committed transaction is found
/// by hash whatever bucket it went to, across reopenings, and a schema-1 index is migrated.
@Suite("TxIndex") struct TxIndexTests {
    let genesis = GenesisSpec(chainId: "tx-index-test", timestamp: 1_700_000_000_000, allocations: [(testKey(1).address, 1_000)])

    func freshPath() throws -> String {
        let dir = NSTemporaryDirectory() + "autochain-txindex-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/chain.db"
    }

    /// Commits `sizes.count` blocks on top of the store's head, block i holding `sizes[i]`
    /// transfers, `perBatch` blocks per `persist`; returns every transfer with its height and index.
    @discardableResult
    func commit(_ store: ChainStore, sizes: [Int], perBatch: Int = 1, firstNonce: UInt64 = 0)
        throws -> [(tx: Transaction, height: UInt64, index: Int)]
    {
        var previous = try #require(try store.block(at: store.headHeight))
        var nonce = firstNonce
        var all: [(Transaction, UInt64, Int)] = []
        var pending: [CommittedBlock] = []
        for size in sizes {
            let txs = (0..<size).map { _ in
                defer { nonce += 1 }
                return unsigned(from: addr(1), to: addr(2), nonce: nonce)
            }
            let block = Block.make(height: previous.height + 1, prevHash: previous.hash, stateRoot: .zero,
                                   timestamp: 1_700_000_000_000, term: 1, txs: txs, proposerKey: testKey(9))
            for (i, tx) in txs.enumerated() { all.append((tx, block.height, i)) }
            pending.append(CommittedBlock(block: block, delta: .empty))
            if pending.count == perBatch {
                try store.persist(StoreBatch(hardState: nil, logEntries: [], committed: pending))
                pending = []
            }
            previous = block
        }
        if !pending.isEmpty { try store.persist(StoreBatch(hardState: nil, logEntries: [], committed: pending)) }
        return all
    }

    func buckets(_ path: String) throws -> [Int64: Int64] {
        let db = try Database(path: path)
        let stmt = try db.prepare("SELECT bucket, count(*) FROM txs GROUP BY bucket")
        var out: [Int64: Int64] = [:]
        while try stmt.step() { out[stmt.int64(0)] = stmt.int64(1) }
        stmt.reset()
        return out
    }

    @Test func everyTransaction_isFoundInWhicheverBucketItWentTo_acrossReopenings() throws {
        let path = try freshPath()
        var store = try ChainStore(path: path, genesis: genesis, txIndexBucketRows: 10)
        var all = try commit(store, sizes: [4, 4, 4, 0, 7, 12, 1])
        // A batch of several blocks goes to one bucket.
        all += try commit(store, sizes: [3, 3, 3], perBatch: 3, firstNonce: UInt64(all.count))
        store = try ChainStore(path: path, genesis: genesis, txIndexBucketRows: 10)
        all += try commit(store, sizes: [2, 9, 5], firstNonce: UInt64(all.count))

        // 12 (4+4+4 ≥ 10) | 7+12 | 1+9 | 2+9 | 5
        #expect(try buckets(path) == [0: 12, 1: 19, 2: 10, 3: 11, 4: 5])
        let reader = try ChainReader(path: path)
        for (tx, height, index) in all {
            let found = try #require(try reader.transaction(hash: tx.hash), "nonce \(tx.nonce)")
            #expect(found.tx == tx && found.height == height && found.index == index)
        }
        #expect(try reader.transaction(hash: Hash32(bytes: [UInt8](repeating: 7, count: 32))!) == nil)
    }

    /// A damaged (or hand-edited) index with buckets far apart: a lookup walks the buckets that
    /// exist, not every number in between, and still finds what is there.
    @Test func bucketsFarApart_areWalkedByWhatExists() throws {
        let path = try freshPath()
        let all = try commit(try ChainStore(path: path, genesis: genesis, txIndexBucketRows: 2), sizes: [2, 2])
        let db = try Database(path: path)
        try db.execute("UPDATE txs SET bucket = 4611686018427387904 WHERE bucket = 1; UPDATE txs SET bucket = -7 WHERE bucket = 0")
        db.close()
        let reader = try ChainReader(path: path)
        for (tx, height, index) in all {
            let found = try #require(try reader.transaction(hash: tx.hash))
            #expect(found.height == height && found.index == index)
        }
        #expect(try reader.transaction(hash: Hash32(bytes: [UInt8](repeating: 7, count: 32))!) == nil)
    }

    @Test func anEmptyIndex_findsNothing() throws {
        let path = try freshPath()
        _ = try ChainStore(path: path, genesis: genesis)
        #expect(try ChainReader(path: path).transaction(hash: Hash32(bytes: [UInt8](repeating: 7, count: 32))!) == nil)
    }

    /// A data directory of the previous release (schema 1: the index keyed by hash alone) opens,
    /// keeps every row (as bucket 0), and new rows go to later buckets.
    @Test func aSchema1Index_isMigrated_andKeepsEveryTransaction() throws {
        let path = try freshPath()
        var all = try commit(try ChainStore(path: path, genesis: genesis), sizes: [5, 6, 7])
        let db = try Database(path: path)
        try db.execute("""
            CREATE TABLE txs_old (hash BLOB PRIMARY KEY, height INTEGER NOT NULL, idx INTEGER NOT NULL) WITHOUT ROWID;
            INSERT INTO txs_old SELECT hash, height, idx FROM txs;
            DROP TABLE txs;
            ALTER TABLE txs_old RENAME TO txs;
            UPDATE meta SET value = 1 WHERE key = 'schema_version';
            """)
        db.close()

        let store = try ChainStore(path: path, genesis: genesis, txIndexBucketRows: 10)
        #expect(try Database(path: path).queryInt64("SELECT value FROM meta WHERE key = 'schema_version'") == 2)
        #expect(try buckets(path) == [0: 18])
        all += try commit(store, sizes: [3], firstNonce: UInt64(all.count))
        #expect(try buckets(path) == [0: 18, 1: 3])
        let reader = try ChainReader(path: path)
        for (tx, height, index) in all {
            let found = try #require(try reader.transaction(hash: tx.hash))
            #expect(found.height == height && found.index == index)
        }
    }
}
