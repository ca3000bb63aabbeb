/// Bounds of the mempool. Defaults are written here once and documented in config.toml.
public struct MempoolSettings: Sendable, Equatable {
    /// Most pending transactions (ready, in flight and future) across all senders. At ~400 bytes
    /// each in memory, the default costs ~40 MiB. Beyond it: `mempool_full` (503).
    public var maxTxs: Int
    /// Most pending transactions of one sender, so one client cannot fill the pool.
    /// Beyond it: `sender_queue_full` (429).
    public var maxPerSender: Int
    /// How far beyond the sender's next expected nonce (its committed nonce plus its contiguous
    /// pending run) a nonce may go. Bounds the future queue; beyond it: `nonce_too_far`.
    public var futureNonceWindow: UInt64
    /// A transaction waiting for a missing earlier nonce of its sender leaves after this long
    /// (code `expired`), so a gap that never fills does not hold space for ever.
    public var futureTtlS: Int = 60
    /// How often the node looks for such transactions past `futureTtlS` (`[mempool]
    /// eviction_interval_ms`; default 1 s: one leaves at most a second after its TTL).
    public var evictionIntervalMs: Int = 1_000

    public init(maxTxs: Int = 100_000, maxPerSender: Int = 4_096, futureNonceWindow: UInt64 = 64) {
        precondition(maxTxs >= 1 && maxPerSender >= 1 && maxPerSender <= maxTxs, "invalid mempool bounds")
        precondition(futureNonceWindow <= UInt64(maxPerSender), "window wider than a sender's queue")
        self.maxTxs = maxTxs
        self.maxPerSender = maxPerSender
        self.futureNonceWindow = futureNonceWindow
    }
}
