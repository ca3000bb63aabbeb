import Chain
import Consensus
import NodeCore
import Testing

/// `[consensus] replicated_transfer_signatures`: by default a follower verifies every transfer
/// signature of the blocks Raft replicates to it; with `trust_leader_signed` it takes them on the
/// signature of the leader it follows in its current term, and still checks everything else.
@Suite struct ReplicatedTransferTrustTests {
    static func settings(_ policy: ReplicatedTransferSignatures) -> (String) -> RuntimeCoreSettings {
        { id in
            var s = CoreFixture.settings(id)
            s.replicatedTransferSignatures = policy
            return s
        }
    }

    /// Voters a (leading), b and c on `policy`.
    static func cluster(_ policy: ReplicatedTransferSignatures) throws -> (cluster: CoreCluster, a: CoreNode, b: CoreNode) {
        let cluster = try CoreCluster.threeVoters(settings: settings(policy))
        let a = try #require(cluster.leader)
        #expect(a.id == "a")
        return (cluster, a, try #require(cluster.nodes["b"]))
    }

    /// Delivers `block` to `b` as the leader a's append of the next entry, committed at once.
    static func replicate(_ block: Block, from a: CoreNode, to b: CoreNode, cluster: CoreCluster) throws {
        let head = b.store.headHeight
        let prevTerm = try #require(try b.store.blockTerm(at: head))
        let entry = Entry(index: head + 1, term: block.header.term, data: block.encode())
        let m = Message(from: "a", to: "b", term: a.core.status.term,
                        kind: .append(prevIndex: head, prevTerm: prevTerm, entries: [entry], commit: head + 1))
        b.perform(b.core.handle(.raft(m), now: cluster.now), now: cluster.now)
        b.drain(now: cluster.now)
    }

    /// Delivers `block` to `b` (as `replicate`) and expects `b` to halt with `reason`, its head unmoved.
    static func expectRefused(_ block: Block, from a: CoreNode, to b: CoreNode, cluster: CoreCluster, reason: String,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = b.store.headHeight
        try replicate(block, from: a, to: b, cluster: cluster)
        #expect(b.halt?.contains(reason) == true, "\(b.halt ?? "no halt")", sourceLocation: sourceLocation)
        #expect(b.store.headHeight == before, sourceLocation: sourceLocation)
    }

    /// A block on a's head with one valid transfer, then `alter`ed and signed by `key`.
    static func block(on a: CoreNode, key: KeyPair, alter: (inout BlockHeader) -> Void) throws -> Block {
        let head = try #require(try a.store.block(at: a.store.headHeight))
        let nonce = a.store.accounts[CoreFixture.payer.address]?.nonce ?? 0
        let tx = CoreFixture.transfer(nonce: nonce)
        let delta = try Ledger.execute(block: [tx], on: a.store.accounts(overlay: [:]))
        let valid = Block.make(height: head.height + 1, prevHash: head.hash,
                               stateRoot: StateRoot.next(previous: head.header.stateRoot, changes: delta.changes),
                               timestamp: head.header.timestamp + 1, term: a.core.status.term, txs: [tx], proposerKey: key)
        var header = valid.header
        alter(&header)
        return Block(header: header, proposerSignature: key.sign(header.hash.bytes), txs: valid.txs)
    }

    @Test func theDefault_verifies() {
        #expect(CoreFixture.settings("x").replicatedTransferSignatures == .verify)
    }

    @Test func aTrustingFollower_commitsTheLeadersBlockWithoutVerifyingItsTransfers() throws {
        let (cluster, a, b) = try Self.cluster(.trustLeaderSigned)
        let before = b.store.headHeight
        // Nobody signed this transfer: had b verified it, b would have halted.
        let block = try SyncedTransferTrustTests.forgedBlock(on: a, key: CoreFixture.key("a"), term: a.core.status.term)
        try Self.replicate(block, from: a, to: b, cluster: cluster)
        #expect(b.halt == nil)
        #expect(b.store.headHeight == before + 1)
        #expect(try b.store.block(at: before + 1)?.hash == block.hash)
    }

    @Test func aVerifyingFollower_refusesAForgedTransferInsideALeaderSignedBlock() throws {
        let (cluster, a, b) = try Self.cluster(.verify)
        let block = try SyncedTransferTrustTests.forgedBlock(on: a, key: CoreFixture.key("a"), term: a.core.status.term)
        try Self.expectRefused(block, from: a, to: b, cluster: cluster, reason: "bad signature")
    }

    @Test func aTrustingFollower_refusesABlockWhoseBlockSignatureIsWrong() throws {
        let (cluster, a, b) = try Self.cluster(.trustLeaderSigned)
        let good = try Self.block(on: a, key: CoreFixture.key("a")) { _ in }
        let badSignature = Block(header: good.header, proposerSignature: CoreFixture.key("c").sign(good.hash.bytes), txs: good.txs)
        try Self.expectRefused(badSignature, from: a, to: b, cluster: cluster, reason: "bad proposer signature")
    }

    @Test func aTrustingFollower_refusesABlockWhoseTxRootIsWrong() throws {
        let (cluster, a, b) = try Self.cluster(.trustLeaderSigned)
        // Signed by the leader, but its txRoot does not bind the transfers it carries.
        let block = try Self.block(on: a, key: CoreFixture.key("a")) { $0.txRoot = Hash32.zero }
        #expect(block.verifyProposerSignature())
        try Self.expectRefused(block, from: a, to: b, cluster: cluster, reason: "malformed")
    }

    @Test func aTrustingFollower_verifiesABlockAnotherVoterSigned() throws {
        let (cluster, a, b) = try Self.cluster(.trustLeaderSigned)
        // c is a voter, so the block passes the proposer check, but c does not lead this term.
        let block = try SyncedTransferTrustTests.forgedBlock(on: a, key: CoreFixture.key("c"), term: a.core.status.term)
        try Self.expectRefused(block, from: a, to: b, cluster: cluster, reason: "bad signature")
    }

    // MARK: the decision

    static let membership = ClusterMembership(voters: ["a", "b"], keys: ["a": CoreFixture.key("a").publicKey,
                                                                         "b": CoreFixture.key("b").publicKey])

    static func signed(by id: String) -> Block {
        Block.make(height: 2, prevHash: .zero, stateRoot: .zero, timestamp: 1, term: 3, txs: [], proposerKey: CoreFixture.key(id))
    }

    @Test func trustNeedsTheSettingAKnownLeaderOfTheBlocksTermAndItsKey() {
        let m = Self.membership
        #expect(ReplicatedTransferTrust.allows(Self.signed(by: "a"), leader: "a", selfId: "b", membership: m, policy: .trustLeaderSigned))
        #expect(!ReplicatedTransferTrust.allows(Self.signed(by: "a"), leader: "a", selfId: "b", membership: m, policy: .verify))
        #expect(!ReplicatedTransferTrust.allows(Self.signed(by: "a"), leader: nil, selfId: "b", membership: m, policy: .trustLeaderSigned),
                "a block of another term than the current one")
        #expect(!ReplicatedTransferTrust.allows(Self.signed(by: "b"), leader: "a", selfId: "c", membership: m, policy: .trustLeaderSigned),
                "signed by a voter that does not lead")
        #expect(!ReplicatedTransferTrust.allows(Self.signed(by: "b"), leader: "b", selfId: "b", membership: m, policy: .trustLeaderSigned),
                "this node's own blocks are never taken on trust")
        #expect(!ReplicatedTransferTrust.allows(Self.signed(by: "c"), leader: "c", selfId: "b", membership: m, policy: .trustLeaderSigned),
                "a leader whose key the membership does not hold")
    }
}
