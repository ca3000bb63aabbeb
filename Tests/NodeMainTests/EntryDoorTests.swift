import Chain
import Consensus
import Dispatch
import Synchronization
import Testing
@testable import NodeMain

/// The door replicated entries pass before the consensus core may append them: decoded, their
/// block matching the entry, signed by the leader of their term; anything else refused.
@Suite struct EntryDoorTests {
    static let leader = KeyPair.generate()
    static let other = KeyPair.generate()

    static func block(height: UInt64, term: UInt64, key: KeyPair = leader) -> [UInt8] {
        Block.make(height: height, prevHash: .zero, stateRoot: .zero, timestamp: 1, term: term, txs: [], proposerKey: key).encode()
    }

    static func append(term: UInt64, _ entries: [Entry]) -> Message {
        Message(from: "n1", to: "n2", term: term, kind: .append(prevIndex: entries[0].index - 1, prevTerm: 1, entries: entries, commit: 0))
    }

    func refusal(_ m: Message, door: EntryDoor = EntryDoor(checks: EntryChecks(), maxQueuedPerPeer: 8)) -> EntryDoor.Refusal? {
        door.check(m, senderKey: Self.leader.publicKey)?.0
    }

    @Test func entriesSignedByTheSenderForItsTerm_pass_andTheirChecksStart() {
        let checks = EntryChecks()
        let door = EntryDoor(checks: checks, maxQueuedPerPeer: 8)
        let data = Self.block(height: 5, term: 7)
        #expect(refusal(Self.append(term: 7, [Entry(index: 5, term: 7, data: data)]), door: door) == nil)
        #expect(checks.pending == 1)
        #expect(checks.take(index: 5, term: 7, data: data)?.valid == true)
    }

    static func blockWithTransfers(height: UInt64, term: UInt64, key: KeyPair = leader) -> [UInt8] {
        let payer = KeyPair.generate()
        let txs = (0..<3).map { n in
            Transaction.signed(chainId: "door", to: other.address, amount: 1, fee: 1, nonce: UInt64(n), keyPair: payer)
        }
        return Block.make(height: height, prevHash: .zero, stateRoot: .zero, timestamp: 1, term: term, txs: txs, proposerKey: key).encode()
    }

    @Test func byDefault_everyTransferOfAnAdmittedEntryIsVerified() {
        let checks = EntryChecks()
        let data = Self.blockWithTransfers(height: 5, term: 7)
        #expect(refusal(Self.append(term: 7, [Entry(index: 5, term: 7, data: data)]), door: EntryDoor(checks: checks, maxQueuedPerPeer: 8)) == nil)
        #expect(checks.take(index: 5, term: 7, data: data)?.valid == true)
        #expect(checks.verifiedTransfers.load(ordering: .relaxed) == 3)
    }

    @Test func trustingLeaderSignedBlocks_entriesOfTheSendersTermAreDecodedNotVerified() {
        let checks = EntryChecks(trustLeaderSigned: true)
        let data = Self.blockWithTransfers(height: 5, term: 7)
        #expect(refusal(Self.append(term: 7, [Entry(index: 5, term: 7, data: data)]), door: EntryDoor(checks: checks, maxQueuedPerPeer: 8)) == nil)
        let taken = checks.take(index: 5, term: 7, data: data)
        #expect(taken?.block.txs.count == 3)
        #expect(taken != nil && taken?.valid == nil, "left to the core's decision")
        #expect(checks.verifiedTransfers.load(ordering: .relaxed) == 0)
    }

    @Test func trustingLeaderSignedBlocks_entriesOfAnEarlierTermAreStillVerified() {
        let checks = EntryChecks(trustLeaderSigned: true)
        let data = Self.blockWithTransfers(height: 4, term: 6, key: Self.other)
        #expect(refusal(Self.append(term: 7, [Entry(index: 4, term: 6, data: data)]), door: EntryDoor(checks: checks, maxQueuedPerPeer: 8)) == nil)
        #expect(checks.take(index: 4, term: 6, data: data)?.valid == true)
        #expect(checks.verifiedTransfers.load(ordering: .relaxed) == 3)
    }

