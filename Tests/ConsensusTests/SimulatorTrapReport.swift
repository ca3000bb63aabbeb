// Names the seed when a core precondition traps mid-run: the process dies before the test can
// record an issue, so a signal handler prints the replay command instead.
import Foundation

enum SimulatorTrapReport {
    /// Per chunk: the seed it runs (`noSeed` when idle) and the thread running it. Written by the
    /// test, read by the handler.
    nonisolated(unsafe) static let seeds: UnsafeMutablePointer<UInt64> = {
        let slots = UnsafeMutablePointer<UInt64>.allocate(capacity: SimulatorRun.chunkCount)
        slots.initialize(repeating: noSeed, count: SimulatorRun.chunkCount)
        return slots
    }()
    nonisolated(unsafe) static let threads: UnsafeMutablePointer<pthread_t> = {
        let slots = UnsafeMutablePointer<pthread_t>.allocate(capacity: SimulatorRun.chunkCount)
        slots.initialize(repeating: pthread_self(), count: SimulatorRun.chunkCount)
        return slots
    }()
    static let noSeed = UInt64.max
    static let before = Array("\nsimulator trapped; replay: SIM_SEED=".utf8)
    static let unsure = Array("\nsimulator trapped on another thread; one of these replays it: SIM_SEED=".utf8)
    static let after = Array(" swift test --filter \(SimulatorRun.testID)\n".utf8)
    nonisolated(unsafe) static var installed = false

    static func running(_ seed: UInt64?, chunk: Int) {
        precondition(chunk >= 0 && chunk < SimulatorRun.chunkCount)
        threads[chunk] = pthread_self()
        seeds[chunk] = seed ?? noSeed
    }

    /// Two chunks racing here both install the same handler, which is harmless.
    static func install() {
        guard !installed else { return }
        _ = (seeds, threads, before, unsure, after)  // initialise the lazy globals outside the handler
        installed = true
        for sig in [SIGILL, SIGTRAP, SIGABRT] { signal(sig, simulatorTrapHandler) }
    }
}

/// Async-signal-safe: no allocation, only pthread_self and write(2), then the default action
/// when the trapping instruction runs again.
private func simulatorTrapHandler(_ sig: Int32) {
    let report = SimulatorTrapReport.self
    let chunks = 0..<SimulatorRun.chunkCount
    let mine = chunks.first { report.seeds[$0] != report.noSeed && pthread_equal(report.threads[$0], pthread_self()) != 0 }
    for chunk in chunks where report.seeds[chunk] != report.noSeed && (mine == nil || mine == chunk) {
        writeReplay(seed: report.seeds[chunk], prefix: mine == nil ? report.unsure : report.before)
    }
    signal(sig, SIG_DFL)
}

private func writeReplay(seed: UInt64, prefix: [UInt8]) {
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
        SimulatorTrapReport.after.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }
}
