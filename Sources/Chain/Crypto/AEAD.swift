import CSodium

/// libsodium `crypto_aead_xchacha20poly1305_ietf`, detached and in place, for framing that
/// seals into (and opens inside) a buffer it already owns. Never hand-written.
/// Promises: `open` returns false and leaves no usable plaintext when the tag, nonce, key or
/// additional data do not match; sealing the same input twice gives the same bytes.
public enum XChaCha20Poly1305 {
    public static let keyBytes = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    public static let nonceBytes = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    public static let tagBytes = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)

    /// Encrypts `text` (at least one byte) in place and writes the 16-byte tag to `tag`.
    public static func seal(_ text: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer,
                            additional: UnsafeRawBufferPointer, nonce: [UInt8], key: [UInt8]) {
        precondition(tag.count == tagBytes && nonce.count == nonceBytes && key.count == keyBytes)
        precondition(text.count > 0, "seal at least one byte")
        ensureSodium()
        var tagLength: UInt64 = 0
        let bytes = text.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let rc = crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
            bytes, tag.baseAddress!.assumingMemoryBound(to: UInt8.self), &tagLength,
            bytes, UInt64(text.count), additional.baseAddress?.assumingMemoryBound(to: UInt8.self),
            UInt64(additional.count), nil, nonce, key)
        precondition(rc == 0 && tagLength == UInt64(tagBytes), "xchacha20poly1305 encrypt failed")
    }

    /// Decrypts `text` in place when `tag` authenticates it with `additional`; false otherwise.
    public static func open(_ text: UnsafeMutableRawBufferPointer, tag: UnsafeRawBufferPointer,
                            additional: UnsafeRawBufferPointer, nonce: [UInt8], key: [UInt8]) -> Bool {
        guard tag.count == tagBytes, nonce.count == nonceBytes, key.count == keyBytes,
              let bytes = text.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        ensureSodium()
        return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
            bytes, nil, bytes, UInt64(text.count), tag.baseAddress!.assumingMemoryBound(to: UInt8.self),
            additional.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(additional.count), nonce, key) == 0
    }
}
