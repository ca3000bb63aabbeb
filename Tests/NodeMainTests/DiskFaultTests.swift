import Chain
import Foundation
import P2P
import Testing

/// Disk faults against the real binary: a full disk degrades a node to read-only and it recovers
/// by itself; a damaged database keeps it from starting, with a message naming the file.
@Suite("DiskFaults") struct DiskFaultTests {
    static let dev = KeyPair.development

    func transfer(nonce: UInt64) -> Transaction {
        Transaction.signed(chainId: "autochain-dev", to: KeyPair.generate().address, amount: 1, fee: 1, nonce: nonce,
                           keyPair: Self.dev)
    }

    /// Commits `count` transfers one by one (each acknowledged as committed) from `nonce`.
    func commit(_ node: NodeProcess, count: Int, from nonce: UInt64) throws -> [Transaction] {
        try (0..<count).map { i in
            let tx = transfer(nonce: nonce + UInt64(i))
            let (status, body) = try node.json("POST", "/submit-tx?wait=commit", tx.json)
            guard status == 200 else { throw TestFailure("commit of nonce \(nonce + UInt64(i)) answered \(status): \(body)") }
            return tx
        }
    }

    func expectCommitted(_ node: NodeProcess, _ txs: [Transaction], _ when: String) throws {
        for tx in txs {
            let (status, body) = try node.json("GET", "/tx/\(tx.hash.hex)")
            #expect(status == 200 && body["status"]?.stringValue == "committed", "\(when): \(tx.hash.hex) is \(body)")
        }
    }

