import Chain
import Consensus
import NodeCore
import Testing

/// `[p2p] sync_transfer_signatures`: by default a synced block's transfer signatures are all
/// verified again; with `trust_leader_signed` they are taken on the signature of the leader of
/// their term, and nothing a serving peer can do without a voter's key gets an unverified
/// transfer applied.
@Suite struct SyncedTransferTrustTests {
    static func trusting(_ id: String) -> RuntimeCoreSettings {
        var s = CoreFixture.settings(id)
        s.syncTransferSignatures = .trustLeaderSigned
        return s
    }

    /// The cluster of `CoreCluster.withFreshNodeBehind` ("a" leads, "b" is fresh), with "b"
    /// built on `settings`.
    static func freshNode(settings: RuntimeCoreSettings) throws -> (cluster: CoreCluster, a: CoreNode, b: CoreNode) {
        let (cluster, a, _) = try CoreCluster.withFreshNodeBehind()
        let b = try CoreNode("b", store: MemoryBlockStore(genesis: CoreFixture.genesis), joining: true, seed: 2, settings: settings)
        b.perform(b.core.handle(.joinAnswered(from: "a", accepted: true, leaderHint: nil), now: cluster.now), now: cluster.now)
        return (cluster, a, b)
    }

    /// A block on top of `a`'s head, signed by `key`, holding one transfer from the fixture's
    /// payer whose signature is not the payer's (nobody signed it), executing to its stateRoot.
    static func forgedBlock(on a: CoreNode, key: KeyPair, term: UInt64? = nil) throws -> Block {
        let head = try #require(try a.store.block(at: a.store.headHeight))
        let payer = CoreFixture.payer
        let nonce = a.store.accounts[payer.address]?.nonce ?? 0
        let bogus = try #require(Signature(bytes: [UInt8](repeating: 7, count: Signature.byteCount)))
        let tx = Transaction(chainId: CoreFixture.chainId, from: payer.address, to: CoreFixture.payee, amount: 500,
                             fee: 1, nonce: nonce, pubkey: payer.publicKey, signature: bogus)
        #expect(!tx.verifySignature())
        let delta = try Ledger.execute(block: [tx], on: a.store.accounts(overlay: [:]))
        return Block.make(height: head.height + 1, prevHash: head.hash,
                          stateRoot: StateRoot.next(previous: head.header.stateRoot, changes: delta.changes),
                          timestamp: head.header.timestamp + 1, term: term ?? head.header.term, txs: [tx], proposerKey: key)
    }

    /// Runs `b`'s block sync against a peer "a" that serves `served` (by height) and claims its last height.
    static func sync(_ b: CoreNode, serving served: [Block], cluster: CoreCluster) {
        let claims = [(id: "a", height: served.last?.header.height ?? 0)]
        for _ in 0..<30 {
            let list = b.core.syncDuties(connected: claims, now: cluster.now)
            b.perform(list, now: cluster.now)
            for case .requestBlocks(let from, let count, "a") in list {
                let range = served.filter { $0.header.height >= from && $0.header.height < from + UInt64(count) }
                b.perform(b.core.handle(.blocks(range, from: "a"), now: cluster.now), now: cluster.now)
            }
            if !b.core.sync.active, b.store.headHeight > 0 { return }
        }
    }

    static func refusedSyncedBlock(_ b: CoreNode) -> Bool {
        b.effects.contains { if case .log(_, let message, _) = $0 { message.hasPrefix("synced block refused") } else { false } }
    }

    // MARK: the decision on headers

    static func header(height: UInt64, prev: BlockHeader?, term: UInt64, proposer: KeyPair) -> BlockHeader {
        BlockHeader(height: height, prevHash: prev?.hash ?? .zero, txRoot: .zero, stateRoot: .zero, timestamp: 1, term: term,
                    proposer: proposer.publicKey, txCount: 0)
    }

    static func block(_ header: BlockHeader) -> Block { Block(header: header, proposerSignature: .zero, txs: []) }

    @Test func theDefaultSetting_trustsNoBlock() {
        #expect(CoreFixture.settings("x").syncTransferSignatures == .verify, "the default")
        let previous = Self.header(height: 5, prev: nil, term: 2, proposer: CoreFixture.key("a"))
        let next = Self.block(Self.header(height: 6, prev: previous, term: 2, proposer: CoreFixture.key("a")))
        #expect(!SyncedTransferTrust.allows(next, after: previous, policy: .verify))
        #expect(SyncedTransferTrust.allows(next, after: previous, policy: .trustLeaderSigned))
    }

