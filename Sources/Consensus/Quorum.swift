// Quorum math: pure functions over voter sets, tested against naive versions.

/// Majority arithmetic for a single voter set (no joint consensus: changes are single-step).
public enum Quorum {
    /// Votes needed out of `voterCount`.
    public static func size(voterCount: Int) -> Int {
        precondition(voterCount >= 0)
        let size = voterCount / 2 + 1
        assert(size * 2 > voterCount)
        return size
    }

    /// The highest index stored on a majority, given each voter's match index.
    /// Zero for an empty voter set (nothing can commit without voters).
    public static func committedIndex(matches: [UInt64]) -> UInt64 {
        guard !matches.isEmpty else { return 0 }
        let sorted = matches.sorted(by: >)
        let index = sorted[size(voterCount: matches.count) - 1]
        assert(sorted.filter { $0 >= index }.count >= size(voterCount: matches.count))
        return index
    }

    /// The outcome of an election so far.
    public enum VoteResult: Sendable, Equatable { case won, lost, pending }

    /// `granted`/`rejected` hold the answers received from voters (others are ignored).
    public static func voteResult(voters: Set<NodeID>, granted: Set<NodeID>, rejected: Set<NodeID>) -> VoteResult {
        precondition(granted.isDisjoint(with: rejected), "a voter answers once")
        let need = size(voterCount: voters.count)
        let yes = granted.intersection(voters).count
        let no = rejected.intersection(voters).count
        assert(yes + no <= voters.count)
        if yes >= need { return .won }
        if voters.count - no < need { return .lost }
        return .pending
    }
}
