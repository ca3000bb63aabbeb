import Foundation
import Testing
@testable import Chain

/// A chain.db whose numbers were tampered with (negative heights, terms, balances, indices) is
/// refused as `.corrupt` at open, never a trap in an integer conversion.
@Suite("TamperedStore") struct TamperedStoreTests {
    let genesis = GenesisSpec(chainId: "tamper-test", timestamp: 1_700_000_000_000, allocations: [(testKey(1).address, 1_000)])

    func freshStore() throws -> String {
        let dir = NSTemporaryDirectory() + "autochain-tamper-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/chain.db"
        _ = try ChainStore(path: path, genesis: genesis)
        return path
    }

    func tamper(_ path: String, _ sql: String) throws {
        let db = try Database(path: path)
        try db.execute(sql)
    }

    func openError(_ path: String) -> String {
        do {
            let store = try ChainStore(path: path, genesis: genesis)
            _ = try store.loadAccounts()
            _ = try store.loadHardState()
            _ = try store.loadLogTail()
            return "(no error)"
        } catch {
            return "\(error)"
        }
    }

    @Test func negativeNumbersInTheFile_areCorruptErrors() throws {
        let tampering = [
            "UPDATE accounts SET balance = -5",
            "UPDATE accounts SET nonce = -1",
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('raft_term', -3)",
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('raft_commit', -3)",
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('fees_burned', -3)",
            "INSERT INTO raft_log(idx, term, data, conf) VALUES (-1, -1, x'', NULL)",
        ]
        for sql in tampering {
            let path = try freshStore()
            try tamper(path, sql)
            let error = openError(path)
            #expect(error.contains("corrupt") && error.contains("negative"), "\(sql): \(error)")
        }
    }

    @Test func negativeTransactionIndex_isACorruptError() throws {
        let path = try freshStore()
        try tamper(path, "INSERT INTO txs(bucket, hash, height, idx) VALUES (0, x'\(String(repeating: "ab", count: 32))', 0, -1)")
        let reader = try ChainReader(path: path)
        #expect(throws: StoreError.self) { try reader.transaction(hash: Hash32(bytes: [UInt8](repeating: 0xAB, count: 32))!) }
    }
}
