import Foundation
import Testing
@testable import Chain

/// A fresh directory under the system temp dir, removed when the test's scope ends.
final class TempDirectory {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "autochain-sqlite-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

private struct BodyFailed: Error {}

private func openAccounts(_ dir: TempDirectory, options: DatabaseOptions = .default) throws -> Database {
    let db = try Database(path: dir.file("node.db"), options: options)
    try db.execute("CREATE TABLE IF NOT EXISTS accounts(id INTEGER PRIMARY KEY, name TEXT UNIQUE, balance INTEGER NOT NULL)")
    return db
}

@Test func database_opensInWALMode() throws {
    let dir = TempDirectory()
    let db = try openAccounts(dir)
    #expect(try db.queryText("PRAGMA journal_mode") == "wal")
}

@Test func database_usesSynchronousFullByDefaultAndHonoursTheOption() throws {
    let dir = TempDirectory()
    #expect(try openAccounts(dir).queryInt64("PRAGMA synchronous") == 2)
    #expect(try openAccounts(dir, options: DatabaseOptions(synchronous: .normal)).queryInt64("PRAGMA synchronous") == 1)
    #expect(try openAccounts(dir, options: DatabaseOptions(synchronous: .off)).queryInt64("PRAGMA synchronous") == 0)
}

@Test func database_enforcesForeignKeys() throws {
    let dir = TempDirectory()
    let db = try openAccounts(dir)
    try db.execute("CREATE TABLE txs(id INTEGER PRIMARY KEY, account INTEGER NOT NULL REFERENCES accounts(id))")
    #expect { try db.run("INSERT INTO txs(account) VALUES (?)", 99) } throws: { ($0 as? SQLiteError)?.isConstraintViolation == true }
}

@Test func transaction_commitsWhenBodyReturns() throws {
    let dir = TempDirectory()
    let db = try openAccounts(dir)
    let id = try db.transaction(.immediate) { () throws -> Int64 in
        try db.run("INSERT INTO accounts(name, balance) VALUES (?, ?)", "alice", 100)
        return db.lastInsertRowID
    }
    #expect(try db.queryInt64("SELECT balance FROM accounts WHERE id = ?", .integer(id)) == 100)
}

@Test func transaction_rollsBackEverythingAndRethrowsWhenBodyThrows() throws {
    let dir = TempDirectory()
    let db = try openAccounts(dir)
    try db.run("INSERT INTO accounts(name, balance) VALUES ('alice', 100)")
    #expect(throws: BodyFailed.self) {
        try db.transaction {
            try db.run("INSERT INTO accounts(name, balance) VALUES ('bob', 5)")
            try db.run("UPDATE accounts SET balance = 0 WHERE name = 'alice'")
            throw BodyFailed()
        }
    }
    #expect(try db.queryInt64("SELECT count(*) FROM accounts") == 1)
    #expect(try db.queryInt64("SELECT balance FROM accounts WHERE name = 'alice'") == 100)
    try db.transaction { try db.run("INSERT INTO accounts(name, balance) VALUES ('carol', 1)") }  // usable again
}

@Test func transaction_rollsBackWhenAStatementFails() throws {
    let dir = TempDirectory()
    let db = try openAccounts(dir)
    try db.run("INSERT INTO accounts(name, balance) VALUES ('alice', 100)")
    #expect(throws: SQLiteError.self) {
        try db.transaction {
            try db.run("INSERT INTO accounts(name, balance) VALUES ('bob', 5)")
            try db.run("INSERT INTO accounts(name, balance) VALUES ('alice', 5)")
        }
    }
    #expect(try db.queryInt64("SELECT count(*) FROM accounts") == 1)
}

@Test func database_dataSurvivesCloseAndReopen() throws {
    let dir = TempDirectory()
    do {
        let db = try openAccounts(dir)
        try db.transaction { try db.run("INSERT INTO accounts(name, balance) VALUES ('alice', 42)") }
        db.close()
        #expect(!db.isOpen)
    }
    let reopened = try openAccounts(dir)
    #expect(try reopened.queryInt64("SELECT balance FROM accounts WHERE name = 'alice'") == 42)
}

@Test func statement_roundTripsEveryValueType() throws {
    let dir = TempDirectory()
    let db = try Database(path: dir.file("values.db"))
    try db.execute("CREATE TABLE v(i INTEGER, d REAL, t TEXT, b BLOB, e BLOB, n TEXT)")
    let insert = try db.prepare("INSERT INTO v VALUES (?, ?, ?, ?, ?, ?)")
    try insert.bind(1, Int64.min)
    try insert.bind(2, 2.5)
    try insert.bind(3, "héllo\u{0}world")
    try insert.bind(4, [0, 1, 255] as [UInt8])
    try insert.bind(5, [] as [UInt8])
    try insert.bindNull(6)
    #expect(try insert.step() == false)
    let row = try #require(try db.queryFirst("SELECT i, d, t, b, e, n FROM v") { s in
        (s.int64(0), s.double(1), s.text(2), s.blob(3), s.isNull(4), s.blob(4), s.isNull(5))
    })
    #expect(row.0 == Int64.min && row.1 == 2.5 && row.2 == "héllo\u{0}world" && row.3 == [0, 1, 255])
    #expect(row.4 == false && row.5 == [] && row.6 == true)
}

@Test func statement_bindsRawBuffers() throws {
    let dir = TempDirectory()
    let db = try Database(path: dir.file("raw.db"))
    try db.execute("CREATE TABLE r(b BLOB)")
    let bytes: [UInt8] = [9, 8, 7]
    let insert = try db.prepare("INSERT INTO r VALUES (?)")
    try bytes.withUnsafeBytes { raw in try insert.bind(1, raw) }
    try insert.step()
    #expect(try db.queryFirst("SELECT b FROM r") { $0.blob(0) } == bytes)
}

