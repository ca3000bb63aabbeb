// Consensus: Raft-style leader/follower as a pure state machine.
