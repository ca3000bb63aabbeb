/// Why a genesis spec (config.toml `[genesis]`) is unusable.
public enum GenesisError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidChainId(String)
    case noAllocations
    case tooManyAllocations(count: Int, limit: Int)
    case duplicateAddress(Address)
    case zeroBalance(Address)
    case supplyTooLarge

    public var description: String {
        switch self {
        case .invalidChainId(let why): "genesis chainId \(why)"
        case .noAllocations: "genesis needs at least one allocation"
        case .tooManyAllocations(let c, let l): "genesis has \(c) allocations, limit \(l)"
        case .duplicateAddress(let a): "genesis allocates \(a) twice"
        case .zeroBalance(let a): "genesis allocation to \(a) is zero"
        case .supplyTooLarge: "genesis total supply exceeds 2^53-1"
        }
    }
}

/// What a chain starts from. Promises: `block()` is a pure function of the spec, so every node
/// with the same spec derives the same genesis hash, and different chainIds never share one.
public struct GenesisSpec: Sendable {
    /// Domain tag of the genesis prevHash derivation.
    public static let domainTag: [UInt8] = Array("autochain-genesis-v1".utf8)

    public var chainId: String
    /// Milliseconds since the Unix epoch; becomes the genesis header's timestamp.
    public var timestamp: UInt64
    public var allocations: [(Address, UInt64)]

    public init(chainId: String, timestamp: UInt64, allocations: [(Address, UInt64)]) {
        self.chainId = chainId
        self.timestamp = timestamp
        self.allocations = allocations
    }

    public func validate() throws(GenesisError) {
        let length = chainId.utf8.count
        guard length >= 1, length <= Limits.maxChainIdBytes else {
            throw .invalidChainId("must be 1 to \(Limits.maxChainIdBytes) bytes, got \(length)")
        }
        guard chainId.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7e }) else {
            throw .invalidChainId("must be printable ASCII without spaces")
        }
        guard !allocations.isEmpty else { throw .noAllocations }
        guard allocations.count <= Limits.maxGenesisAllocations else {
            throw .tooManyAllocations(count: allocations.count, limit: Limits.maxGenesisAllocations)
        }
        var seen = Set<Address>(minimumCapacity: allocations.count)
        var total: UInt64 = 0
        for (address, balance) in allocations {
            guard seen.insert(address).inserted else { throw .duplicateAddress(address) }
            guard balance > 0 else { throw .zeroBalance(address) }
            guard balance <= Limits.maxSupply, total <= Limits.maxSupply - balance else { throw .supplyTooLarge }
            total += balance
        }
        assert(total == supply)
    }

    /// Sum of all allocations: the invariant total (balances + fees burned) of the chain.
    /// Saturates at UInt64.max for a spec that `validate` would reject.
    public var supply: UInt64 {
        allocations.reduce(0) { sum, allocation in
            let (total, overflow) = sum.addingReportingOverflow(allocation.1)
            return overflow ? UInt64.max : total
        }
    }

    /// The genesis accounts, sorted by address, nonce 0.
    public var accounts: [Account] {
        allocations.map { Account(address: $0.0, balance: $0.1, nonce: 0) }.sorted { $0.address < $1.address }
    }

    /// SHA-256(tag ‖ u32be(len chainId) ‖ chainId): ties the genesis hash to the chainId.
    public var prevHash: Hash32 {
        var buf = Self.domainTag
        let chain = Array(chainId.utf8)
        buf.appendBE(UInt32(chain.count))
        buf.append(contentsOf: chain)
        return Crypto.sha256(buf)
    }

    /// The height-0 block. Unsigned (proposer and signature are zero): nodes check genesis by
    /// recomputing it from the spec, not by a signature. Traps on an invalid spec: validate first.
    public func block() -> Block {
        do { try validate() } catch { preconditionFailure("genesis spec is invalid: \(error)") }
        let header = BlockHeader(
            height: 0, prevHash: prevHash, txRoot: Merkle.root([]),
            stateRoot: StateRoot.next(previous: .zero, changes: accounts), timestamp: timestamp, term: 0,
            proposer: .zero, txCount: 0)
        return Block(header: header, proposerSignature: .zero, txs: [])
    }
}
