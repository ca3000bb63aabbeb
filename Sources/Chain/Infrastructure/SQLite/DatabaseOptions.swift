/// How a `Database` is opened. Every default is written here once.
public struct DatabaseOptions: Sendable, Equatable {
    /// SQLite's `synchronous` setting: how hard a commit pushes data to the disk.
    public enum Synchronous: String, Sendable, CaseIterable {
        /// fsync on every commit, so a committed transaction survives power loss (WAL mode).
        case full = "FULL"
        /// fsync at checkpoints only: a commit may be lost on power loss, never corrupted.
        case normal = "NORMAL"
        /// No fsync at all: for tests and throwaway data.
        case off = "OFF"
    }

    /// Default `.full`: an acknowledged commit must survive a crash (DESIGN.md §4).
    public var synchronous: Synchronous
    /// How long a statement waits for another connection's lock before failing with SQLITE_BUSY.
    public var busyTimeoutMs: Int32
    /// Page cache size per connection, in KiB (SQLite's negative `cache_size`).
    public var cacheSizeKiB: Int
    /// Distinct SQL texts kept prepared; statements beyond this are prepared per use.
    public var statementCacheMax: Int

    /// FULL sync, 5 s busy timeout, 64 MiB page cache, 256 cached statements.
    public static let `default` = DatabaseOptions()

    public init(synchronous: Synchronous = .full, busyTimeoutMs: Int32 = 5_000,
                cacheSizeKiB: Int = 64 * 1024, statementCacheMax: Int = 256)
    {
        precondition(busyTimeoutMs >= 0, "busyTimeoutMs must not be negative")
        precondition(cacheSizeKiB > 0, "cacheSizeKiB must be positive")
        precondition(statementCacheMax >= 0, "statementCacheMax must not be negative")
        self.synchronous = synchronous
        self.busyTimeoutMs = busyTimeoutMs
        self.cacheSizeKiB = cacheSizeKiB
        self.statementCacheMax = statementCacheMax
    }
}