    @Test(.enabled(if: SmallDisk.canMount, "needs root to mount a tmpfs (mount -t tmpfs); skipped here"))
    func fullDisk_degradesToReadOnly_thenRecoversWithNothingLost() throws {
        let base = TestDirs.make("diskfull")
        let disk = try SmallDisk(at: base + "/data", sizeMiB: 8)
        defer { disk.unmount() }
        let node = try NodeProcess(dataDir: disk.path, logPath: base + "/node.log")
        try node.start()
        defer { node.stop() }
        let acknowledged = try commit(node, count: 5, from: 0)

        try disk.fill()
        // Each block needs new WAL pages: the next write fails, and from then on the node refuses writes.
        var nonce: UInt64 = 5
        var accepted: [Transaction] = []
        var refusal: (status: Int, body: JSON)?
        let deadline = Date().addingTimeInterval(30)
        while refusal == nil, Date() < deadline {
            let tx = transfer(nonce: nonce)
            let answer: (status: Int, body: JSON)
            do { answer = try node.json("POST", "/submit-tx", tx.json) } catch {
                throw TestFailure("the node stopped answering on a full disk: \(error)\n\(node.tailOfLog())")
            }
            if answer.status == 507 { refusal = answer; break }
            try #require((200..<300).contains(answer.status), "\(answer.body)")
            accepted.append(tx)
            nonce += 1
            usleep(20_000)
        }
        let refused = try #require(refusal, "no 507 within 30 s of filling the disk\n\(node.tailOfLog())")
        #expect(refused.body["error"]?["code"]?.stringValue == "insufficient_storage")

        let ready = try node.json("GET", "/health/ready")
        #expect(ready.status == 503, "\(ready.body)")
        #expect(ready.body["error"]?["message"]?.stringValue?.contains("storage degraded") == true, "\(ready.body)")
        #expect(try node.json("GET", "/status").body["storage"]?.stringValue == "disk_full")
        let metrics = String(decoding: try node.request("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("autochain_storage_degraded 1"), "\(metrics)")
        #expect(metrics.contains("autochain_storage_write_failures_total{code=\"SQLITE_"), "\(metrics)")
        try expectCommitted(node, acknowledged, "while degraded")
        // Still alive after several retries, still refusing.
        usleep(1_500_000)
        #expect(node.process?.isRunning == true, "\(node.tailOfLog())")
        #expect(try node.json("POST", "/submit-tx", transfer(nonce: nonce).json).status == 507)

        disk.freeFiller()
        try node.waitReady(timeout: 60)
        #expect(String(decoding: try node.request("GET", "/metrics").body, as: UTF8.self).contains("autochain_storage_degraded 0"))
        // What was accepted before the disk filled commits now; new writes are taken again.
        #expect(try node.json("GET", "/status").body["storage"]?.stringValue == "ok")
        let tail = try commit(node, count: 1, from: nonce)
        try expectCommitted(node, acknowledged + accepted + tail, "after recovery")

        let log = (try? String(contentsOfFile: node.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("storage refused a write") && log.contains("storage writable again"), "\(log)")
        print(log.split(separator: "\n").filter { $0.contains("storage") }.joined(separator: "\n"))
        node.stop()
        try node.start()
        try expectCommitted(node, acknowledged + accepted + tail, "after a restart")
    }

    /// A follower that cannot store appends acknowledges none: the other two commit without it,
    /// it stays up and read-only, and once space returns it catches up with everything.
    @Test(.enabled(if: SmallDisk.canMount, "needs root to mount a tmpfs (mount -t tmpfs); skipped here"))
    func fullDiskOnAFollower_clusterGoesOn_followerCatchesUpAfterwards() throws {
        let c = ClusterTests.Cluster()
        defer { c.stopAll() }
        try c.start("n1", join: false)
        try c.start("n2", join: true)
        let disk = try SmallDisk(at: c.base + "/n3", sizeMiB: 8)
        defer { disk.unmount() }
        try c.start("n3", join: true)
        try c.eventually("three voters") { c.status("n1")?["voters"]?.arrayValue?.count == 3 }
        let all = ["n1", "n2", "n3"]
        try c.eventually("a leader") { c.leader(among: all) != nil }
        // n3 joined last; should it lead, the test still holds with n1 as the entry point once n3 is out.
        let entry = try #require(c.nodes["n1"])
        var acknowledged = try commit(entry, count: 3, from: 0)

        try disk.fill()
        let n3 = try #require(c.nodes["n3"])
        var nonce: UInt64 = 3
        try c.eventually("n3 degraded by the appends it cannot store", timeout: 60) {
            if let tx = try? commit(entry, count: 1, from: nonce) { acknowledged += tx; nonce += 1 }
            return (try? n3.json("GET", "/health/ready"))?.body["error"]?["message"]?.stringValue?.contains("storage degraded") == true
        }
        acknowledged += try commit(entry, count: 5, from: nonce)
        nonce += 5
        #expect(n3.process?.isRunning == true)
        #expect(try n3.json("POST", "/submit-tx", transfer(nonce: nonce).json).status == 507)

        disk.freeFiller()
        try n3.waitReady(timeout: 60)
        try c.eventually("n3 on the cluster's head again", timeout: 60) { Set(c.heads(all)).count == 1 }
        try expectCommitted(n3, acknowledged, "on n3 after it recovered")
    }

    /// Starts a node, commits a few transfers, stops it cleanly and returns its data directory.
    func stoppedNodeWithBlocks() throws -> (node: NodeProcess, db: String) {
        let node = try NodeProcess()
        try node.start()
        _ = try commit(node, count: 4, from: 0)
        node.stop()
        return (node, node.dataDir + "/chain.db")
    }

    /// Starts the binary on `node`'s data directory and expects it to refuse, naming `db` and `what`.
    func expectRefusesToStart(_ node: NodeProcess, db: String, saying what: String) throws {
        #expect(throws: TestFailure.self) { try node.start() }
        let p = try #require(node.process)
        p.waitUntilExit()
        #expect(p.terminationStatus != 0)
        let log = node.tailOfLog()
        #expect(log.contains(db), "\(log)")
        #expect(log.contains(what), "\(log)")
    }

    @Test func corruptedPage_refusesToStartNamingTheFile() throws {
        let (node, path) = try stoppedNodeWithBlocks()
        // The tx index is not read at start, so only a page-level check finds damage there.
        let db = try Database(path: path)
        let root = try #require(try db.queryInt64("SELECT rootpage FROM sqlite_schema WHERE name = 'txs'"))
        let pageSize = try #require(try db.queryInt64("PRAGMA page_size"))
        db.close()
        let file = try #require(FileHandle(forUpdatingAtPath: path))
        try file.seek(toOffset: UInt64((root - 1) * pageSize))
        try file.write(contentsOf: Data(repeating: 0xA5, count: 64))
        try file.close()
        try expectRefusesToStart(node, db: path, saying: "quick_check")
    }

    @Test func tamperedBlockInTheTail_refusesToStart() throws {
        let (node, path) = try stoppedNodeWithBlocks()
        let db = try Database(path: path)
        let head = try #require(try db.queryInt64("SELECT max(height) FROM blocks"))
        var data = try #require(try db.queryFirst("SELECT data FROM blocks WHERE height = ?", .integer(head - 1)) { $0.blob(0) })
        // Version byte, height, prevHash, txRoot, stateRoot: then the timestamp, part of the hash.
        data[1 + 8 + 32 * 3 + 7] ^= 0x01
        try db.run("UPDATE blocks SET data = ? WHERE height = ?", .blob(data), .integer(head - 1))
        db.close()
        try expectRefusesToStart(node, db: path, saying: "block \(head - 1): stored hash does not match")
    }

    @Test func hardStateBehindTheLog_refusesToStart() throws {
        let (node, path) = try stoppedNodeWithBlocks()
        let db = try Database(path: path)
        let head = try #require(try db.queryInt64("SELECT max(height) FROM blocks"))
        try db.run("INSERT OR REPLACE INTO meta (key, value) VALUES ('raft_commit', ?)", .integer(head + 50))
        db.close()
        try expectRefusesToStart(node, db: path, saying: "the Raft hard state says entry \(head + 50) is committed")
    }
}

/// A tmpfs of a few MiB mounted for one test, so the test can fill a node's disk and free it.
final class SmallDisk: Sendable {
    let path: String
    var fillerPath: String { path + "/filler" }

    /// True where this process may mount a tmpfs (root, not in a restricted container).
    static let canMount: Bool = {
        guard let disk = try? SmallDisk(at: TestDirs.make("mountprobe") + "/m", sizeMiB: 1) else { return false }
        disk.unmount()
        return true
    }()

    init(at path: String, sizeMiB: Int) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mounted = "size=\(sizeMiB)m,mode=0700".withCString { mount("tmpfs", path, "tmpfs", 0, $0) }
        guard mounted == 0 else {
            throw TestFailure("mount tmpfs on \(path) failed: errno \(errno)")
        }
    }

    /// Writes zeros until the file system is full (ENOSPC).
    func fill() throws {
        let fd = open(fillerPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw TestFailure("cannot create \(fillerPath): errno \(errno)") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                guard errno == ENOSPC else { throw TestFailure("filling \(path) failed: errno \(errno)") }
                return
            }
            if n == 0 { return }
        }
    }

    func freeFiller() { unlink(fillerPath) }

    func unmount() { umount2(path, Int32(MNT_DETACH)) }
}
