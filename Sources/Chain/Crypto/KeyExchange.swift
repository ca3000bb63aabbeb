import CSodium

/// An X25519 key pair for libsodium's `crypto_kx` key exchange. Made fresh for every peer
/// connection (ephemeral); `init(seed:)` exists for test vectors only.
/// Promises: `publicKey` is 32 bytes; the secret key never appears in `description`.
public struct KeyExchangeKeyPair: Sendable {
    public static let publicKeyBytes = Int(crypto_kx_PUBLICKEYBYTES)
    public static let seedBytes = Int(crypto_kx_SEEDBYTES)
    public let publicKey: [UInt8]
    fileprivate let secretKey: [UInt8]

    /// A fresh key pair from libsodium's random source (`crypto_kx_keypair`).
    public static func generate() -> KeyExchangeKeyPair {
        ensureSodium()
        var pk = [UInt8](repeating: 0, count: publicKeyBytes)
        var sk = [UInt8](repeating: 0, count: Int(crypto_kx_SECRETKEYBYTES))
        let rc = crypto_kx_keypair(&pk, &sk)
        precondition(rc == 0, "crypto_kx_keypair failed")
        return KeyExchangeKeyPair(publicKey: pk, secretKey: sk)
    }

    /// The key pair `crypto_kx_seed_keypair` derives from a 32-byte seed (test vectors).
    public init(seed: [UInt8]) {
        precondition(seed.count == Self.seedBytes, "crypto_kx seed must be 32 bytes")
        ensureSodium()
        var pk = [UInt8](repeating: 0, count: Self.publicKeyBytes)
        var sk = [UInt8](repeating: 0, count: Int(crypto_kx_SECRETKEYBYTES))
        let rc = crypto_kx_seed_keypair(&pk, &sk, seed)
        precondition(rc == 0, "crypto_kx_seed_keypair failed")
        self.init(publicKey: pk, secretKey: sk)
    }

    private init(publicKey: [UInt8], secretKey: [UInt8]) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }
}

extension KeyExchangeKeyPair: CustomStringConvertible {
    public var description: String { "KeyExchangeKeyPair(publicKey: \(Hex.encode(publicKey)))" }
}

/// The two session keys one side of a `crypto_kx` exchange gets: `receive` decrypts what the
/// other side sends with its `transmit`.
public struct SessionKeys: Sendable, Equatable {
    public static let keyBytes = Int(crypto_kx_SESSIONKEYBYTES)
    public let receive: [UInt8]
    public let transmit: [UInt8]
}

/// libsodium `crypto_kx`: client and server session keys from X25519 plus BLAKE2b. A bad peer
/// key (wrong length, or one whose shared point is zero: low-order keys) gives nil, never a key.
public enum KeyExchange {
    public static func clientSessionKeys(client: KeyExchangeKeyPair, serverPublicKey: [UInt8]) -> SessionKeys? {
        guard serverPublicKey.count == KeyExchangeKeyPair.publicKeyBytes else { return nil }
        ensureSodium()
        var rx = [UInt8](repeating: 0, count: SessionKeys.keyBytes)
        var tx = [UInt8](repeating: 0, count: SessionKeys.keyBytes)
        guard crypto_kx_client_session_keys(&rx, &tx, client.publicKey, client.secretKey, serverPublicKey) == 0 else { return nil }
        return SessionKeys(receive: rx, transmit: tx)
    }

    public static func serverSessionKeys(server: KeyExchangeKeyPair, clientPublicKey: [UInt8]) -> SessionKeys? {
        guard clientPublicKey.count == KeyExchangeKeyPair.publicKeyBytes else { return nil }
        ensureSodium()
        var rx = [UInt8](repeating: 0, count: SessionKeys.keyBytes)
        var tx = [UInt8](repeating: 0, count: SessionKeys.keyBytes)
        guard crypto_kx_server_session_keys(&rx, &tx, server.publicKey, server.secretKey, clientPublicKey) == 0 else { return nil }
        return SessionKeys(receive: rx, transmit: tx)
    }
}

/// libsodium `crypto_generichash` (BLAKE2b), optionally keyed.
public enum BLAKE2b {
    /// BLAKE2b of `message` with `outputBytes` (16...64) of output, keyed with `key` (16...64
    /// bytes) when given.
    public static func hash(_ message: [UInt8], key: [UInt8]? = nil, outputBytes: Int = 32) -> [UInt8] {
        precondition((Int(crypto_generichash_BYTES_MIN)...Int(crypto_generichash_BYTES_MAX)).contains(outputBytes))
        if let key { precondition((Int(crypto_generichash_KEYBYTES_MIN)...Int(crypto_generichash_KEYBYTES_MAX)).contains(key.count)) }
        ensureSodium()
        var out = [UInt8](repeating: 0, count: outputBytes)
        let rc = crypto_generichash(&out, outputBytes, message, UInt64(message.count), key, key?.count ?? 0)
        precondition(rc == 0, "crypto_generichash failed")
        return out
    }
}
