// A faulty member in the cluster simulator: it sends the real cores what a broken or malicious
// node could (absurd and malformed messages, junk and conflicting entries, a second leadership
// claim for a term, replays, floods, messages that speak for someone else) and the simulator
// checks that the honest nodes stay safe and keep making progress. See docs/SECURITY.md,
// "Consensus threat model", for the fault classes and why these are the ones the core defends.
import Chain
@testable import Consensus
@testable import NodeCore
@testable import SimulationSupport

/// Which kind of member the faulty node is in one seed.
enum HostileRole: CaseIterable {
    /// Never a member: everything it says is refused (the runtime admits it join-only).
    case stranger
    /// A learner for the whole run: it may not campaign, vote, lead or raise a term, so it may
    /// say anything and change nothing.
    case learner
    /// A voter running an honest core, that also sends every lie the core can refuse (it does
    /// not vote twice, lie about its log or its acknowledgements, or claim a term nobody leads
    /// yet: those are the undefended faults of a crash-tolerant protocol).
    case voter
}

/// The faulty node's attacks; it sees every honest core (the worst case) and sends through
/// `SimLink`, which lets through only what speaks for the faulty node itself.
struct SimHostile {
    let id: NodeID
    let role: HostileRole
    let perMille: UInt64
    let maxBurst: UInt64
    /// Messages it sent or received, for replays; bounded.
    private(set) var heard: [Message] = []
    static let maxHeard = 512
    var attacksSent = 0

    init(id: NodeID, role: HostileRole, rng: inout SplitMix64) {
        self.id = id
        self.role = role
        perMille = 200 + rng.next() % 800
        maxBurst = 1 + rng.next() % 64  // some seeds flood
    }

    mutating func overhear(_ message: Message) {
        if heard.count >= Self.maxHeard { heard.removeFirst(heard.count / 2) }
        heard.append(message)
    }

    /// This tick's attack on the honest cores, as messages to put on the wire.
    mutating func attack(_ targets: [RuntimeSimNode], mine: RuntimeSimNode?, rng: inout SplitMix64) -> [Message] {
        guard !targets.isEmpty, rng.next() % 1000 < perMille else { return [] }
        var out: [Message] = []
        for _ in 0..<(1 + rng.next() % maxBurst) {
            let target = targets[Int(rng.next() % UInt64(targets.count))]
            if let message = craft(against: target, mine: mine, rng: &rng) { out.append(message) }
        }
        attacksSent += out.count
        return out
    }

    private func craft(against target: RuntimeSimNode, mine: RuntimeSimNode?, rng: inout SplitMix64) -> Message? {
        let core = target.core.raft
        let to = target.id
        let term = core.term
        let last = core.log.lastIndex
        let lastTerm = core.log.lastTerm
        func message(_ t: UInt64, _ kind: Message.Kind, from: NodeID? = nil) -> Message {
            Message(from: from ?? id, to: to, term: t, kind: kind)
        }
        switch rng.next() % 9 {
        case 0:  // an absurd term on any kind of message
            let huge = [UInt64.max, UInt64.max - 1, Message.maxTermOrIndex + 1, Message.maxTermOrIndex + 1 + rng.next() % 1000]
            return message(huge[Int(rng.next() % 4)], anyKind(last: last, term: term, rng: &rng))
        case 1:  // absurd indexes and commits in the target's term
            let huge = UInt64.max - rng.next() % 3
            let kinds: [Message.Kind] = [
                .append(prevIndex: huge, prevTerm: lastTerm, entries: [], commit: 0),
                .append(prevIndex: last, prevTerm: lastTerm, entries: [], commit: huge),
                .heartbeat(commit: huge),
                .vote(lastIndex: huge, lastTerm: 0, transfer: true),
                .appendResponse(reject: rng.next() % 2 == 0, index: huge, rejectHint: huge, hintTerm: UInt64.max),
                .append(prevIndex: Message.maxTermOrIndex, prevTerm: lastTerm,
                        entries: [Entry(index: Message.maxTermOrIndex &+ 1, term: term)], commit: 0),
            ]
            return message(term, kinds[Int(rng.next() % UInt64(kinds.count))])
        case 2:  // a malformed append, perhaps from a higher term
            return message(term + rng.next() % 3, .append(prevIndex: last, prevTerm: lastTerm,
                                                         entries: malformedEntries(after: last, term: term, rng: &rng),
                                                         commit: last + 2))
        case 3, 4:  // a second leader for a term the target already has one for
            guard let known = core.acceptedLeader, known != id else { return role == .voter ? nil : forgedClaim(target, rng: &rng) }
            let junk = (0..<(1 + rng.next() % 3)).map { Entry(index: last + 1 + $0, term: term, data: junkData(&rng)) }
            return rng.next() % 4 == 0
                ? message(term, .heartbeat(commit: last))
                : message(term, .append(prevIndex: last, prevTerm: lastTerm, entries: junk, commit: last + UInt64(junk.count)))
        case 5:  // as the leader of its term, entries that rewrite the target's committed ones
            return conflictingAppend(against: target, mine: mine, rng: &rng)
        case 6:  // a replay, unchanged, of something it sent or heard (what speaks for others, the link cuts)
            guard !heard.isEmpty else { return nil }
            return heard[Int(rng.next() % UInt64(heard.count))]
        case 7:  // speaking for another node: the link cuts it
            return message(term + 1, .timeoutNow, from: core.leader ?? "n0")
        default:  // forged claims a non-voter might make; from a voter these would be undefended
            return role == .voter ? nil : forgedClaim(target, rng: &rng)
        }
    }

