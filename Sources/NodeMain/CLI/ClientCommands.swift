import Chain
import FoundationEssentials
import P2P

/// `autochain keygen`: a new key file, or the well-known development key.
enum KeygenCommand {
    static let spec = CommandSpec(name: "keygen", summary: "Write a key file {address, publicKey, seed}.", options: [
        .init(name: "out", valueName: "FILE", help: "where to write the key (default: print it)"),
        .init(name: "dev", valueName: nil, help: "the well-known development key funded by config.toml's genesis (LOCAL CHAINS ONLY)"),
    ])

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        let key = parsed.flag("dev") ? KeyPair.development : KeyPair.generate()
        if parsed.flag("dev") {
            StandardStream.error.write("""
                WARNING: this is the well-known DEVELOPMENT key. Its seed is public; anything it holds \
                can be taken by anyone. Use it on local development chains only.\n
                """)
        }
        if let out = parsed.string("out") {
            if FileManager.default.fileExists(atPath: out) { throw .failed("\(out) exists; refusing to overwrite a key") }
            try KeyFile.write(key, to: out)
            print("wrote \(out): address \(key.address.hex)")
        } else {
            print(KeyFile.json(key).serializedPretty())
        }
    }
}

/// `autochain transfer`: sign a transfer with a key file and submit it.
enum TransferCommand {
    static let spec = CommandSpec(name: "transfer", summary: "Sign a transfer and submit it to a node.", options: [
        .init(name: "node", valueName: "URL", help: "node API URL, e.g. http://127.0.0.1:8080"),
        .init(name: "key", valueName: "FILE", help: "key file of the sender"),
        .init(name: "to", valueName: "ADDRESS", help: "recipient address (0x + 40 hex digits)"),
        .init(name: "amount", valueName: "N", help: "amount to send (> 0)"),
        .init(name: "fee", valueName: "N", help: "fee, burned (default 1)"),
        .init(name: "nonce", valueName: "N", help: "sender nonce (default: fetched from the node)"),
        .init(name: "wait", valueName: nil, help: "wait until the transfer is committed"),
    ])

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        let client = try NodeClient(parsed.required("node"))
        let key = try KeyFile.read(try parsed.required("key"))
        let toText = try parsed.required("to")
        guard toText.hasPrefix("0x"), let to = Address(hex: toText) else {
            throw .usage("transfer: --to must be 0x followed by 40 hex digits, got '\(toText)'")
        }
        guard let amount = try parsed.uint("amount", max: Limits.maxSupply), amount > 0 else {
            throw .usage("transfer: --amount is required and must be > 0")
        }
        let fee = try parsed.uint("fee", default: 1, max: Limits.maxSupply) ?? 1
        let status = try client.get("/status")
        guard let chainId = status["chainId"]?.stringValue else { throw .failed("\(client.base) /status has no chainId") }
        let nonce: UInt64
        if let given = try parsed.uint("nonce") {
            nonce = given
        } else {
            let account = try client.get("/balance/\(key.address.hex)")
            nonce = UInt64(account["nonce"]?.intValue ?? 0)
        }
        let tx = Transaction.signed(chainId: chainId, to: to, amount: amount, fee: fee, nonce: nonce, keyPair: key)
        let path = parsed.flag("wait") ? "/submit-tx?wait=commit" : "/submit-tx"
        let answer = try client.post(path, tx.json)
        let state = answer["status"]?.stringValue ?? "?"
        let height = answer["height"]?.intValue.map { " at height \($0)" } ?? ""
        print("\(tx.hash.hex) \(state)\(height) (from \(key.address.hex) nonce \(nonce), \(amount) to \(to.hex), fee \(fee))")
    }
}

