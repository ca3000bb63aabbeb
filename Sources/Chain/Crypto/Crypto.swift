import CSodium

/// libsodium is initialised exactly once, on first use, from any thread: Swift initialises
/// globals lazily under `swift_once`, which is thread-safe.
private let sodiumReady: Bool = sodium_init() >= 0

@inline(__always)
func ensureSodium() {
    precondition(sodiumReady, "sodium_init failed")
}

/// Hashing and randomness from libsodium. Never hand-written.
public enum Crypto {
    /// SHA-256 of `bytes`.
    public static func sha256(_ bytes: [UInt8]) -> Hash32 {
        bytes.withUnsafeBytes { sha256($0) }
    }

    /// SHA-256 of the bytes in `raw`.
    public static func sha256(_ raw: UnsafeRawBufferPointer) -> Hash32 {
        ensureSodium()
        var out = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        let rc = crypto_hash_sha256(&out, raw.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(raw.count))
        precondition(rc == 0, "crypto_hash_sha256 failed")
        return out.withUnsafeBytes { Hash32(copying: $0) }
    }

    /// `count` cryptographically secure random bytes.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        precondition(count >= 0)
        ensureSodium()
        var out = [UInt8](repeating: 0, count: count)
        if count > 0 { out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) } }
        return out
    }
}

/// Incremental SHA-256: `update` any number of times, then `finalize` once.
/// Promises the same digest as `Crypto.sha256` of the concatenated input.
public struct SHA256Hasher: Sendable {
    private var state = crypto_hash_sha256_state()
    private var finalized = false

    public init() {
        ensureSodium()
        let rc = crypto_hash_sha256_init(&state)
        precondition(rc == 0)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public mutating func update(_ raw: UnsafeRawBufferPointer) {
        precondition(!finalized, "SHA256Hasher used after finalize")
        let rc = crypto_hash_sha256_update(
            &state, raw.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(raw.count))
        precondition(rc == 0)
    }

    public mutating func update(_ value: some FixedBytes) {
        update(value.bytes)
    }

    public mutating func finalize() -> Hash32 {
        precondition(!finalized, "SHA256Hasher finalized twice")
        finalized = true
        var out = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        let rc = crypto_hash_sha256_final(&state, &out)
        precondition(rc == 0)
        return out.withUnsafeBytes { Hash32(copying: $0) }
    }
}
