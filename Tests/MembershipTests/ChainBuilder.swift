import Chain
@testable import Membership

/// Signed chains for tests: block 1 bootstraps a node, further blocks change the membership or
/// are empty, each signed by the node named as proposer (its key derived from its ID).
struct ChainBuilder {
    static func key(_ id: String) -> KeyPair { KeyPair(seed: Crypto.sha256(Array("test key \(id)".utf8)).bytes) }
    static let genesisHash = Crypto.sha256(Array("test genesis".utf8))
    static let genesisStateRoot = Crypto.sha256(Array("test genesis state".utf8))

    private(set) var blocks: [Block] = []
    private(set) var term: UInt64 = 1

    init(bootstrap id: String) {
        let change = MembershipChange(kind: .bootstrap, nodeId: id, nodeKey: Self.key(id).publicKey)
        blocks.append(Block.make(height: 1, prevHash: Self.genesisHash,
                                 stateRoot: StateRoot.next(previous: Self.genesisStateRoot, membership: change),
                                 timestamp: 1, term: 1, txs: [], membership: change, proposerKey: Self.key(id)))
    }

    /// A chain whose voters are `voters` (the first bootstraps and proposes) and learners `learners`.
    init(voters: [String], learners: [String] = []) {
        self.init(bootstrap: voters[0])
        for v in voters.dropFirst() {
            add(.addLearner, v, by: voters[0])
            add(.promote, v, by: voters[0])
        }
        for l in learners { add(.addLearner, l, by: voters[0]) }
    }

    var head: Block { blocks[blocks.count - 1] }

    mutating func add(_ kind: MembershipChange.Kind, _ id: String, by proposer: String, term: UInt64? = nil) {
        let change = MembershipChange(kind: kind, nodeId: id, nodeKey: kind.carriesKey ? Self.key(id).publicKey : .zero)
        if let term { self.term = term }
        blocks.append(Block.make(height: head.height + 1, prevHash: head.hash,
                                 stateRoot: StateRoot.next(previous: head.header.stateRoot, membership: change),
                                 timestamp: head.header.timestamp + 1, term: self.term, txs: [], membership: change,
                                 proposerKey: Self.key(proposer)))
    }

    /// An empty block as a leader makes one (a term's first block): it keeps the stateRoot.
    mutating func addEmpty(by proposer: String) {
        blocks.append(Block.make(height: head.height + 1, prevHash: head.hash,
                                 stateRoot: head.header.stateRoot,
                                 timestamp: head.header.timestamp + 1, term: term, txs: [], proposerKey: Self.key(proposer)))
    }

    var entries: [VerifiedChain.Entry] { blocks.map(VerifiedChain.Entry.init) }

    /// The keys the registry pinned: every builder node's own.
    static func pinned(_ id: String) -> PublicKey? { key(id).publicKey }

    /// The whole chain, verified.
    func verified() throws -> VerifiedChain {
        var chain = VerifiedChain()
        try chain.apply(entries, pinnedKey: Self.pinned)
        return chain
    }
}
