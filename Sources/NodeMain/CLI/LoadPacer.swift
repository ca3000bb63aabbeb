/// How many transfers `autochain load` sends now: what the schedule has made due minus what was
/// already issued. The backlog is bounded: when the generator falls behind (every account's window
/// full, a slow node), transfers overdue by more than `maxBacklog` are dropped and counted as
/// missed, so a slow second shows as "sent < target" instead of a burst sent late.
struct LoadPacer: Sendable {
    private(set) var issued = 0
    private(set) var missed = 0

    /// Claims up to `atMost` of the transfers due by now (`due`, from `LoadSchedule.transfersDue`).
    mutating func claim(due: Int, atMost: Int, maxBacklog: Int) -> Int {
        let backlog = max(0, maxBacklog)
        if due - issued > backlog {
            missed += due - issued - backlog
            issued = due - backlog
        }
        let n = max(0, min(atMost, due - issued))
        issued += n
        assert(issued <= due || n == 0)
        return n
    }

    /// Gives back claimed transfers that could not be sent (no account had room): due again.
    mutating func giveBack(_ n: Int) {
        precondition(n >= 0 && n <= issued, "cannot give back more than was claimed")
        issued -= n
    }
}
