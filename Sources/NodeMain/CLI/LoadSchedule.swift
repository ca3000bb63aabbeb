import Chain
import FoundationEssentials

/// The scripted load of `autochain load --phases`: phases run one after another, each a rate in
/// transfers per second that is constant or moves linearly over the phase's duration.
///
/// Syntax (commas between phases, spaces around them ignored):
///
///     ramp:FROM-TO/DURATION   rate moves linearly from FROM to TO tx/s   ramp:0-2000/30s
///     hold:RATE/DURATION      RATE tx/s throughout                       hold:2000/60s
///     spike:RATE/DURATION     the same as hold, named for what it shows  spike:8000/10s
///     pause:DURATION          no load (hold:0)                           pause:15s
///
/// RATE is a whole number of transfers per second, 0...`maxRatePerS`; DURATION a positive number
/// with a unit, `ms`, `s`, `m` or `h` (500ms, 30s, 1.5m). The whole script is at most
/// `maxPhases` phases and `maxTotalS` seconds. Parsing names the phase and what was expected.
struct LoadPhase: Equatable, Sendable {
    enum Kind: String, Sendable, CaseIterable { case ramp, hold, spike, pause }

    let kind: Kind
    let fromPerS: Double
    let toPerS: Double
    let durationS: Double

    /// The rate `offsetS` seconds into the phase (clamped to the phase).
    func rate(atOffsetS offsetS: Double) -> Double {
        let t = min(max(offsetS, 0), durationS)
        return fromPerS + (toPerS - fromPerS) * t / durationS
    }

    /// Transfers due in the first `offsetS` seconds of the phase: the integral of the rate.
    func transfers(inFirstS offsetS: Double) -> Double {
        let t = min(max(offsetS, 0), durationS)
        return fromPerS * t + (toPerS - fromPerS) * t * t / (2 * durationS)
    }

    /// The phase as written in the syntax above (its canonical form).
    var text: String {
        switch kind {
        case .ramp: "ramp:\(Int(fromPerS))-\(Int(toPerS))/\(LoadSchedule.durationText(durationS))"
        case .hold, .spike: "\(kind.rawValue):\(Int(fromPerS))/\(LoadSchedule.durationText(durationS))"
        case .pause: "pause:\(LoadSchedule.durationText(durationS))"
        }
    }
}

/// A phase script that does not parse: which phase, what it said, what was expected.
struct LoadPhasesError: Error, Equatable, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Phases in order, with what is due when: pure functions of the time since the start.
struct LoadSchedule: Equatable, Sendable {
    static let maxPhases = 64
    static let maxRatePerS = 100_000
    static let maxTotalS = 86_400.0
    /// Shorter phases cannot be paced (the generator reports once a second, paces every few ms).
    static let minPhaseS = 0.1

    let phases: [LoadPhase]

    var totalS: Double { phases.reduce(0) { $0 + $1.durationS } }

    /// Transfers the whole script asks for.
    var totalTransfers: Int { Int(transfersDue(byS: totalS)) }

    /// The phase running `elapsedS` seconds after the start (its index and its own offset); nil
    /// before the start and once the script is over.
    func phase(atS elapsedS: Double) -> (index: Int, phase: LoadPhase, offsetS: Double)? {
        guard elapsedS >= 0 else { return nil }
        var start = 0.0
        for (i, p) in phases.enumerated() {
            if elapsedS < start + p.durationS { return (i, p, elapsedS - start) }
            start += p.durationS
        }
        return nil
    }

    /// The target rate `elapsedS` seconds after the start; 0 outside the script.
    func rate(atS elapsedS: Double) -> Double {
        guard let (_, p, offset) = phase(atS: elapsedS) else { return 0 }
        return p.rate(atOffsetS: offset)
    }

    /// Whole transfers due from the start up to `elapsedS`: the generator has sent this many by
    /// then when it keeps up. Non-decreasing in `elapsedS`, constant after the end.
    func transfersDue(byS elapsedS: Double) -> Int {
        var sum = 0.0, start = 0.0
        for p in phases {
            guard elapsedS > start else { break }
            sum += p.transfers(inFirstS: elapsedS - start)
            start += p.durationS
        }
        // The epsilon keeps 2000 * 0.3 from becoming 599 through rounding noise.
        return Int((sum + 1e-6).rounded(.down))
    }

    // MARK: parsing

