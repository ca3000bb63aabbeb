#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// How much to log. Ordered: a logger emits events at or above the process-wide level.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case debug, info, warn, error

    /// Reads "debug", "info", "warn" (or "warning") and "error", in any case.
    public init(parsing text: String) throws(LogLevelError) {
        switch text.lowercased() {
        case "debug": self = .debug
        case "info": self = .info
        case "warn", "warning": self = .warn
        case "error": self = .error
        default: throw LogLevelError(text: text)
        }
    }

    public var description: String {
        switch self {
        case .debug: "debug"
        case .info: "info"
        case .warn: "warn"
        case .error: "error"
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A log level name that is not one of debug, info, warn, error.
public struct LogLevelError: Error, Sendable, Equatable, CustomStringConvertible {
    public let text: String
    public var description: String { "unknown log level '\(text)' (expected debug, info, warn or error)" }
}

/// Where finished log lines go. Each call receives one whole line, newline included.
public struct LogSink: Sendable {
    private let emit: @Sendable ([UInt8]) -> Void

    public init(_ emit: @escaping @Sendable ([UInt8]) -> Void) { self.emit = emit }

    func write(_ line: [UInt8]) { emit(line) }

    /// Standard error, one `write(2)` per line under a process-wide lock, so lines from
    /// different threads never interleave.
    public static let standardError = LogSink { line in
        // A failed write is dropped: there is nowhere left to report a failure to write the log.
        standardErrorLock.withLock { _ in line.withUnsafeBytes { _ = FileDescriptor.writeAll(StandardStream.error.rawValue, $0) } }
    }
}

private let standardErrorLock = Mutex<Void>(())

/// A structured logger for one component, writing logfmt lines:
/// `ts=2026-11-22T04:47:15.123Z level=info component=store msg="block committed" height=5`.
///
/// Promises: nothing is formatted (the message closure is not even called) for events below the
/// level; one event is one line; values are quoted only when they must be (empty, space, `=`,
/// `"`, control characters) and escaped inside quotes. Cheap to copy and Sendable.
public struct Logger: Sendable {
    public let component: String
    private let sink: LogSink
    private let levelOverride: LogLevel?

    /// The level every logger without its own override uses; `.info` until set at start-up.
    public static var level: LogLevel {
        get { LogLevel(rawValue: processLevel.load(ordering: .relaxed)) ?? .info }
        set { processLevel.store(newValue.rawValue, ordering: .relaxed) }
    }

    private static let processLevel = Atomic<Int>(LogLevel.info.rawValue)

    /// `level` overrides the process-wide level for this logger only (tests, noisy components).
    public init(component: String, sink: LogSink = .standardError, level: LogLevel? = nil) {
        precondition(!component.isEmpty, "logger component must not be empty")
        self.component = component
        self.sink = sink
        self.levelOverride = level
    }

    public func isEnabled(_ level: LogLevel) -> Bool { level >= (levelOverride ?? Logger.level) }

    public func debug(_ message: @autoclosure () -> String, _ fields: KeyValuePairs<String, any Sendable> = [:]) {
        log(.debug, message, fields)
    }

    public func info(_ message: @autoclosure () -> String, _ fields: KeyValuePairs<String, any Sendable> = [:]) {
        log(.info, message, fields)
    }

    public func warn(_ message: @autoclosure () -> String, _ fields: KeyValuePairs<String, any Sendable> = [:]) {
        log(.warn, message, fields)
    }

    public func error(_ message: @autoclosure () -> String, _ fields: KeyValuePairs<String, any Sendable> = [:]) {
        log(.error, message, fields)
    }

    public func log(_ level: LogLevel, _ message: () -> String, _ fields: KeyValuePairs<String, any Sendable>) {
        guard isEnabled(level) else { return }
        let line = LogLine.format(unixMillis: LogLine.nowUnixMillis(), level: level, component: component,
                                  message: message(), fields: fields)
        assert(line.last == UInt8(ascii: "\n"), "a log line ends with exactly one newline")
        sink.write(line)
    }
}

/// The logfmt encoding, pure so tests can pin every byte.
enum LogLine {
    /// Longest value written; longer ones are cut and marked, so one event cannot flood the log.
    static let valueBytesMax = 4_096

    static func format(unixMillis: Int64, level: LogLevel, component: String, message: String,
                       fields: KeyValuePairs<String, any Sendable>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        out.append(contentsOf: "ts=".utf8)
        out.append(contentsOf: timestamp(unixMillis: unixMillis).utf8)
        out.append(contentsOf: " level=".utf8)
        out.append(contentsOf: level.description.utf8)
        append(key: "component", value: component, to: &out)
        append(key: "msg", value: message, to: &out)
        for (key, value) in fields {
            append(key: key, value: render(value), to: &out)
        }
        out.append(UInt8(ascii: "\n"))
        return out
    }

    static func render(_ value: any Sendable) -> String {
        switch value {
        case let s as String: s
        case let s as Substring: String(s)
        default: String(describing: value)
        }
    }

    private static func append(key: String, value: String, to out: inout [UInt8]) {
        precondition(!key.isEmpty && key.utf8.allSatisfy { $0 > 0x20 && $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "\"") },
                     "log field key '\(key)' must be non-empty without spaces, '=' or '\"'")
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: key.utf8)
        out.append(UInt8(ascii: "="))
        appendValue(value, to: &out)
    }

    static func appendValue(_ value: String, to out: inout [UInt8]) {
        var utf8 = Array(value.utf8)
        if utf8.count > valueBytesMax {
            // Cut on a scalar boundary so the line stays valid UTF-8.
            var cut = valueBytesMax
            while cut > 0 && utf8[cut] & 0xC0 == 0x80 { cut -= 1 }
            utf8 = Array(utf8[..<cut]) + Array("…".utf8)
        }
        guard utf8.isEmpty || utf8.contains(where: needsQuoting) else {
            out.append(contentsOf: utf8)
            return
        }
        out.append(UInt8(ascii: "\""))
        for b in utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20, 0x7F: out.append(contentsOf: "\\u00\(hex(b >> 4))\(hex(b & 0xF))".utf8)
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func needsQuoting(_ b: UInt8) -> Bool {
        b <= 0x20 || b == 0x7F || b == UInt8(ascii: "=") || b == UInt8(ascii: "\"")
    }

    private static func hex(_ nibble: UInt8) -> Character {
        Character(Unicode.Scalar(nibble < 10 ? nibble + 48 : nibble + 87))
    }

    static func nowUnixMillis() -> Int64 {
        var now = timespec()
        let rc = clock_gettime(CLOCK_REALTIME, &now)
        precondition(rc == 0, "CLOCK_REALTIME is always available")
        return Int64(now.tv_sec) * 1_000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// RFC 3339 UTC with milliseconds, from Unix time; civil date by Howard Hinnant's algorithm.
    static func timestamp(unixMillis: Int64) -> String {
        let millis = Int((unixMillis % 1_000 + 1_000) % 1_000)
        let seconds = Int((unixMillis - Int64(millis)) / 1_000)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        assert((1...12).contains(month) && (1...31).contains(day) && (0..<86_400).contains(secondOfDay))
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(secondOfDay / 3_600, 2) + ":"
            + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2) + "." + pad(millis, 3) + "Z"
    }

    private static func civilDate(daysSinceEpoch: Int) -> (year: Int, month: Int, day: Int) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
