import CSodium

/// An Ed25519 key pair derived from a 32-byte seed. Promises: the same seed always gives the same
/// keys and signatures (Ed25519 is deterministic). The seed is secret; do not log it.
public struct KeyPair: Sendable {
    public static let seedBytes = 32
    public let seed: [UInt8]
    public let publicKey: PublicKey
    public let address: Address
    private let secretKey: [UInt8]  // libsodium's 64-byte form: seed ‖ public key

    public init(seed: [UInt8]) {
        precondition(seed.count == Self.seedBytes, "Ed25519 seed must be 32 bytes")
        ensureSodium()
        var pk = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        var sk = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
        let rc = crypto_sign_seed_keypair(&pk, &sk, seed)
        precondition(rc == 0, "crypto_sign_seed_keypair failed")
        self.seed = seed
        self.secretKey = sk
        self.publicKey = PublicKey(bytes: pk)!
        self.address = Address(publicKey: publicKey)
        assert(Array(sk[32...]) == pk)
    }

    /// A fresh key pair from libsodium's random source.
    public static func generate() -> KeyPair {
        KeyPair(seed: Crypto.randomBytes(seedBytes))
    }

    /// The well-known development key: seed = SHA-256("autochain development key").
    /// FOR LOCAL DEVELOPMENT CHAINS ONLY — everyone knows its secret.
    public static let development = KeyPair(seed: Crypto.sha256(Array("autochain development key".utf8)).bytes)

    /// Ed25519 detached signature of `message`.
    public func sign(_ message: [UInt8]) -> Signature {
        var sig = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
        var sigLen: UInt64 = 0
        let rc = crypto_sign_detached(&sig, &sigLen, message, UInt64(message.count), secretKey)
        precondition(rc == 0 && sigLen == UInt64(crypto_sign_BYTES), "crypto_sign_detached failed")
        return Signature(bytes: sig)!
    }
}

extension KeyPair: CustomStringConvertible, CustomDebugStringConvertible {
    /// Never shows the seed, so a key pair that ends up in a log does not leak its secret.
    public var description: String { "KeyPair(publicKey: \(publicKey.hex), address: \(address.hex))" }
    public var debugDescription: String { description }
}

/// Ed25519 signature verification.
public enum Ed25519 {
    /// True only when `signature` is a valid signature of `message` by `publicKey`.
    public static func verify(_ signature: Signature, message: [UInt8], publicKey: PublicKey) -> Bool {
        ensureSodium()
        let sig = signature.bytes
        let pk = publicKey.bytes
        return crypto_sign_verify_detached(sig, message, UInt64(message.count), pk) == 0
    }
}
