import Chain
import Consensus
import NodeCore

/// A durable write the disk refused (full, or a write error): the core's `persist`, kept to be
/// retried exactly as it was; the core's `persisted`/`applied` wait for it.
struct StalledWrite {
    let batch: StoreBatch
    var backoff: WriteRetryBackoff
}

// A full disk degrades the node instead of stopping it: the write that failed is kept and tried
// again with backoff, exactly as it was, and nothing after it happens until it succeeds. A
// follower therefore never acknowledges an append it could not store, and a leader's own copy
// (which it counts towards the quorum) is never acted on before it is stored: the commit, the
// blocks and the messages of that round all wait. Raft sees the node as silent meanwhile.
extension RuntimeLoop {
    /// Makes `batch` durable, then performs what the core does once it is; on a refused write the
    /// node degrades and keeps the write for `retryStalledWrite`. Any other failure halts.
    mutating func write(_ batch: StoreBatch, _ runtime: NodeRuntime) {
        do {
            try store.persist(batch)
        } catch let e as SQLiteError where e.isRetryableStorageFault {
            stalled = StalledWrite(batch: batch, backoff: WriteRetryBackoff(failedAtNs: monotonicNs()))
            writeFailed(e, runtime)
            return
        } catch {
            haltLoudly("cannot persist: \(error)")
        }
        finishWrite(runtime)
    }

    /// Tries the stalled write again when its backoff has passed.
    mutating func retryStalledWrite(_ runtime: NodeRuntime, now: UInt64) {
        guard var s = stalled, now >= s.backoff.nextAttemptNs else { return }
        do {
            try store.persist(s.batch)
        } catch let e as SQLiteError where e.isRetryableStorageFault {
            s.backoff.failedAgain(atNs: now)
            stalled = s
            writeFailed(e, runtime)
            return
        } catch {
            haltLoudly("cannot persist: \(error)")
        }
        stalled = nil
        runtime.storage.recover()
        runtime.metrics.storageDegraded.set(0)
        log.info("storage writable again; the node resumes", ["attempts": s.backoff.attempts + 1])
        finishWrite(runtime)
        publishStatus(runtime)
    }

    /// The write is durable: the rest of the round (messages, published blocks), then the core advances.
    private mutating func finishWrite(_ runtime: NodeRuntime) {
        perform(core.persisted(now: Self.now()), runtime)
        perform(core.applied(now: Self.now()), runtime)
    }

    private func writeFailed(_ error: SQLiteError, _ runtime: NodeRuntime) {
        runtime.metrics.storageWriteFailures.inc(1, error.codeName)
        if runtime.storage.degrade(error) {
            runtime.metrics.storageDegraded.set(1)
            log.error("storage refused a write: the node is degraded (read-only) and retries until it succeeds; free disk space",
                      ["code": error.codeName, "error": error.message, "database": store.path])
        }
    }

    /// While degraded: peer messages are dropped (Raft treats that as loss), operator requests
    /// are refused, block sync only buffers.
    mutating func handleWhileStalled(_ event: RuntimeEvent, _ runtime: NodeRuntime) {
        switch event {
        case .raft, .join, .peerLinkClosed, .peerLinkOpened:
            return  // frozen: a stalled node neither votes nor campaigns
        case .membership(_, let reply):
            reply(.refused(.because("this node's storage refuses writes (\(runtime.storage.fault?.reason ?? "degraded")); try another node")))
        case .transferLeadership(_, let done):
            done(false)
        case .blocks, .peerHeight, .joinAnswered:
            handle(event, runtime)
        }
    }

    func haltLoudly(_ reason: String) -> Never {
        log.error("HALT: consensus state cannot be trusted; stopping the node", ["reason": reason])
        fatalError("autochain runtime halted: \(reason)")
    }
}
