/// Every bound the Chain module enforces, named once, with the reason for its value.
///
/// Client-facing limits are part of the protocol (docs/PROTOCOL.md): changing one changes which
/// transactions and blocks a node accepts.
public enum Limits {
    /// Largest amount, fee, balance or total supply: 2^53-1, so every JSON client (including
    /// JavaScript's IEEE-754 doubles) reads amounts exactly.
    public static let maxSupply: UInt64 = (1 << 53) - 1

    /// Longest chain identifier in UTF-8 bytes; it is embedded in every signed transaction.
    public static let maxChainIdBytes = 64

    /// Most transactions one block may carry. Bounds block size (~250 bytes per tx → ~2.5 MiB
    /// binary, ~5 MiB JSON), which stays under the 16 MiB peer line limit.
    public static let maxTxsPerBlock = 10_000

    /// Most allocations a genesis spec may list (config.toml is written by hand).
    public static let maxGenesisAllocations = 100_000

    /// Transactions one `verifyAll` worker checks per chunk: large enough to amortize the
    /// dispatch, small enough to keep both cores busy on a block.
    public static let verifyChunkTxs = 64
}
