/// How often the `bench` and `load` clients look again while they wait, and how long their own
/// calls may take. None is a timeout the node depends on: each only sets how promptly a client
/// thread notices a change it polls for, against the load its polling adds to the node it measures.
enum BenchPolls {
    /// A funding transfer's status (5 ms: funding is on the critical path of a run's start).
    static let commitStatusPollUs: UInt32 = 5_000
    /// The tracker's "all committed" or the chain head, while the run's transfers commit (2 ms:
    /// a block is cut every 10 ms by default, so a commit is seen within a fifth of a block).
    static let commitPollUs: UInt32 = 2_000
    /// A new block to read for commits (20 ms: about one block interval).
    static let blockPollUs: UInt32 = 20_000
    /// Before offering refused transfers again (50 ms: the node's queues drain in that time).
    static let refusedRetryDelayUs: UInt32 = 50_000
    /// A sender whose window is full looks again (1 ms: room appears as blocks commit).
    static let windowPollUs: UInt32 = 1_000
    /// A `load` sender with nothing due yet (5 ms: the schedule's resolution).
    static let nothingDuePollUs: UInt32 = 5_000
    /// Before a `load` sender opens a failed connection again (100 ms: a restarting node).
    static let reconnectDelayUs: UInt32 = 100_000
    /// A `load` batch's `POST /submit-txs` (30 s: far beyond a batch's admission on a live node).
    static let submitBatchTimeout: Duration = .seconds(30)
    /// `load` funding its accounts waits this long for the funding transfers to commit (120 s).
    static let fundCommitTimeoutS = 120
}