    /// Votes, leadership and term raises with plausible values: refused only because the
    /// sender is not a voter.
    private func forgedClaim(_ target: RuntimeSimNode, rng: inout SplitMix64) -> Message {
        let term = target.core.raft.term + 1 + rng.next() % 3
        let last = target.core.raft.log.lastIndex
        let kinds: [Message.Kind] = [
            .preVote(lastIndex: last + 100, lastTerm: term - 1), .vote(lastIndex: last + 100, lastTerm: term - 1, transfer: true),
            .append(prevIndex: last, prevTerm: target.core.raft.log.lastTerm, entries: [Entry(index: last + 1, term: term, data: [7])],
                    commit: last + 1),
            .heartbeat(commit: last), .timeoutNow, .voteResponse(reject: false), .preVoteResponse(reject: true),
            .appendResponse(reject: true, index: 0, rejectHint: 0, hintTerm: 0),
        ]
        return Message(from: id, to: target.id, term: term, kind: kinds[Int(rng.next() % UInt64(kinds.count))])
    }

    /// Only when the faulty node really leads the target's term (its honest core won it).
    private func conflictingAppend(against target: RuntimeSimNode, mine: RuntimeSimNode?, rng: inout SplitMix64) -> Message? {
        let core = target.core.raft
        guard let mine, mine.core.raft.state == .leader, mine.core.raft.term == core.term, core.acceptedLeader == id else { return nil }
        let commit = core.log.committed
        guard commit >= 1 else { return nil }
        let at = 1 + rng.next() % commit  // an index at or below the target's commit
        guard let termThere = core.log.term(at: at), termThere < core.term, let prevTerm = core.log.term(at: at - 1) else {
            // Same term there: claim a different previous entry instead.
            return Message(from: id, to: target.id, term: core.term,
                           kind: .append(prevIndex: commit, prevTerm: core.term, entries: [], commit: commit))
        }
        let entries = [Entry(index: at, term: core.term, data: junkData(&rng))]
        return Message(from: id, to: target.id, term: core.term,
                       kind: .append(prevIndex: at - 1, prevTerm: prevTerm, entries: entries, commit: at))
    }

    private func malformedEntries(after last: UInt64, term: UInt64, rng: inout SplitMix64) -> [Entry] {
        switch rng.next() % 4 {
        case 0: return [Entry(index: last + 2, term: term)]
        case 1: return [Entry(index: last + 1, term: 0)]
        case 2: return [Entry(index: last + 1, term: term + 5)]
        default: return [Entry(index: last + 1, term: term), Entry(index: last + 2, term: max(term, 1) - 1)]
        }
    }

    private func anyKind(last: UInt64, term: UInt64, rng: inout SplitMix64) -> Message.Kind {
        let kinds: [Message.Kind] = [
            .preVote(lastIndex: last, lastTerm: term), .vote(lastIndex: last, lastTerm: term, transfer: true),
            .append(prevIndex: last, prevTerm: term, entries: [], commit: last), .heartbeat(commit: last),
            .timeoutNow, .voteResponse(reject: false), .preVoteResponse(reject: false), .heartbeatResponse,
            .appendResponse(reject: false, index: last, rejectHint: 0, hintTerm: 0),
        ]
        return kinds[Int(rng.next() % UInt64(kinds.count))]
    }

    private func junkData(_ rng: inout SplitMix64) -> [UInt8] {
        (0..<(1 + rng.next() % 16)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }
}

/// The peer link's rule (PeerHost+Handshake.swift): a Raft message is carried only on the link
/// whose authenticated identity is its sender, to the node at the other end. The faulty node
/// owns one link per peer, so this is what it cannot get past.
enum SimLink {
    static func carries(_ message: Message, linkIdentity: NodeID) -> Bool {
        message.from == linkIdentity && message.to != linkIdentity
    }
}
