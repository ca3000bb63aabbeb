import Dispatch
import Synchronization
import Testing
@testable import NodeMain
@testable import P2P

@Suite("TurnGather") struct TurnGatherTests {
    /// Runs `work` on `loop`'s thread and waits for it (bounded).
    static func onLoop(_ loop: EventLoop, _ work: @escaping @Sendable () -> Void) -> Bool {
        let done = DispatchSemaphore(value: 0)
        loop.execute { work(); done.signal() }
        return done.wait(timeout: .now() + 10) == .success
    }

    @Test func itemsOfOneTurn_areFlushedOnce_inOrder_onTheLoop_afterTheTurn() throws {
        let loop = try EventLoop(name: "gather-test")
        loop.start()
        defer { loop.shutdown() }
        let gather = TurnGather<Int>()
        let flushed = Mutex<[[Int]]>([])
        let flushedOnLoop = Mutex<[Bool]>([])
        let allFlushed = DispatchSemaphore(value: 0)
        let flush: @Sendable ([Int]) -> Void = { items in
            flushed.withLock { $0.append(items) }
            flushedOnLoop.withLock { $0.append(loop.inEventLoop) }
            if items.last == 12 { allFlushed.signal() }
        }
        let duringTurn = Mutex<[[Int]]?>(nil)
        #expect(Self.onLoop(loop) {
            for i in 1...5 { gather.add(i, on: loop, flush: flush) }
            duringTurn.withLock { $0 = flushed.withLock { $0 } }  // nothing flushed inside add
        })
        let unused: @Sendable ([Int]) -> Void = { _ in Issue.record("only the first item's flush is used") }
        #expect(Self.onLoop(loop) {
            gather.add(10, on: loop, flush: flush)
            gather.add(11, on: loop, flush: unused)
            gather.add(12, on: loop, flush: unused)
        })
        #expect(allFlushed.wait(timeout: .now() + 10) == .success)
        #expect(duringTurn.withLock { $0 } == [])
        #expect(flushed.withLock { $0 } == [[1, 2, 3, 4, 5], [10, 11, 12]])
        #expect(flushedOnLoop.withLock { $0 } == [true, true])
    }
}
