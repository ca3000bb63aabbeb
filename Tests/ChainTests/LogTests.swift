import Synchronization
import Testing
@testable import Chain

/// A sink that keeps every line, for assertions.
final class CollectedLines: Sendable {
    private let lines = Mutex<[String]>([])
    var sink: LogSink { LogSink { bytes in self.lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } } }
    var all: [String] { lines.withLock { $0 } }
}

private func line(_ message: String, _ fields: KeyValuePairs<String, any Sendable> = [:], level: LogLevel = .info) -> String {
    String(decoding: LogLine.format(unixMillis: 1_795_322_835_123, level: level, component: "store",
                                    message: message, fields: fields), as: UTF8.self)
}

@Test func logLine_matchesTheLogfmtShape() {
    #expect(line("block committed", ["height": 5, "txs": 2000])
        == "ts=2026-11-22T04:47:15.123Z level=info component=store msg=\"block committed\" height=5 txs=2000\n")
}

@Test func logLine_leavesPlainValuesUnquoted() {
    #expect(line("ok", ["peer": "10.0.0.1:6000", "ratio": 0.5, "leader": true]).hasSuffix(
        "msg=ok peer=10.0.0.1:6000 ratio=0.5 leader=true\n"))
}

@Test func logLine_quotesEmptySpacesEqualsAndQuotes() {
    #expect(line("m", ["a": "", "b": "x y", "c": "k=v", "d": "say \"hi\""]).hasSuffix(
        ##"a="" b="x y" c="k=v" d="say \"hi\"""## + "\n"))
}

@Test func logLine_escapesControlCharactersAndBackslashesInsideQuotes() {
    #expect(line("m", ["e": "line1\nline2\t\\ \u{1}"]).hasSuffix(#"e="line1\nline2\t\\ \u0001""# + "\n"))
}

@Test func logLine_leavesNonASCIIUnquoted() {
    #expect(line("m", ["who": "zoë"]).hasSuffix("who=zoë\n"))
}

@Test func logLine_cutsOverlongValues() {
    let text = line("m", ["blob": String(repeating: "é", count: 10_000)])
    #expect(text.utf8.count < LogLine.valueBytesMax + 200)
    #expect(text.hasSuffix("…\n"))
}

@Test func timestamp_formatsUTCWithMilliseconds() {
    #expect(LogLine.timestamp(unixMillis: 0) == "1970-01-01T00:00:00.000Z")
    #expect(LogLine.timestamp(unixMillis: 951_782_400_007) == "2000-02-29T00:00:00.007Z")
    #expect(LogLine.timestamp(unixMillis: -1) == "1969-12-31T23:59:59.999Z")
    #expect(LogLine.timestamp(unixMillis: 4_102_444_799_999) == "2099-12-31T23:59:59.999Z")
}

@Test func logger_dropsEventsBelowItsLevelWithoutFormatting() {
    let lines = CollectedLines()
    let log = Logger(component: "p2p", sink: lines.sink, level: .warn)
    var evaluated = false
    log.info({ evaluated = true; return "hidden" }())
    log.debug("hidden too")
    log.warn("shown", ["peer": 3])
    log.error("also shown")
    #expect(!evaluated)
    #expect(lines.all.count == 2)
    #expect(lines.all[0].contains("level=warn component=p2p msg=shown peer=3"))
    #expect(lines.all[1].contains("level=error"))
}

@Test func logger_writesOneLinePerEvent() {
    let lines = CollectedLines()
    let log = Logger(component: "api", sink: lines.sink, level: .debug)
    log.debug("multi\nline message")
    #expect(lines.all.count == 1)
    #expect(lines.all[0].filter { $0 == "\n" }.count == 1)
}

@Test func logLevel_parsesNamesInAnyCase() throws {
    #expect(try LogLevel(parsing: "DEBUG") == .debug)
    #expect(try LogLevel(parsing: "info") == .info)
    #expect(try LogLevel(parsing: "Warning") == .warn)
    #expect(try LogLevel(parsing: "error") == .error)
}

@Test func logLevel_rejectsUnknownNamesClearly() {
    #expect(throws: LogLevelError(text: "loud")) { try LogLevel(parsing: "loud") }
    #expect("\(LogLevelError(text: "loud"))" == "unknown log level 'loud' (expected debug, info, warn or error)")
}

@Test func logger_followsTheProcessWideLevelWithoutAnOverride() {
    let lines = CollectedLines()
    let log = Logger(component: "node", sink: lines.sink)
    let saved = Logger.level
    defer { Logger.level = saved }
    Logger.level = .error
    log.warn("hidden")
    Logger.level = .debug
    log.debug("shown")
    #expect(lines.all.count == 1)
}
