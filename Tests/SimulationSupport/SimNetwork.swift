// The simulated network shared by the simulators: messages wait for their delivery step, may be
// dropped, duplicated or delayed (so reordered), and partitions split nodes into groups.
@testable import Consensus

/// Odds of the network, per message, in parts per thousand; delays in steps.
struct NetworkOdds {
    var dropPerMille: UInt64 = 50
    var duplicatePerMille: UInt64 = 30
    var maxDelayTicks: UInt64 = 3
    /// Messages in flight at once; beyond it new ones are lost (a full socket buffer).
    var maxMessagesInFlight = 20_000
}

struct SimNetwork {
    var odds: NetworkOdds
    private(set) var inFlight: [(deliverAt: UInt64, message: Message)] = []
    /// Nodes talk only within the same group; a node without a group is in group 0.
    var group: [NodeID: Int] = [:]

    init(odds: NetworkOdds) { self.odds = odds }

    func canTalk(_ from: NodeID, _ to: NodeID) -> Bool {
        group[from, default: 0] == group[to, default: 0]
    }

    /// Puts `message` on the wire (or loses it), drawing every chance from `rng`.
    mutating func send(_ message: Message, now: UInt64, rng: inout SplitMix64) {
        guard inFlight.count < odds.maxMessagesInFlight, rng.next() % 1000 >= odds.dropPerMille else { return }
        let copies = rng.next() % 1000 < odds.duplicatePerMille ? 2 : 1
        for _ in 0..<copies {
            inFlight.append((now + rng.next() % (odds.maxDelayTicks + 1), message))
        }
        assert(inFlight.count <= odds.maxMessagesInFlight + 1)
    }

    /// A node's process died and its links closed: what it sent and is still on the wire is lost
    /// (on TCP it would have arrived before the close, or never).
    mutating func dropSent(by node: NodeID) {
        inFlight.removeAll { $0.message.from == node }
    }

    /// The messages due at `now`, in a seeded random order; they leave the wire.
    mutating func takeDue(now: UInt64, rng: inout SplitMix64) -> [Message] {
        let due = inFlight.filter { $0.deliverAt <= now }.map(\.message)
        guard !due.isEmpty else { return [] }
        inFlight.removeAll { $0.deliverAt <= now }
        return due.shuffled(using: &rng)
    }
}
