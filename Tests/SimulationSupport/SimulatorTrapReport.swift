// Names the seed when a core precondition traps mid-run: the process dies before the test can
// record an issue, so a signal handler prints the replay command instead.
import Foundation

enum SimulatorTrapReport {
    /// The seeded tests, each with `SeedPlan.chunkCount` slots from its `trapSlotBase`.
    static let plans = SimulatorPlans.all
    static let slotCount = plans.count * SeedPlan.chunkCount
    /// Per slot: the seed it runs (`noSeed` when idle) and the thread running it. Written by the
    /// test, read by the handler.
    nonisolated(unsafe) static let seeds: UnsafeMutablePointer<UInt64> = {
        let slots = UnsafeMutablePointer<UInt64>.allocate(capacity: slotCount)
        slots.initialize(repeating: noSeed, count: slotCount)
        return slots
    }()
    nonisolated(unsafe) static let threads: UnsafeMutablePointer<pthread_t> = {
        let slots = UnsafeMutablePointer<pthread_t>.allocate(capacity: slotCount)
        slots.initialize(repeating: pthread_self(), count: slotCount)
        return slots
    }()
    static let noSeed = UInt64.max
    static let before = Array("\nsimulator trapped; replay: SIM_SEED=".utf8)
    static let unsure = Array("\nsimulator trapped on another thread; one of these replays it: SIM_SEED=".utf8)
    /// Per slot: the rest of its replay command.
    static let afters: [[UInt8]] = (0..<slotCount).map { slot in
        let plan = plans.first { (($0.trapSlotBase)..<($0.trapSlotBase + SeedPlan.chunkCount)).contains(slot) }!
        return Array(" swift test --filter \(plan.testID)\n".utf8)
    }
    nonisolated(unsafe) static var installed = false

    static func running(_ seed: UInt64?, slot: Int) {
        precondition(slot >= 0 && slot < slotCount)
        threads[slot] = pthread_self()
        seeds[slot] = seed ?? noSeed
    }

    /// Two tests racing here both install the same handler, which is harmless.
    static func install() {
        guard !installed else { return }
        _ = (seeds, threads, before, unsure, afters)  // initialise the lazy globals outside the handler
        precondition(Set(plans.map(\.trapSlotBase)).count == plans.count, "plans share trap slots")
        installed = true
        for sig in [SIGILL, SIGTRAP, SIGABRT] { signal(sig, simulatorTrapHandler) }
    }
}

/// Async-signal-safe: no allocation, only pthread_self and write(2), then the default action
/// when the trapping instruction runs again.
private func simulatorTrapHandler(_ sig: Int32) {
    let report = SimulatorTrapReport.self
    let slots = 0..<SimulatorTrapReport.slotCount
    let mine = slots.first { report.seeds[$0] != report.noSeed && pthread_equal(report.threads[$0], pthread_self()) != 0 }
    for slot in slots where report.seeds[slot] != report.noSeed && (mine == nil || mine == slot) {
        writeReplay(seed: report.seeds[slot], prefix: mine == nil ? report.unsure : report.before, after: report.afters[slot])
    }
    signal(sig, SIG_DFL)
}

private func writeReplay(seed: UInt64, prefix: [UInt8], after: [UInt8]) {
    var rest = seed
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
    withUnsafeMutableBytes(of: &digits) { buffer in
        var start = buffer.count
        repeat {
            start -= 1
            buffer[start] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        } while rest > 0
        assert(start >= 0)
        prefix.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
        _ = write(2, buffer.baseAddress! + start, buffer.count - start)
        after.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }
}
