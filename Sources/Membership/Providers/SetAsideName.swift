import Chain

/// The name a destroyed node's data is set aside under: `<node id>-<unix seconds>`, the time it
/// was set aside, so it can be deleted once kept long enough (DESIGN §6 Trust).
public enum SetAsideName {
    /// Digits of a Unix time in seconds, at most (enough until the year 33658).
    static let maxDigits = 12

    public static func make(node id: String, unixSeconds: UInt64) -> String { "\(id)-\(unixSeconds)" }

    /// The time in a set-aside name, or nil when the name is not one (not `<id>-<digits>`, the ID
    /// not a node ID, or more digits than a time has): such entries are never deleted.
    public static func unixSeconds(_ name: String) -> UInt64? {
        guard let dash = name.lastIndex(of: "-") else { return nil }
        let id = name[..<dash], digits = name[name.index(after: dash)...]
        guard NodeIDGrammar.isValid(id), !digits.isEmpty, digits.count <= maxDigits,
              digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt64(digits)
    }
}
