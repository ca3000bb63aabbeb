import Chain
import Foundation
import P2P
import Testing

/// The real binary on loopback: one node per test, its own data directory, bounded waits.
@Suite("ProcessTests") struct ProcessTests {
    static let dev = KeyPair.development
    static let chainId = "autochain-dev"

    func transfer(_ from: KeyPair, to: Address, amount: UInt64, fee: UInt64 = 1, nonce: UInt64, chainId: String = chainId) -> Transaction {
        Transaction.signed(chainId: chainId, to: to, amount: amount, fee: fee, nonce: nonce, keyPair: from)
    }

    @Test func node_commitsTransferAndServesItEverywhere() throws {
        let node = try NodeProcess()
        try node.start()
        defer { node.stop() }
        // Ready means a leader is known; the bootstrap block commits a moment later (on a busy
        // machine, many moments): wait for it, bounded, instead of assuming it.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, (try? node.json("GET", "/chain/head"))?.body["head"]?["height"]?.intValue ?? 0 < 1 { usleep(20_000) }
        let (status0, head0) = try node.json("GET", "/chain/head")
        #expect(status0 == 200)
        #expect(head0["head"]?["height"]?.intValue == 1, "block 1 is the bootstrap block naming the first voter")
        let (_, first) = try node.json("GET", "/block/1")
        #expect(first["block"]?["membership"]?["op"]?.stringValue == "bootstrap")
        #expect(first["block"]?["txs"]?.arrayValue?.isEmpty == true)
        #expect(head0["chainId"]?.stringValue == Self.chainId)

        let bob = KeyPair.generate()
        let tx = transfer(Self.dev, to: bob.address, amount: 1_000, nonce: 0)
        let (status, answer) = try node.json("POST", "/submit-tx?wait=commit", tx.json)
        #expect(status == 200, "\(answer)")
        #expect(answer["status"]?.stringValue == "committed")
        #expect(answer["hash"]?.stringValue == tx.hash.hex)
        let height = try #require(answer["height"]?.intValue)

        let (_, balance) = try node.json("GET", "/balance/\(bob.address.hex)")
        #expect(balance["balance"]?.intValue == 1_000)
        let (_, sender) = try node.json("GET", "/balance/\(Self.dev.address.hex)")
        #expect(sender["nonce"]?.intValue == 1)
        #expect(sender["balance"]?.intValue == Int64(1_000_000_000_000_000 - 1_001))

        let (txStatus, found) = try node.json("GET", "/tx/\(tx.hash.hex)")
        #expect(txStatus == 200)
        #expect(found["status"]?.stringValue == "committed")
        #expect(found["height"]?.intValue == height)

        let (_, block) = try node.json("GET", "/block/\(height)")
        #expect(block["block"]?["txs"]?.arrayValue?.first?["hash"]?.stringValue == tx.hash.hex)
        let hash = try #require(block["block"]?["hash"]?.stringValue)
        let (byHashStatus, byHash) = try node.json("GET", "/block/hash/\(hash)")
        #expect(byHashStatus == 200)
        #expect(byHash["block"]?["height"]?.intValue == height)
        let (_, head) = try node.json("GET", "/chain/head")
        #expect(head["head"]?["hash"]?.stringValue == hash)
        #expect(head["head"]?["txCount"]?.intValue == 1)
    }

