/// TOML integer and float tokens: signs, `_` between digits, `0x`/`0o`/`0b` integers,
/// fractions and exponents. Dates, times, inf and nan are outside our subset.
enum TOMLNumber {
    static func parse(_ token: String) -> TOMLValue.Kind? {
        let bytes = Array(token.utf8)
        guard let first = bytes.first else { return nil }
        if bytes.count > 2 && first == UInt8(ascii: "0"), let radix = radix(bytes[1]) {
            // Int64(_:radix:) would also take a sign ("0x-1"); TOML allows none after the prefix.
            guard let digits = stripUnderscores(bytes[2...], hex: radix == 16), !digits.hasPrefix("+"), !digits.hasPrefix("-"),
                  let v = Int64(digits, radix: radix) else { return nil }
            return .integer(v)
        }
        let unsigned = first == UInt8(ascii: "+") || first == UInt8(ascii: "-") ? bytes[1...] : bytes[...]
        guard let digits = stripUnderscores(unsigned, hex: false), !digits.isEmpty else { return nil }
        let sign = first == UInt8(ascii: "-") ? "-" : ""
        let isFloat = digits.contains { $0 == "." || $0 == "e" || $0 == "E" }
        guard hasNoLeadingZero(digits) else { return nil }
        if !isFloat {
            guard digits.allSatisfy(\.isASCIIDigitCharacter), let v = Int64(sign + digits) else { return nil }
            return .integer(v)
        }
        guard isValidFloat(digits), let d = Double(sign + digits), d.isFinite else { return nil }
        return .float(d)
    }

    /// Why `token` is not a number we accept, for the error message.
    static func explainInvalid(_ token: String) -> String {
        if token.contains(":") || token.filter({ $0 == "-" }).count >= 2 { return "dates and times are not supported" }
        if ["inf", "+inf", "-inf", "nan", "+nan", "-nan"].contains(token) { return "inf and nan are not supported" }
        if token.first.map({ $0.isLetter }) == true { return "expected a value, found '\(token)' (strings need quotes)" }
        let body = token.drop { $0 == "+" || $0 == "-" }
        let wellFormed = body.first?.isASCIIDigitCharacter == true && body.last?.isASCIIDigitCharacter == true
            && !body.contains("__") && !body.hasPrefix("0") && body.allSatisfy { $0.isASCIIDigitCharacter || $0 == "_" }
        if wellFormed { return "integer \(token) out of range" }
        return "invalid number '\(token)'"
    }

    private static func radix(_ b: UInt8) -> Int? {
        switch b {
        case UInt8(ascii: "x"): 16
        case UInt8(ascii: "o"): 8
        case UInt8(ascii: "b"): 2
        default: nil
        }
    }

    /// Removes `_`, which must sit between two digits; nil when one does not.
    private static func stripUnderscores(_ bytes: ArraySlice<UInt8>, hex: Bool) -> String? {
        let isDigit: (UInt8) -> Bool = hex ? { Character(Unicode.Scalar($0)).isHexDigit } : { $0 &- 48 < 10 }
        var out: [UInt8] = []
        let list = Array(bytes)
        for (i, b) in list.enumerated() {
            if b == UInt8(ascii: "_") {
                guard i > 0, i + 1 < list.count, isDigit(list[i - 1]), isDigit(list[i + 1]) else { return nil }
                continue
            }
            out.append(b)
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hasNoLeadingZero(_ digits: String) -> Bool {
        let integral = digits.prefix { $0.isASCIIDigitCharacter }
        return integral.count <= 1 || integral.first != "0"
    }

    /// `digits` (sign and underscores removed) matches `int ( "." digits )? ( [eE] [+-]? digits )?`.
    private static func isValidFloat(_ digits: String) -> Bool {
        let chars = Array(digits)
        var i = 0
        func run() -> Int { let s = i; while i < chars.count && chars[i].isASCIIDigitCharacter { i += 1 }; return i - s }
        guard run() > 0 else { return false }
        if i < chars.count && chars[i] == "." { i += 1; guard run() > 0 else { return false } }
        if i < chars.count && (chars[i] == "e" || chars[i] == "E") {
            i += 1
            if i < chars.count && (chars[i] == "+" || chars[i] == "-") { i += 1 }
            guard run() > 0 else { return false }
        }
        return i == chars.count
    }
}

extension Character {
    fileprivate var isASCIIDigitCharacter: Bool { isASCII && isWholeNumber }
}
