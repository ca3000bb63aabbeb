import Chain
import NodeCore
import Consensus
import Dispatch
import Synchronization

/// The door Raft messages from peers pass before the consensus core sees them: an append's
/// entries are decoded and checked against the leader of their term *before* they can be
/// appended, off the runtime thread.
///
/// Promise: a message reaches `admit` only when every entry it carries decodes as a block whose
/// height, term and membership change are the entry's, whose structure is sound, whose proposer
/// signature verifies, and whose proposer is the leader of its term: the sender itself for
/// entries of the message's term (only the leader of a term sends its appends), and for older
/// entries the one key every entry of that term was signed with (the term-start block names
/// it). Anything else is refused with a reason (log line and metric) and never reaches the core.
/// Messages from one peer keep their order; different peers are checked in parallel. Admitted
/// entries start their transaction signature checks (`EntryChecks`) on the other cores at once,
/// so the runtime thread only executes and stores them when they commit (with `[consensus]
/// replicated_transfer_signatures = "trust_leader_signed"`, entries of the message's own term,
/// signed by the sender as its leader, are only decoded).
final class EntryDoor: Sendable {
    /// Why an append was refused (the `reason` label of `autochain_peer_refused_total`).
    enum Refusal: String, Sendable {
        case undecodableEntry = "undecodable_entry"
        case entryMismatch = "entry_mismatch"
        case malformedEntry = "malformed_entry"
        case badEntrySignature = "bad_entry_signature"
        case wrongSigner = "wrong_signer"
        case doorQueueFull = "door_queue_full"
    }

    /// One peer's ordered lane: its messages are checked one after another.
    private final class Lane: Sendable {
        let queue: DispatchQueue
        let queued = Atomic<Int>(0)
        init(_ peer: String, target: DispatchQueue) {
            queue = DispatchQueue(label: "entry-door.\(peer)", target: target)
        }
    }

    /// Terms whose leader key is remembered, at most (the newest are kept).
    static let maxKnownTerms = 256

    let checks: EntryChecks
    /// Raft messages from one peer waiting at the door; more are dropped (as lost).
    let maxQueuedPerPeer: Int
    private let lanes = Mutex<[String: Lane]>([:])
    private let leaders = Mutex<[UInt64: PublicKey]>([:])
    private let workers = DispatchQueue(label: "entry-door", qos: WorkPriority.path, attributes: .concurrent)

    init(checks: EntryChecks, maxQueuedPerPeer: Int) {
        self.checks = checks
        self.maxQueuedPerPeer = maxQueuedPerPeer
    }

    /// Checks `message` from the authenticated `sender` (whose key is `senderKey`) in its lane,
    /// then calls `admit` or `refuse`; false when the lane is full (the message is dropped).
    func submit(_ message: Message, senderKey: PublicKey, admit: @escaping @Sendable (Message) -> Void,
                refuse: @escaping @Sendable (Refusal, String) -> Void) -> Bool {
        let lane = lanes.withLock { l -> Lane in
            if let lane = l[message.from] { return lane }
            let lane = Lane(message.from, target: workers)
            l[message.from] = lane
            return lane
        }
        guard lane.queued.add(1, ordering: .relaxed).newValue <= maxQueuedPerPeer else {
            lane.queued.subtract(1, ordering: .relaxed)
            refuse(.doorQueueFull, "more than \(maxQueuedPerPeer) Raft messages from \(message.from) wait at the door")
            return false
        }
        lane.queue.async { [self] in
            defer { lane.queued.subtract(1, ordering: .relaxed) }
            if let (refusal, detail) = check(message, senderKey: senderKey) {
                refuse(refusal, detail)
            } else {
                admit(message)
            }
        }
        return true
    }

    /// Forgets a peer's lane (it disconnected); what is already queued still drains.
    func forget(peer: String) { _ = lanes.withLock { $0.removeValue(forKey: peer) } }

    /// Nil when the message may pass; else why not. Admitted entries' checks are started.
    func check(_ message: Message, senderKey: PublicKey) -> (Refusal, String)? {
        guard case .append(_, _, let entries, _) = message.kind, !entries.isEmpty else { return nil }
        let known = leaders.withLock { $0 }
        var learned: [UInt64: PublicKey] = [:]
        var blocks: [Block] = []
        blocks.reserveCapacity(entries.count)
        for e in entries {
            let leader = e.term == message.term ? senderKey : learned[e.term] ?? known[e.term]
            switch Self.inspect(e, leader: leader) {
            case .failure(let refused):
                return (refused.reason, "entry \(e.index) of term \(e.term) from \(message.from): \(refused.detail)")
            case .success(let block):
                learned[e.term] = block.header.proposer
                blocks.append(block)
            }
        }
        remember(learned)
        let started = zip(entries, blocks).map { (index: $0.index, term: $0.term, data: $0.data, block: $1) }
        // Entries of the message's own term were signed by the sender, its leader (checked above).
        checks.start(started.filter { $0.term == message.term }, leaderSigned: true)
        checks.start(started.filter { $0.term != message.term })
        return nil
    }

    /// One entry against the rules; `leader`: the key that must have signed it, when known.
    static func inspect(_ e: Entry, leader: PublicKey?) -> Result<Block, RefusedEntry> {
        let block: Block
        do { block = try Block.decode(e.data) } catch { return .failure(RefusedEntry(.undecodableEntry, "\(error)")) }
        let h = block.header
        guard h.height == e.index, h.term == e.term else {
            return .failure(RefusedEntry(.entryMismatch, "the block says height \(h.height) term \(h.term)"))
        }
        guard e.confChange == block.membership?.confChange else {
            return .failure(RefusedEntry(.entryMismatch, "the entry's membership change is not the block's"))
        }
        do { try block.checkStructure() } catch { return .failure(RefusedEntry(.malformedEntry, "\(error)")) }
        guard block.verifyProposerSignature() else { return .failure(RefusedEntry(.badEntrySignature, "bad proposer signature")) }
        if let leader, h.proposer != leader {
            return .failure(RefusedEntry(.wrongSigner, "signed by \(h.proposer.hex.prefix(16)), the leader of term \(e.term) "
                                         + "is \(leader.hex.prefix(16))"))
        }
        return .success(block)
    }

    /// Keeps the first key seen for each term (the term-start block's signer), newest terms only.
    private func remember(_ learned: [UInt64: PublicKey]) {
        leaders.withLock { known in
            for (term, key) in learned where known[term] == nil { known[term] = key }
            guard known.count > Self.maxKnownTerms else { return }
            let keep = Set(known.keys.sorted().suffix(Self.maxKnownTerms))
            known = known.filter { keep.contains($0.key) }
        }
    }
}

/// An entry the door refused: the metric reason and a human detail.
struct RefusedEntry: Error, Sendable {
    let reason: EntryDoor.Refusal
    let detail: String
    init(_ reason: EntryDoor.Refusal, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }
}