/// `autochain status`: a node's view, for people (or `--json` for scripts).
enum StatusCommand {
    static let spec = CommandSpec(name: "status", summary: "Show a node's head, role, mempool and peers.", options: [
        .init(name: "node", valueName: "URL", help: "node API URL, e.g. http://127.0.0.1:8080"),
        .init(name: "json", valueName: nil, help: "print the raw /status JSON"),
    ])

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        let client = try NodeClient(parsed.required("node"))
        let status = try client.get("/status")
        if parsed.flag("json") {
            print(status.serializedPretty())
            return
        }
        let head = try client.get("/chain/head")["head"]
        func s(_ v: JSON?) -> String {
            switch v {
            case .string(let x)?: x
            case .int(let x)?: String(x)
            case .null?, nil: "-"
            case let other?: String(decoding: other.serialized(), as: UTF8.self)
            }
        }
        let peers = status["peers"]?.arrayValue?.count ?? 0
        print("""
            node      \(s(status["nodeId"])) (\(s(status["role"])), term \(s(status["term"])), leader \(s(status["leader"])))
            chain     \(s(status["chainId"])) genesis \(s(status["genesisHash"]))
            head      height \(s(head?["height"])) hash \(s(head?["hash"])) txs \(s(head?["txCount"]))
            commit    \(s(status["commitIndex"]))
            mempool   \(s(status["mempool"])) transactions
            peers     \(peers)
            sync      \(s(status["sync"]?["state"]))
            """)
    }
}

/// A node API client for the CLI: JSON in and out, API errors turned into one-line reasons.
struct NodeClient {
    let base: String
    let http: HTTPClient
    /// The JSON body of the last call's error answer (nil when it succeeded or got no answer), for
    /// callers that follow a leader hint or read the error's code.
    private(set) var lastErrorBody: JSON? {
        get { errorBox.value }
        nonmutating set { errorBox.value = newValue }
    }
    private let errorBox = Box<JSON?>(nil)

    init(_ url: String) throws(CLIError) {
        guard url.hasPrefix("http://") else { throw .usage("node URL must start with http://, got '\(url)'") }
        base = url.hasSuffix("/") ? String(url.dropLast()) : url
        do { http = try HTTPClient(baseURL: base) } catch { throw .usage("bad node URL '\(url)': \(error)") }
    }

    /// A CLI call's timeout unless it says otherwise (60 s: `transfer --wait` waits for a commit,
    /// which the node answers within its own `commit_wait_ms`, 30 s by default).
    static let defaultTimeout: Duration = .seconds(60)

    func get(_ path: String) throws(CLIError) -> JSON { try call("GET", path, nil) }
    func post(_ path: String, _ body: JSON, token: String? = nil) throws(CLIError) -> JSON {
        try call("POST", path, body.serialized(), token: token)
    }

    func call(_ method: String, _ path: String, _ body: [UInt8]?, timeout: Duration = NodeClient.defaultTimeout, token: String? = nil) throws(CLIError) -> JSON {
        let response: HTTPClientResponse
        lastErrorBody = nil  // of this call only: a failure without an answer leaves none
        var headers = body == nil ? HTTPHeaders() : HTTPHeaders([("Content-Type", "application/json")])
        if let token, !token.isEmpty { headers.add("Authorization", "Bearer \(token)") }
        do {
            response = try http.request(method: method, path: path, headers: headers, body: body ?? [], timeout: timeout)
        } catch {
            throw .failed("\(method) \(base)\(path): \(error)")
        }
        let value = try? JSON.parse(response.body)
        guard (200..<300).contains(response.status) else {
            lastErrorBody = value
            if let code = value?["error"]?["code"]?.stringValue {
                throw .failed("\(method) \(path): \(response.status) \(code): \(value?["error"]?["message"]?.stringValue ?? "")")
            }
            throw .failed("\(method) \(path): HTTP \(response.status)")
        }
        guard let value else { throw .failed("\(method) \(path): answer is not JSON") }
        return value
    }
}

/// A mutable cell for a value-type client that must remember one thing between calls.
final class Box<T> {
    var value: T
    init(_ value: T) { self.value = value }
}
