import Chain
import FoundationEssentials
import Glibc

/// The key file format: `{"address":"0x…","publicKey":"<hex>","seed":"<hex 32-byte Ed25519 seed>"}`.
enum KeyFile {
    static func json(_ key: KeyPair) -> JSON {
        ["address": .string(key.address.hex), "publicKey": .string(key.publicKey.hex), "seed": .string(Hex.encode(key.seed))]
    }

    /// Writes the key readable by its owner only.
    static func write(_ key: KeyPair, to path: String) throws(CLIError) {
        let bytes = Array((json(key).serializedPretty() + "\n").utf8)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
            throw .failed("cannot write key file \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func read(_ path: String) throws(CLIError) -> KeyPair {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .failed("cannot read key file \(path)")
        }
        let value: JSON
        do { value = try JSON.parse(Array(data)) } catch { throw .failed("key file \(path) is not JSON: \(error)") }
        guard let seedHex = value["seed"]?.stringValue, let seed = Hex.decode(seedHex), seed.count == 32 else {
            throw .failed("key file \(path): 'seed' must be 64 hex digits")
        }
        let key = KeyPair(seed: seed)
        if let address = value["address"]?.stringValue, address.lowercased() != key.address.hex {
            throw .failed("key file \(path): 'address' \(address) does not match the seed (expected \(key.address.hex))")
        }
        return key
    }

    /// The node's own key in its data directory, made at first start.
    static func loadOrCreateNodeKey(dataDir: String) throws(CLIError) -> KeyPair {
        let path = dataDir + "/node.key"
        if FileManager.default.fileExists(atPath: path) { return try read(path) }
        let key = KeyPair.generate()
        try write(key, to: path)
        return key
    }
}
