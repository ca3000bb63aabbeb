import Foundation
import Synchronization
import Testing
@testable import P2P

/// Waits (bounded) until `condition` holds.
func waitUntil(_ timeout: Duration = .seconds(20), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now >= deadline { return false }
        usleep(2_000)
    }
    return true
}

@Suite("EventLoop")
struct EventLoopTests {
    @Test func execute_runsWorkOnTheLoopThreadInOrder() throws {
        let loop = try EventLoop(name: "test")
        loop.start()
        defer { loop.shutdown() }
        let seen = Mutex<[Int]>([])
        for i in 0..<100 {
            loop.execute {
                precondition(loop.inEventLoop)
                seen.withLock { $0.append(i) }
            }
        }
        #expect(!loop.inEventLoop)
        #expect(waitUntil { seen.withLock { $0.count } == 100 })
        #expect(seen.withLock { $0 } == Array(0..<100))
    }

    @Test func scheduledTimers_fireInDeadlineOrderAndCancelledOnesDoNot() throws {
        let loop = try EventLoop(name: "timers")
        loop.start()
        defer { loop.shutdown() }
        let fired = Mutex<[String]>([])
        loop.schedule(after: .milliseconds(60)) { fired.withLock { $0.append("late") } }
        loop.schedule(after: .milliseconds(20)) { fired.withLock { $0.append("early") } }
        let cancelled = loop.schedule(after: .milliseconds(30)) { fired.withLock { $0.append("cancelled") } }
        cancelled.cancel()
        #expect(waitUntil { fired.withLock { $0.count } == 2 })
        usleep(50_000)
        #expect(fired.withLock { $0 } == ["early", "late"])
    }

    @Test func shutdown_joinsTheThreadAndDropsLaterWork() throws {
        let loop = try EventLoop(name: "stop")
        loop.start()
        loop.shutdown()
        let ran = Atomic<Bool>(false)
        loop.execute { ran.store(true, ordering: .relaxed) }
        usleep(20_000)
        let didRun = ran.load(ordering: .relaxed)
        #expect(!didRun)
    }

    @Test func tcpConnection_connectsWritesAndReadsWithoutBlockingTheLoop() throws {
        // An echo of newline-delimited lines, as the peer protocol will use.
        let echo = HTTPServer(handler: { request, responder in responder.send(.text(request.bodyText + "\n")) })
        let address = try echo.start(bindTo: SocketAddress(parsing: "127.0.0.1:0"))
        defer { echo.stop() }
        let loop = try EventLoop(name: "client")
        loop.start()
        defer { loop.shutdown() }
        let received = Mutex<String>("")
        let closed = Atomic<Bool>(false)
        loop.execute {
            TCPConnection.connect(to: address, on: loop, timeout: .seconds(2)) { result in
                guard case .success(let connection) = result else { return }
                connection.onRead = { bytes in received.withLock { $0 += String(decoding: bytes, as: UTF8.self) } }
                connection.onClose = { _ in closed.store(true, ordering: .relaxed) }
                connection.write(Array("POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 9\r\n\r\n{\"a\":1}\r\n".utf8))
            }
        }
        #expect(waitUntil { closed.load(ordering: .relaxed) })
        #expect(received.withLock { $0 }.hasSuffix("{\"a\":1}\r\n\n"))
    }

    @Test func tcpConnection_reportsARefusedConnect() throws {
        let (fd, bound) = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0"))
        _ = Glibc.close(fd)
        let loop = try EventLoop(name: "refused")
        loop.start()
        defer { loop.shutdown() }
        let outcome = Mutex<SocketError?>(nil)
        loop.execute {
            TCPConnection.connect(to: bound, on: loop, timeout: .seconds(2)) { result in
                if case .failure(let error) = result { outcome.withLock { $0 = error } }
            }
        }
        #expect(waitUntil { outcome.withLock { $0 } != nil })
        #expect(outcome.withLock { $0 } == .connectionRefused(bound.description))
    }
}

import Glibc
