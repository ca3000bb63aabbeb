import CSodium
import FoundationEssentials
import Glibc

/// The cluster's one operator credential: the bearer secret that every mutating call on a node
/// or the registry must carry (`Authorization: Bearer <credential>`), that nodes hand to the
/// registry, and that keys the peer handshake. A cluster started without one generates it
/// (32 random bytes from libsodium, hex) and keeps it in a file only its owner can read.
///
/// Promises: a credential is printable ASCII without spaces (safe in a header and an env var),
/// 16...1024 bytes long; `authorizes` compares in constant time whatever the input's length.
public struct ClusterCredential: Sendable, Equatable, CustomStringConvertible {
    /// The file a cluster's credential is kept in, inside a data directory.
    public static let fileName = "cluster-credential"
    /// Random bytes in a generated credential (64 hex digits).
    public static let generatedBytes = 32
    /// Shortest credential accepted from an operator: shorter secrets can be guessed.
    public static let minBytes = 16
    /// Longest credential accepted: it travels in a header line.
    public static let maxBytes = 1024

    /// The secret itself. Never logged: `description` redacts it.
    public let secret: String

    public var description: String { "ClusterCredential(\(secret.utf8.count) bytes, redacted)" }

    /// A credential given by an operator (flag, env, config or file), surrounding whitespace trimmed.
    public init(_ text: String) throws(CredentialError) {
        let trimmed = text.trimmingWhitespaceAndNewlines
        guard trimmed.utf8.count >= Self.minBytes else { throw .tooShort(bytes: trimmed.utf8.count, minimum: Self.minBytes) }
        guard trimmed.utf8.count <= Self.maxBytes else { throw .tooLong(maximum: Self.maxBytes) }
        guard trimmed.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .notPrintable }
        secret = trimmed
    }

    /// A fresh credential: 32 bytes from libsodium's random source, as 64 hex digits.
    public static func generate() -> ClusterCredential {
        let secret = Hex.encode(Crypto.randomBytes(generatedBytes))
        assert(secret.utf8.count == 2 * generatedBytes)
        // A generated credential always satisfies the grammar: 64 lowercase hex digits.
        return ClusterCredential(unchecked: secret)
    }

    private init(unchecked secret: String) { self.secret = secret }

    /// The `Authorization` header value that carries this credential.
    public var authorizationHeader: String { "Bearer " + secret }

    /// True when `header` is exactly `Bearer <this credential>`. Both sides are hashed first and
    /// the digests compared with `sodium_memcmp`, so the time taken says nothing about how much of
    /// a guess was right, nor about the secret's length.
    public func authorizes(authorizationHeader header: String?) -> Bool {
        let given = Crypto.sha256(Array((header ?? "").utf8))
        let expected = Crypto.sha256(Array(authorizationHeader.utf8))
        let same = given.bytes.withUnsafeBytes { g in
            expected.bytes.withUnsafeBytes { e in sodium_memcmp(g.baseAddress!, e.baseAddress!, g.count) }
        }
        return same == 0 && header != nil
    }

    /// Reads a credential file. Refuses one that others than its owner can read or write.
    public static func load(path: String) throws(CredentialError) -> ClusterCredential {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .unreadable(path: path, reason: "not a regular file") }
        guard info.st_mode & 0o077 == 0 else { throw .tooOpen(path: path, mode: UInt32(info.st_mode & 0o777)) }
        guard info.st_size <= off_t(maxBytes + 64), let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, reason: "cannot read it, or it is larger than \(maxBytes) bytes")
        }
        do { return try ClusterCredential(String(decoding: data, as: UTF8.self)) } catch { throw .invalidFile(path: path, error) }
    }

    /// The credential kept in `directory`, or a fresh one written there (mode 0600, created
    /// exclusively, so two processes starting at once never keep different secrets).
    public static func loadOrCreate(directory: String) throws(CredentialError) -> (credential: ClusterCredential, path: String, created: Bool) {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(fileName).path
        if FileManager.default.fileExists(atPath: path) { return (try load(path: path), path, false) }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .unwritable(path: directory, reason: FileErrorText.reason(error))
        }
        let credential = generate()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { return (try load(path: path), path, false) }
            throw .unwritable(path: path, reason: String(cString: strerror(errno)))
        }
        let bytes = Array((credential.secret + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced else {
            unlink(path)
            throw .unwritable(path: path, reason: "short write or fsync failure")
        }
        return (credential, path, true)
    }
}

/// Why a credential was refused. Each names what to fix.
public enum CredentialError: Error, Equatable, CustomStringConvertible {
    case tooShort(bytes: Int, minimum: Int)
    case tooLong(maximum: Int)
    case notPrintable
    case unreadable(path: String, reason: String)
    case unwritable(path: String, reason: String)
    case tooOpen(path: String, mode: UInt32)
    indirect case invalidFile(path: String, CredentialError)

    public var description: String {
        switch self {
        case .tooShort(let n, let min): "the cluster credential must be at least \(min) bytes (got \(n))"
        case .tooLong(let max): "the cluster credential must be at most \(max) bytes"
        case .notPrintable: "the cluster credential must be printable ASCII without spaces"
        case .unreadable(let path, let reason): "cannot read the cluster credential \(path): \(reason)"
        case .unwritable(let path, let reason): "cannot write the cluster credential \(path): \(reason)"
        case .tooOpen(let path, let mode):
            "the cluster credential \(path) is readable by others (mode \(String(mode, radix: 8))): chmod 600 \(path)"
        case .invalidFile(let path, let inner): "\(path): \(inner)"
        }
    }
}