    static func parse(_ text: String) throws(LoadPhasesError) -> LoadSchedule {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
        guard !(parts.count == 1 && parts[0].isEmpty) else {
            throw LoadPhasesError(message: "--phases is empty; e.g. \"ramp:0-2000/30s,hold:2000/60s,spike:8000/10s,ramp:2000-0/30s\"")
        }
        guard parts.count <= maxPhases else {
            throw LoadPhasesError(message: "--phases has \(parts.count) phases; at most \(maxPhases)")
        }
        var phases: [LoadPhase] = []
        for (i, part) in parts.enumerated() {
            phases.append(try parsePhase(part, number: i + 1))
        }
        let schedule = LoadSchedule(phases: phases)
        guard schedule.totalS <= maxTotalS else {
            throw LoadPhasesError(message: "--phases lasts \(durationText(schedule.totalS)) in all; at most \(durationText(maxTotalS))")
        }
        return schedule
    }

    static func parsePhase(_ text: String, number: Int) throws(LoadPhasesError) -> LoadPhase {
        let at = "phase \(number) '\(text.prefix(80))'"
        guard let colon = text.firstIndex(of: ":") else {
            throw LoadPhasesError(message: "\(at): expected KIND:..., where KIND is ramp, hold, spike or pause")
        }
        let kindText = String(text[..<colon])
        let rest = String(text[text.index(after: colon)...])
        guard let kind = LoadPhase.Kind(rawValue: kindText) else {
            throw LoadPhasesError(message: "\(at): unknown phase '\(kindText.prefix(20))'; expected ramp, hold, spike or pause")
        }
        let form: String
        switch kind {
        case .ramp: form = "ramp:FROM-TO/DURATION, e.g. ramp:0-2000/30s"
        case .hold, .spike: form = "\(kind.rawValue):RATE/DURATION, e.g. \(kind.rawValue):2000/60s"
        case .pause: form = "pause:DURATION, e.g. pause:15s"
        }
        if kind == .pause {
            return LoadPhase(kind: kind, fromPerS: 0, toPerS: 0, durationS: try duration(rest, at: at, form: form))
        }
        let pieces = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard pieces.count == 2 else { throw LoadPhasesError(message: "\(at): expected \(form)") }
        let durationS = try duration(pieces[1], at: at, form: form)
        if kind == .ramp {
            let ends = pieces[0].split(separator: "-", omittingEmptySubsequences: false).map(String.init)
            guard ends.count == 2 else { throw LoadPhasesError(message: "\(at): expected \(form)") }
            return LoadPhase(kind: kind, fromPerS: try rate(ends[0], at: at), toPerS: try rate(ends[1], at: at), durationS: durationS)
        }
        let r = try rate(pieces[0], at: at)
        return LoadPhase(kind: kind, fromPerS: r, toPerS: r, durationS: durationS)
    }

    static func rate(_ text: String, at: String) throws(LoadPhasesError) -> Double {
        guard !text.isEmpty, text.utf8.count <= 12, text.utf8.allSatisfy({ (48...57).contains($0) }), let v = Int(text),
              v <= maxRatePerS else {
            throw LoadPhasesError(message: "\(at): rate '\(text.prefix(20))' must be a whole number of transfers/s from 0 to \(maxRatePerS)")
        }
        return Double(v)
    }

    static func duration(_ text: String, at: String, form: String) throws(LoadPhasesError) -> Double {
        let units: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        let digitsOrDot = { (b: UInt8) in (48...57).contains(b) || b == 46 }
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = String(text.dropLast(suffix.count))
            // "1ms" also ends in "s": the number part must be digits (and one dot) only.
            guard !number.isEmpty, number.utf8.count <= 12, number.utf8.allSatisfy(digitsOrDot), let v = Double(number) else { continue }
            let seconds = v * scale
            guard seconds >= minPhaseS else {
                throw LoadPhasesError(message: "\(at): duration '\(text)' is shorter than \(durationText(minPhaseS))")
            }
            guard seconds <= maxTotalS else {
                throw LoadPhasesError(message: "\(at): duration '\(text)' is longer than \(durationText(maxTotalS))")
            }
            return seconds
        }
        throw LoadPhasesError(message: "\(at): duration '\(text.prefix(20))' must be a number with a unit ms, s, m or h "
            + "(500ms, 30s, 1.5m); expected \(form)")
    }

    /// Seconds as the syntax writes them: 30s, 1.5s, 500ms, 2m, 1h.
    static func durationText(_ s: Double) -> String {
        func trim(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : NumberText.general(x) }
        if s < 1 { return trim((s * 1000).rounded()) + "ms" }
        if s >= 3600, (s / 3600) == (s / 3600).rounded() { return trim(s / 3600) + "h" }
        if s >= 60, (s / 60) == (s / 60).rounded() { return trim(s / 60) + "m" }
        return trim(s) + "s"
    }

    /// The script in canonical form (what `parse` reads back to the same schedule).
    var text: String { phases.map(\.text).joined(separator: ",") }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