    @Test func node_refusesBadInputWithStableCodesAndStoresNothing() throws {
        let node = try NodeProcess()
        try node.start()
        defer { node.stop() }
        let bob = KeyPair.generate()
        let good = transfer(Self.dev, to: bob.address, amount: 5, nonce: 0)
        // One committed transfer first, so a replay has something to replay.
        #expect(try node.json("POST", "/submit-tx?wait=commit", good.json).status == 200)
        let before = try node.json("GET", "/chain/head").body

        func field(_ tx: Transaction, _ key: String, _ value: JSON?) -> JSON {
            var o = tx.json.objectValue!
            o["hash"] = nil
            o[key] = value
            return .object(o)
        }
        let next = transfer(Self.dev, to: bob.address, amount: 5, nonce: 1)
        let other = KeyPair.generate()
        var forged = next.json.objectValue!
        forged["hash"] = nil
        forged["signature"] = .string(String(repeating: "ab", count: 64))
        let cases: [(String, [UInt8], Int, String)] = [
            ("malformed JSON", Array("{\"chainId\": ".utf8), 400, "invalid_json"),
            ("not an object", Array("[1,2]".utf8), 400, "invalid_json"),
            ("empty body", [], 400, "invalid_json"),
            ("missing field", field(next, "amount", nil).serialized(), 400, "missing_field"),
            ("wrong type", field(next, "amount", "5").serialized(), 400, "invalid_field"),
            ("negative amount", field(next, "amount", -5).serialized(), 400, "invalid_field"),
            ("fractional amount", field(next, "amount", 1.5).serialized(), 400, "invalid_field"),
            ("bad hex", field(next, "pubkey", "zz").serialized(), 400, "invalid_hex"),
            ("short signature", field(next, "signature", "abcd").serialized(), 400, "invalid_hex"),
            ("wrong chainId", transfer(Self.dev, to: bob.address, amount: 5, nonce: 1, chainId: "other").json.serialized(), 422, "wrong_chain"),
            ("bad signature", JSON.object(forged).serialized(), 422, "bad_signature"),
            ("from does not match pubkey", field(next, "from", .string(other.address.hex)).serialized(), 422, "from_mismatch"),
            ("replayed transaction", good.json.serialized(), 409, "nonce_too_low"),
            ("reused nonce, new tx", transfer(Self.dev, to: bob.address, amount: 6, nonce: 0).json.serialized(), 409, "nonce_too_low"),
            ("too-far-future nonce", transfer(Self.dev, to: bob.address, amount: 5, nonce: 10_000).json.serialized(), 422, "nonce_too_far"),
            ("overdraft", transfer(bob, to: other.address, amount: 6, nonce: 0).json.serialized(), 422, "insufficient_funds"),
            ("zero amount", transfer(Self.dev, to: bob.address, amount: 0, nonce: 1).json.serialized(), 422, "zero_amount"),
            ("self transfer", transfer(Self.dev, to: Self.dev.address, amount: 1, nonce: 1).json.serialized(), 422, "self_transfer"),
            ("oversized body", [UInt8](repeating: 0x20, count: 2 << 20), 413, "body_too_large"),
        ]
        for (name, body, status, code) in cases {
            let r = try node.request("POST", "/submit-tx", body: body, headers: [("Content-Type", "application/json")])
            let answer = (try? JSON.parse(r.body)) ?? .null
            #expect(r.status == status, "\(name): \(r.status) \(answer)")
            #expect(answer["error"]?["code"]?.stringValue == code, "\(name): \(answer)")
            #expect(answer["error"]?["message"]?.stringValue?.isEmpty == false, "\(name)")
        }
        let gets: [(String, String, Int, String)] = [
            ("GET", "/no/such/route", 404, "not_found"),
            ("DELETE", "/chain/head", 405, "method_not_allowed"),
            ("GET", "/submit-tx", 405, "method_not_allowed"),
            ("GET", "/block/abc", 400, "invalid_height"),
            ("GET", "/block/99999", 404, "not_found"),
            ("GET", "/block/1?txs=some", 400, "invalid_query"),
            ("GET", "/block/hash/0x1234", 400, "invalid_hash"),
            ("GET", "/tx/nothex", 400, "invalid_hash"),
            ("GET", "/tx/0x" + String(repeating: "0", count: 64), 404, "not_found"),
            ("GET", "/balance/0xnothex", 400, "invalid_address"),
            ("GET", "/submit-tx?wait=later", 405, "method_not_allowed"),
            ("POST", "/submit-tx?wait=later", 400, "invalid_query"),
            ("POST", "/submit-txs", 400, "invalid_json"),
        ]
        for (method, path, status, code) in gets {
            let r = try node.request(method, path, body: method == "POST" ? Array("{}".utf8) : [])
            let answer = (try? JSON.parse(r.body)) ?? .null
            #expect(r.status == status, "\(method) \(path): \(r.status) \(answer)")
            if method == "POST" && path == "/submit-txs" {
                #expect(answer["error"]?["code"]?.stringValue == "missing_field", "\(answer)")
            } else {
                #expect(answer["error"]?["code"]?.stringValue == code, "\(method) \(path): \(answer)")
            }
        }
        // The committed transfer's block, whole and with hashes only.
        let height = try #require(try node.json("GET", "/tx/\(good.hash.hex)").body["height"]?.intValue)
        let whole = try node.json("GET", "/block/\(height)").body["block"]
        let hashesOnly = try node.json("GET", "/block/\(height)?txs=hashes").body["block"]
        #expect(whole?["txs"]?.arrayValue?.map { $0["hash"] } == [.string(good.hash.hex)])
        #expect(hashesOnly?["txHashes"] == .array([.string(good.hash.hex)]) && hashesOnly?["txs"] == nil)
        #expect(hashesOnly?["hash"] == whole?["hash"] && hashesOnly?["proposerSignature"] == whole?["proposerSignature"])
        // Nothing reached the store, and the node still serves and commits.
        let after = try node.json("GET", "/chain/head").body
        #expect(after == before)
        #expect(try node.json("GET", "/status").body["mempool"]?.intValue == 0)
        #expect(try node.json("POST", "/submit-tx?wait=commit", next.json).status == 200)
    }

    @Test func node_batchSubmitAnswersPerTransaction() throws {
        let node = try NodeProcess()
        try node.start()
        defer { node.stop() }
        let bob = KeyPair.generate()
        let txs = (0..<50).map { transfer(Self.dev, to: bob.address, amount: 2, nonce: UInt64($0)) }
        var items = txs.map(\.json)
        items.append(transfer(Self.dev, to: bob.address, amount: 0, nonce: 50).json)
        let (status, answer) = try node.json("POST", "/submit-txs", ["txs": .array(items)])
        #expect(status == 202)
        #expect(answer["accepted"]?.intValue == 50)
        #expect(answer["rejected"]?.intValue == 1)
        #expect(answer["results"]?.arrayValue?.last?["error"]?["code"]?.stringValue == "zero_amount")
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, try node.json("GET", "/balance/\(bob.address.hex)").body["balance"]?.intValue != 100 {
            usleep(20_000)
        }
        #expect(try node.json("GET", "/balance/\(bob.address.hex)").body["balance"]?.intValue == 100)
    }
}
