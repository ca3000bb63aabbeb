/// How long a provider lets a node stop on its own before it is killed: the process provider's
/// SIGTERM-to-SIGKILL wait, the Docker provider's `docker stop -t`, the Swarm provider's
/// `StopGracePeriod` (`[registry] node_stop_grace_s`). A stopping leader hands leadership over
/// (up to `[consensus] stop_transfer_wait_ms`, 3 s) and then the transfers it accepted and did
/// not commit (up to 5 s): the grace must cover both, or the node is killed mid-hand-over.
public enum NodeStopGrace {
    /// 15 s: the node's worst-case stop (8 s with the node's defaults) with a margin for closing
    /// its listeners and storage on a loaded host; docker-compose.yml gives its nodes the same
    /// (`stop_grace_period: 15s`).
    public static let defaultS = 15
    /// 1 s to an hour: a node always gets a moment, and a stop never hangs a registry for longer.
    public static let rangeS = 1...3_600
    /// After the grace a node is killed; its provider waits this much longer for the kill to be
    /// reaped (2 s: SIGKILL needs no cooperation, only the kernel's and the engine's bookkeeping).
    public static let killMarginS = 2
    /// How much longer than the grace a provider waits for the engine's answer to a stop, or for a
    /// service's task to be seen gone (10 s: the engine kills after the grace, then tears the
    /// container down and answers; Swarm's task state reaches its manager a few polls later).
    public static let engineStopMarginS = 10
}
