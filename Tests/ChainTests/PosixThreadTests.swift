import Dispatch
import Foundation
import Testing
@testable import Chain

@Suite struct PosixThreadTests {
    /// The calling thread's name as the kernel keeps it.
    static func currentName() -> String {
        ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .newlines)
    }

    final class Seen: @unchecked Sendable {
        var name = ""
        var onCallerThread = true
    }

    @Test func start_runsTheBodyOnANewThreadNamedAsAsked() {
        let seen = Seen()
        let done = DispatchSemaphore(value: 0)
        let caller = pthread_self()
        #expect(PosixThread.start(name: "registry-decide") {
            seen.name = Self.currentName()
            seen.onCallerThread = pthread_equal(caller, pthread_self()) != 0
            done.signal()
        })
        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(seen.name == "registry-decide")
        #expect(!seen.onCallerThread)
    }

    @Test func start_cutsALongNameToTheKernelsFifteenBytes() {
        let seen = Seen()
        let done = DispatchSemaphore(value: 0)
        PosixThread.start(name: "swarm-provider-poll") { seen.name = Self.currentName(); done.signal() }
        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(seen.name == "swarm-provider-")
    }

    @Test func sleep_waitsAtLeastTheTimeAsked() {
        let start = DispatchTime.now().uptimeNanoseconds
        PosixThread.sleep(seconds: 0.05)
        #expect(DispatchTime.now().uptimeNanoseconds - start >= 50_000_000)
    }
}
