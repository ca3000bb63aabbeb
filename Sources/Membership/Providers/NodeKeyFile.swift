import Chain
import FoundationEssentials
import Glibc

/// A node's key file `<data dir>/node.key`, in the CLI's key file format
/// (`{"address","publicKey","seed"}`, mode 0600). A provider writes it into a new node's data
/// directory before the node first starts, so the registry knows the node's key from the start
/// (it pins the ID to it) and nobody can register that ID first with another key.
public enum NodeKeyFile {
    public static let name = "node.key"
    /// A key file is small; a larger file is not one (never read whole).
    static let maxBytes = 4_096

    /// Writes a fresh key into `dir` unless one is there; returns the public key in the file.
    public static func ensure(in dir: String) throws -> PublicKey {
        if let existing = publicKey(in: dir) { return existing }
        let key = KeyPair.generate()
        let json: JSON = ["address": .string(key.address.hex), "publicKey": .string(key.publicKey.hex), "seed": .string(Hex.encode(key.seed))]
        let path = dir + "/" + name
        guard FileManager.default.createFile(atPath: path, contents: Data((json.serializedPretty() + "\n").utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw ProviderError.startFailed(id: "-", reason: "cannot write \(path)")
        }
        return key.publicKey
    }

    /// The public key of the key file in `dir`, derived from its seed (so a file whose
    /// `publicKey` field lies is read for what its seed is); nil when absent or unreadable.
    public static func publicKey(in dir: String) -> PublicKey? {
        let path = dir + "/" + name
        // The size from stat(2): `attributesOfItem`'s `.size` is an NSNumber when Foundation is
        // linked and a plain integer when it is not, so a cast to one type misreads the other.
        var info = stat()
        guard stat(path, &info) == 0, info.st_size <= maxBytes, let data = FileManager.default.contents(atPath: path),
              let json = try? JSON.parse(Array(data)), let seedHex = json["seed"]?.stringValue,
              let seed = Hex.decode(seedHex), seed.count == KeyPair.seedBytes else { return nil }
        return KeyPair(seed: seed).publicKey
    }
}
