import FoundationEssentials

/// The one node-ID grammar of the cluster, checked at every boundary an ID crosses (REST bodies,
/// registry requests, peer messages, blocks, config, provider records): `[a-z0-9][a-z0-9-]{0,62}`.
///
/// The grammar is what makes an ID safe to use as a file name, a container or volume name, a
/// DNS label and a metrics label: no `/`, no `.` (so never `..`), no upper case, at most 63 bytes.
public enum NodeIDGrammar {
    /// Longest ID in bytes: one DNS label.
    public static let maxBytes = 63

    /// The grammar, as users see it in error messages.
    public static let pattern = "[a-z0-9][a-z0-9-]{0,62}"

    /// True when `id` matches `[a-z0-9][a-z0-9-]{0,62}`.
    public static func isValid(_ id: some StringProtocol) -> Bool {
        var count = 0
        for byte in id.utf8 {
            count += 1
            guard count <= maxBytes else { return false }
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): continue
            case UInt8(ascii: "-") where count > 1: continue
            default: return false
            }
        }
        return count >= 1
    }
}

/// A path on disk built from a name that came from outside (a node ID), proven to stay inside
/// its base directory: the name must be a valid node ID (so it holds no `/` and is never `.` or
/// `..`), and the parent that results, with symbolic links resolved, must be the base itself.
public enum ContainedPath {
    /// `base/name`, or nil when `name` is not a node ID or the result would leave `base`.
    public static func child(of base: String, named name: String) -> String? {
        guard NodeIDGrammar.isValid(name), !base.isEmpty else { return nil }
        let resolvedBase = URL(fileURLWithPath: base).standardizedFileURL.resolvingSymlinksInPath().path
        let candidate = URL(fileURLWithPath: resolvedBase).appendingPathComponent(name, isDirectory: false)
        let parent = candidate.deletingLastPathComponent().standardizedFileURL.path
        guard parent == resolvedBase, candidate.lastPathComponent == name else { return nil }
        return candidate.path
    }
}
