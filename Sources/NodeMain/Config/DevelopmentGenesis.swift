import Chain

extension GenesisSpec {
    /// The built-in genesis, identical to config.toml's: chain `autochain-dev`, funding the
    /// well-known development key with 10^15. For local chains only.
    static let development = GenesisSpec(chainId: "autochain-dev", timestamp: 1_767_225_600_000,
                                         allocations: [(KeyPair.development.address, 1_000_000_000_000_000)])
}
