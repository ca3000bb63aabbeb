import FoundationEssentials
import Glibc
/// A command's declared options and the values parsed for them.
///
/// `--name value` and `--name=value` for valued options, `--name` alone for flags, `--help`/`-h`
/// everywhere. Unknown options, missing values and stray positional arguments are errors that name
/// the option, so every command fails with a one-line reason instead of guessing.
struct CommandSpec: Sendable {
    struct Option: Sendable {
        let name: String
        let valueName: String?  // nil: a flag
        let help: String
    }

    let name: String
    let summary: String
    let options: [Option]

    func usage() -> String {
        var lines = ["usage: autochain \(name) [options]", "", summary, "", "options:"]
        let width = options.map { optionLabel($0).count }.max() ?? 0
        for o in options {
            let label = optionLabel(o)
            lines.append("  " + label + String(repeating: " ", count: max(2, width - label.count + 2)) + o.help)
        }
        lines.append("  -h, --help" + String(repeating: " ", count: max(2, width - 8)) + "show this help")
        return lines.joined(separator: "\n")
    }

    private func optionLabel(_ o: Option) -> String {
        o.valueName.map { "--\(o.name) \($0)" } ?? "--\(o.name)"
    }

    /// Parses `args` (without the command name). Throws `CLIError.help` when help was asked for.
    func parse(_ args: [String]) throws(CLIError) -> ParsedArguments {
        precondition(Set(options.map(\.name)).count == options.count, "duplicate option in \(name)")
        var values: [String: String] = [:]
        var flags: Set<String> = []
        var i = 0
        while i < args.count {
            let arg = args[i]
            i += 1
            if arg == "--help" || arg == "-h" { throw .help(usage()) }
            guard arg.hasPrefix("--") else { throw .usage("\(name): unexpected argument '\(arg)'") }
            var key = String(arg.dropFirst(2))
            var inline: String?
            if let eq = key.firstIndex(of: "=") {
                inline = String(key[key.index(after: eq)...])
                key = String(key[..<eq])
            }
            guard let option = options.first(where: { $0.name == key }) else {
                throw .usage("\(name): unknown option '--\(key)' (see 'autochain \(name) --help')")
            }
            if option.valueName == nil {
                guard inline == nil else { throw .usage("\(name): option '--\(key)' takes no value") }
                flags.insert(key)
                continue
            }
            if let inline {
                values[key] = inline
            } else {
                guard i < args.count else { throw .usage("\(name): option '--\(key)' needs a value") }
                values[key] = args[i]
                i += 1
            }
        }
        return ParsedArguments(command: name, values: values, flags: flags)
    }
}

/// The options given on a command line, with typed accessors that fail with the option's name.
struct ParsedArguments: Sendable {
    let command: String
    let values: [String: String]
    let flags: Set<String>

    func string(_ name: String) -> String? { values[name] }

    func flag(_ name: String) -> Bool { flags.contains(name) }

    func required(_ name: String) throws(CLIError) -> String {
        guard let v = values[name], !v.isEmpty else { throw .usage("\(command): --\(name) is required") }
        return v
    }

    func uint(_ name: String, default fallback: UInt64? = nil, max: UInt64 = UInt64.max) throws(CLIError) -> UInt64? {
        guard let raw = values[name] else { return fallback }
        guard let v = UInt64(raw.replacing("_", with: "")), v <= max else {
            throw .usage("\(command): --\(name) must be a whole number from 0 to \(max), got '\(raw)'")
        }
        return v
    }

    func int(_ name: String, default fallback: Int, range: ClosedRange<Int>) throws(CLIError) -> Int {
        guard let raw = values[name] else { return fallback }
        guard let v = Int(raw.replacing("_", with: "")), range.contains(v) else {
            throw .usage("\(command): --\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(raw)'")
        }
        return v
    }
}

/// Why a command stopped: asked for help (exit 0), or a one-line reason (exit 1 or 2).
enum CLIError: Error, Sendable {
    case help(String)
    case usage(String)
    case failed(String)

    var exitCode: Int32 {
        switch self {
        case .help: 0
        case .usage: 2
        case .failed: 1
        }
    }
}

/// The running binary's absolute path (children are started from the same binary).
func selfExecutablePath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? URL(fileURLWithPath: CommandLine.arguments[0]).path
}

/// Makes C's stdout (which `print` writes through) line-buffered, so every line reaches a file or
/// a pipe at once. Called first thing in main, before any other thread exists. The `FILE *` is
/// read through the C symbol because Swift 6 refuses to touch the mutable C global directly.
func lineBufferStandardOutput() {
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "stdout") else { return }
    let out = symbol.load(as: UnsafeMutablePointer<FILE>?.self)
    if let out { setvbuf(out, nil, _IOLBF, 0) }
}
