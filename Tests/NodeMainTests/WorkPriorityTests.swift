import Chain
import Dispatch
import Glibc
import Synchronization
import Testing
@testable import NodeMain

/// The commit path outranks bulk work for a core (`WorkPriority`): a queue at the bulk QoS runs
/// its blocks at a higher nice value than a thread of our own, such as the runtime thread.
@Suite struct WorkPriorityTests {
    /// The nice value `body` sees on its thread, read there.
    static func nice(on start: (@escaping @Sendable () -> Void) -> Void) -> Int32? {
        let seen = Mutex<Int32?>(nil)
        let done = DispatchSemaphore(value: 0)
        start {
            seen.withLock { $0 = PosixThread.currentNice }
            done.signal()
        }
        guard done.wait(timeout: .now() + 30) == .success else { return nil }
        return seen.withLock { $0 }
    }

    @Test func bulkWork_runsBelowTheThreadsOfTheCommitPath() throws {
        let own = try #require(Self.nice { body in PosixThread.start(name: "runtime") { body() } })
        let queue = DispatchQueue(label: "bulk-test", qos: WorkPriority.bulk, attributes: .concurrent)
        let bulk = try #require(Self.nice { body in queue.async { body() } })
        #expect(bulk > own, "bulk work at nice \(bulk), a thread of our own at nice \(own)")
    }

    @Test func currentNice_readsTheCallingThreadOnly() throws {
        let before = try #require(PosixThread.currentNice)
        let lowered = Self.nice { body in
            PosixThread.start(name: "nice-test") {
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, min(19, before + 3))
                body()
            }
        }
        #expect(lowered == min(19, before + 3))
        #expect(PosixThread.currentNice == before)
    }
}
