import Chain
import Consensus

/// `GET /discover/prometheus`: the nodes of `GET /discover` in Prometheus's HTTP service discovery
/// format (https://prometheus.io/docs/prometheus/latest/http_sd/), so a Prometheus server finds
/// every node the registry lists, also those the autoscaler adds, without a file to keep up to date.
///
/// One target group per node: the target is the `host:port` of its API (where `GET /metrics` is),
/// with the label `node_id`; its role and health go in `__meta_autochain_role` and
/// `__meta_autochain_state`, for relabeling only (they change, so they stay out of the series).
/// A node whose API URL is not a plain `http://host:port` is left out, not passed on.
enum PrometheusDiscovery {
    /// The target groups for the nodes of a `/discover` answer (`{"nodes":[{id, apiUrl, role, state}]}`).
    static func targetGroups(discover: JSON) -> JSON {
        let groups = (discover["nodes"]?.arrayValue ?? []).compactMap { node -> JSON? in
            guard let id = node["id"]?.stringValue, NodeIDGrammar.isValid(id),
                  let target = node["apiUrl"]?.stringValue.flatMap(target(fromAPIURL:)) else { return nil }
            return .object(JSONObject([
                ("targets", .array([.string(target)])),
                ("labels", .object(JSONObject([
                    ("node_id", .string(id)),
                    ("__meta_autochain_role", .string(roleLabel(node["role"]?.stringValue))),
                    ("__meta_autochain_state", .string(stateLabel(node["state"]?.stringValue))),
                ]))),
            ]))
        }
        return .array(groups)
    }

    /// `host:port` of an `http://host:port` URL (an optional trailing slash allowed); nil for
    /// anything else: another scheme, a path, user info, no port, characters a host cannot have.
    static func target(fromAPIURL url: String) -> String? {
        guard url.hasPrefix("http://") else { return nil }
        var rest = Substring(url.dropFirst("http://".count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, rest.utf8.count <= 255 else { return nil }
        let allowed: (UInt8) -> Bool = { b in
            (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b) || b == 46 || b == 45 || b == 58 || b == 91 || b == 93
        }
        guard rest.utf8.allSatisfy(allowed), let colon = rest.lastIndex(of: ":") else { return nil }
        let host = rest[..<colon], port = rest[rest.index(after: colon)...]
        guard !host.isEmpty, host != "[", let p = Int(port), (1...65_535).contains(p), port.first != "0" else { return nil }
        if host.hasPrefix("[") != host.hasSuffix("]") { return nil }
        return String(rest)
    }

    /// A role as a label value: a consensus `Role`'s word, else "unknown".
    static func roleLabel(_ s: String?) -> String { s.flatMap(Role.init(rawValue:))?.rawValue ?? "unknown" }

    /// A health state as a label value: a `NodeHealth`'s word, else "unknown".
    static func stateLabel(_ s: String?) -> String { s.flatMap(NodeHealth.init(rawValue:))?.rawValue ?? "unknown" }
}
