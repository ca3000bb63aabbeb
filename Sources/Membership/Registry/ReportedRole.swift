import Consensus

/// A node's role as the registry holds it: the consensus `Role` the node last reported, or nil
/// before it reported one. On the wire it is the role's raw value, and "unknown" for nil, so the
/// registry's JSON reads exactly as the node's own `/status`.
extension Optional where Wrapped == Role {
    public var wireName: String { self?.rawValue ?? "unknown" }
}

extension Role {
    /// Parses a role a node reported: nil for "" (not said), a typed refusal for a word that is
    /// not a role (never trusted, never a crash).
    static func reported(_ text: String) throws(RegistryAPIError) -> Role? {
        guard !text.isEmpty else { return nil }
        guard let role = Role(rawValue: text) else {
            let known = Role.allCases.map(\.rawValue).joined(separator: ", ")
            throw RegistryAPIError("invalid_field", "role must be one of \(known)")
        }
        return role
    }
}