@Test func prepare_reusesTheCachedStatementForTheSameSQL() throws {
    let dir = TempDirectory()
    let db = try openAccounts(dir)
    let first = try db.prepare("SELECT count(*) FROM accounts")
    let second = try db.prepare("SELECT count(*) FROM accounts")
    #expect(first === second)
}

@Test func prepare_reportsSyntaxErrorsWithTheSQL() throws {
    let dir = TempDirectory()
    let db = try openAccounts(dir)
    do {
        _ = try db.prepare("SELEC nonsense")
        Issue.record("expected a syntax error")
    } catch {
        #expect(error.sql == "SELEC nonsense")
        #expect(error.message.contains("syntax error"))
        #expect(error.description.contains("SELEC nonsense"))
    }
}

@Test func uniqueViolation_carriesExtendedCode() throws {
    let dir = TempDirectory()
    let db = try openAccounts(dir)
    try db.run("INSERT INTO accounts(name, balance) VALUES ('alice', 1)")
    do {
        try db.run("INSERT INTO accounts(name, balance) VALUES ('alice', 2)")
        Issue.record("expected a constraint error")
    } catch {
        #expect(error.isConstraintViolation)
        #expect(error.extendedCode == 2067)  // SQLITE_CONSTRAINT_UNIQUE
    }
}

@Test func database_reportsChangesAndLastInsertRowID() throws {
    let dir = TempDirectory()
    let db = try openAccounts(dir)
    try db.run("INSERT INTO accounts(name, balance) VALUES ('a', 1), ('b', 2), ('c', 3)")
    #expect(db.changes == 3)
    #expect(db.lastInsertRowID == 3)
    try db.run("UPDATE accounts SET balance = 0 WHERE balance > 1")
    #expect(db.changes == 2)
}

@Test func statement_insertsOneHundredThousandRowsInOneTransaction() throws {
    let dir = TempDirectory()
    let db = try openAccounts(dir, options: DatabaseOptions(synchronous: .normal))
    let rowCount = 100_000
    let clock = ContinuousClock()
    let elapsed = try clock.measure {
        try db.transaction {
            for i in 0..<rowCount {
                try db.run("INSERT INTO accounts(name, balance) VALUES (?, ?)", .text("acct\(i)"), .int(i))
            }
        }
    }
    print("SQLite: \(rowCount) inserts in one transaction, cached statement (debug build): \(elapsed)")
    #expect(try db.queryInt64("SELECT count(*) FROM accounts") == Int64(rowCount))
}

@Test func integrityCheck_isEmptyForASoundDatabase() throws {
    let dir = TempDirectory()
    let db = try openAccounts(dir)
    try db.run("INSERT INTO accounts(name, balance) VALUES ('a', 1)")
    #expect(try db.integrityCheck(quick: true) == [])
    #expect(try db.integrityCheck(quick: false) == [])
}

/// A node starts in bounded time on a large file: the check stops at its budget and says so.
@Test func integrityCheck_stopsAtItsTimeBudget_andFinishesWithinAGenerousOne() throws {
    let dir = TempDirectory()
    let db = try openAccounts(dir)
    try db.transaction {
        let insert = try db.prepare("INSERT INTO accounts(name, balance) VALUES (?, ?)")
        for i in 0..<5_000 { try insert.run(.text("account-\(i)"), .integer(Int64(i))) }
    }
    #expect(try db.integrityCheck(quick: true, timeLimitMs: 0) == .unfinished)
    #expect(try db.integrityCheck(quick: true, timeLimitMs: 60_000) == .sound)
    #expect(try db.integrityCheck(quick: true) == [], "the budget is lifted after the bounded check")
}

@Test func checkpoint_truncatesTheWAL() throws {
    let dir = TempDirectory()
    let db = try openAccounts(dir)
    try db.run("INSERT INTO accounts(name, balance) VALUES ('a', 1)")
    let walSize = { (try? FileManager.default.attributesOfItem(atPath: dir.file("node.db-wal"))[.size] as? Int) ?? -1 }
    #expect(walSize() > 0)
    try db.checkpoint()
    #expect(walSize() == 0)
}

@Test func open_garbageFileSaysItIsNotADatabase() throws {
    let dir = TempDirectory()
    let path = dir.file("garbage.db")
    try Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }).write(to: URL(fileURLWithPath: path))
    #expect { try Database(path: path) } throws: { error in
        let message = "\(error)"
        return message.contains("not a database") && message.contains(path)
    }
}

@Test func open_missingDirectoryGivesAClearError() {
    let dir = TempDirectory()
    let path = dir.file("no/such/dir/node.db")
    #expect { try Database(path: path) } throws: { error in
        let message = "\(error)"
        return message.contains("unable to open database file") && message.contains(path)
            && message.contains("directory exist")
    }
}

@Test func open_pathUnderARegularFileGivesAClearError() throws {
    let dir = TempDirectory()
    _ = FileManager.default.createFile(atPath: dir.file("plain"), contents: Data([1]))
    #expect { try Database(path: dir.file("plain/node.db")) } throws: { "\($0)".contains("cannot open database") }
}

@Test(.enabled(if: getuid() != 0, "root ignores directory permissions"))
func open_readOnlyDirectoryGivesAClearError() throws {
    let dir = TempDirectory()
    try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: dir.path)
    defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path) }
    #expect { try Database(path: dir.file("node.db")) } throws: { "\($0)".contains("cannot open database") }
}