    @Test func aBlockOfTheSameTermSignedByAnotherKey_orOfAnEarlierTerm_isNotTrusted() {
        let a = CoreFixture.key("a"), c = CoreFixture.key("c")
        let previous = Self.header(height: 5, prev: nil, term: 3, proposer: a)
        #expect(!SyncedTransferTrust.allows(Self.block(Self.header(height: 6, prev: previous, term: 3, proposer: c)),
                                            after: previous, policy: .trustLeaderSigned), "two keys in one term")
        #expect(!SyncedTransferTrust.allows(Self.block(Self.header(height: 6, prev: previous, term: 2, proposer: a)),
                                            after: previous, policy: .trustLeaderSigned), "a term going back")
        #expect(SyncedTransferTrust.allows(Self.block(Self.header(height: 6, prev: previous, term: 4, proposer: c)),
                                           after: previous, policy: .trustLeaderSigned), "a new term's leader")
    }

    @Test func aBlockNotLinkedToTheHeaderGiven_orWithNoneGiven_isNotTrusted() {
        let a = CoreFixture.key("a")
        let previous = Self.header(height: 5, prev: nil, term: 3, proposer: a)
        let other = Self.header(height: 5, prev: previous, term: 3, proposer: a)
        let next = Self.block(Self.header(height: 6, prev: other, term: 3, proposer: a))
        #expect(!SyncedTransferTrust.allows(next, after: previous, policy: .trustLeaderSigned), "links to another block")
        #expect(!SyncedTransferTrust.allows(next, after: nil, policy: .trustLeaderSigned))
        let skipping = Self.block(Self.header(height: 7, prev: previous, term: 3, proposer: a))
        #expect(!SyncedTransferTrust.allows(skipping, after: previous, policy: .trustLeaderSigned), "not the next height")
    }

    // MARK: a syncing node served a forged block

    @Test func byDefault_aLeaderSignedBlockWithATransferNobodySigned_isRefused() throws {
        let (cluster, a, b) = try Self.freshNode(settings: CoreFixture.settings("b"))
        let forged = try Self.forgedBlock(on: a, key: CoreFixture.key("a"))
        Self.sync(b, serving: a.store.blocks + [forged], cluster: cluster)
        #expect(Self.refusedSyncedBlock(b))
        #expect(b.store.headHeight == a.store.headHeight && b.store.headHash == a.store.headHash)
        #expect(b.store.accounts == a.store.accounts)
    }

    @Test func trustingLeaderSignedBlocks_theChainSyncsWithNoSignatureCheckedAhead() throws {
        let (cluster, a, b) = try Self.freshNode(settings: Self.trusting("b"))
        Self.sync(b, serving: a.store.blocks, cluster: cluster)
        #expect(b.store.headHeight == a.store.headHeight && b.store.headHash == a.store.headHash)
        #expect(b.store.accounts == a.store.accounts)
        #expect(!b.effects.contains { if case .precheckSyncedBlocks(let blocks) = $0 { !blocks.isEmpty } else { false } })
    }

    /// What the setting trusts, shown: the leader's key vouches for the transfers of its blocks.
    /// (A stolen voter key could so forge transfers into blocks a trusting node syncs; the
    /// default setting refuses this block, above.)
    @Test func trustingLeaderSignedBlocks_aTransferIsTakenOnTheTermLeadersSignature() throws {
        let (cluster, a, b) = try Self.freshNode(settings: Self.trusting("b"))
        let forged = try Self.forgedBlock(on: a, key: CoreFixture.key("a"))
        Self.sync(b, serving: a.store.blocks + [forged], cluster: cluster)
        #expect(b.store.headHash == forged.hash)
    }

    @Test func trustingLeaderSignedBlocks_aBlockSignedByAKeyThatIsNotAVoter_isRefused() throws {
        let (cluster, a, b) = try Self.freshNode(settings: Self.trusting("b"))
        let stranger = KeyPair(seed: [UInt8](repeating: 99, count: 32))
        let forged = try Self.forgedBlock(on: a, key: stranger)
        Self.sync(b, serving: a.store.blocks + [forged], cluster: cluster)
        #expect(Self.refusedSyncedBlock(b))
        #expect(b.store.headHash == a.store.headHash && b.store.accounts == a.store.accounts)
    }

    /// The serving peer changes a transfer inside a real block (here: its signature): the block
    /// no longer matches the header its proposer signed.
    @Test func trustingLeaderSignedBlocks_aTransferAlteredByTheServingPeer_isRefused() throws {
        let (cluster, a, b) = try Self.freshNode(settings: Self.trusting("b"))
        var served = a.store.blocks
        let i = try #require(served.lastIndex { !$0.txs.isEmpty })
        let real = served[i]
        let tx = real.txs[0]
        let bogus = try #require(Signature(bytes: [UInt8](repeating: 7, count: Signature.byteCount)))
        let altered = Transaction(chainId: tx.chainId, from: tx.from, to: tx.to, amount: tx.amount, fee: tx.fee, nonce: tx.nonce,
                                  pubkey: tx.pubkey, signature: bogus)
        served[i] = Block(header: real.header, proposerSignature: real.proposerSignature, txs: [altered] + real.txs.dropFirst(),
                          membership: real.membership)
        Self.sync(b, serving: served, cluster: cluster)
        #expect(Self.refusedSyncedBlock(b))
        #expect(b.store.headHeight < real.header.height)
    }

    /// A block the term rule does not let through is verified in full, even when trusting.
    @Test func trustingLeaderSignedBlocks_aBlockOfAnEarlierTerm_isVerified_andRefusedWhenForged() throws {
        let (cluster, a, b) = try Self.freshNode(settings: Self.trusting("b"))
        let headTerm = try #require(try a.store.block(at: a.store.headHeight)).header.term
        let forged = try Self.forgedBlock(on: a, key: CoreFixture.key("a"), term: headTerm - 1)
        Self.sync(b, serving: a.store.blocks + [forged], cluster: cluster)
        #expect(Self.refusedSyncedBlock(b))
        #expect(b.store.headHash == a.store.headHash)
    }
}