    @Test func heartbeatsAndEmptyAppends_pass() {
        #expect(refusal(Message(from: "n1", to: "n2", term: 7, kind: .heartbeat(commit: 3))) == nil)
        #expect(refusal(Message(from: "n1", to: "n2", term: 7, kind: .append(prevIndex: 4, prevTerm: 7, entries: [], commit: 3))) == nil)
    }

    @Test func anUndecodableEntry_isRefused() {
        #expect(refusal(Self.append(term: 7, [Entry(index: 5, term: 7, data: [1, 2, 3])])) == .undecodableEntry)
        #expect(refusal(Self.append(term: 7, [Entry(index: 5, term: 7, data: [])])) == .undecodableEntry)
    }

    @Test func aBlockForAnotherSlotOrTerm_isRefused() {
        #expect(refusal(Self.append(term: 7, [Entry(index: 6, term: 7, data: Self.block(height: 5, term: 7))])) == .entryMismatch)
        #expect(refusal(Self.append(term: 7, [Entry(index: 5, term: 7, data: Self.block(height: 5, term: 6))])) == .entryMismatch)
        let conf = Entry(index: 5, term: 7, data: Self.block(height: 5, term: 7), confChange: .remove("n3"))
        #expect(refusal(Self.append(term: 7, [conf])) == .entryMismatch, "a membership change the block does not carry")
    }

    @Test func anEntryOfTheMessagesTermSignedByAnotherKey_isRefused() {
        let forged = Entry(index: 5, term: 7, data: Self.block(height: 5, term: 7, key: Self.other))
        #expect(refusal(Self.append(term: 7, [forged])) == .wrongSigner)
    }

    @Test func aTamperedBlock_failsItsSignature() {
        var data = Self.block(height: 5, term: 7)
        let block = try! Block.decode(data)
        var header = block.header
        header.timestamp += 1
        data = Block(header: header, proposerSignature: block.proposerSignature, txs: [], membership: nil).encode()
        #expect(refusal(Self.append(term: 7, [Entry(index: 5, term: 7, data: data)])) == .badEntrySignature)
    }

    @Test func olderTermEntries_mustAllCarryTheKeyTheirTermStartedWith() {
        let door = EntryDoor(checks: EntryChecks(), maxQueuedPerPeer: 8)
        // Term 6 was led by `other`: its term-start block names it.
        let t6 = Entry(index: 4, term: 6, data: Self.block(height: 4, term: 6, key: Self.other))
        #expect(refusal(Self.append(term: 7, [t6]), door: door) == nil)
        let forged = Entry(index: 5, term: 6, data: Self.block(height: 5, term: 6, key: Self.leader))
        #expect(refusal(Self.append(term: 7, [forged]), door: door) == .wrongSigner, "remembered from an earlier message")
        let mixed = [Entry(index: 8, term: 5, data: Self.block(height: 8, term: 5, key: Self.other)),
                     Entry(index: 9, term: 5, data: Self.block(height: 9, term: 5, key: Self.leader))]
        #expect(refusal(Self.append(term: 7, mixed), door: door) == .wrongSigner, "two signers for term 5 in one message")
    }

    @Test func aPeerOverItsQueueBound_hasItsMessagesDropped() {
        let door = EntryDoor(checks: EntryChecks(), maxQueuedPerPeer: 1)
        let release = DispatchSemaphore(value: 0)
        let admitted = DispatchSemaphore(value: 0)
        let refused = Mutex<[EntryDoor.Refusal]>([])
        let hb = Message(from: "n1", to: "n2", term: 7, kind: .heartbeat(commit: 0))
        let admit: @Sendable (Message) -> Void = { _ in admitted.signal(); release.wait() }
        let refuse: @Sendable (EntryDoor.Refusal, String) -> Void = { r, _ in refused.withLock { $0.append(r) } }
        // The first message is held in its check's callback, so the lane stays busy.
        let first = door.submit(hb, senderKey: Self.leader.publicKey, admit: admit, refuse: refuse)
        #expect(first)
        admitted.wait()
        let second = door.submit(hb, senderKey: Self.leader.publicKey, admit: admit, refuse: refuse)
        #expect(!second)
        #expect(refused.withLock { $0 } == [.doorQueueFull])
        release.signal()
    }
}
