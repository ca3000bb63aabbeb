import Chain
import Testing
@testable import NodeMain

/// GET /metrics must pass `promtool check metrics` (scripts/test-api-conformance.sh runs it when
/// promtool is installed). These are the same rules, checked here on every `make test` without it.
@Suite("Metrics exposition") struct MetricsExpositionTests {
    struct Family { var help = false; var type = ""; var samples: [String] = [] }

    /// Families by name, from the text exposition format 0.0.4.
    static func families(_ text: String) -> [String: Family] {
        var out: [String: Family] = [:]
        for line in text.split(separator: "\n").map(String.init) {
            let words = line.split(separator: " ", maxSplits: 3).map(String.init)
            if line.hasPrefix("# HELP "), words.count >= 3 {
                out[words[2], default: Family()].help = true
            } else if line.hasPrefix("# TYPE "), words.count >= 4 {
                out[words[2], default: Family()].type = words[3]
            } else if !line.hasPrefix("#") {
                let name = String(line.prefix { $0 != "{" && $0 != " " })
                let family = ["_bucket", "_sum", "_count"].compactMap { s in
                    name.hasSuffix(s) && out[String(name.dropLast(s.count))]?.type == "histogram" ? String(name.dropLast(s.count)) : nil
                }.first ?? name
                out[family, default: Family()].samples.append(line)
            }
        }
        return out
    }

    /// What promtool's linter and parser would report, one line each.
    static func problems(_ text: String) -> [String] {
        var found: [String] = []
        for (name, family) in families(text).sorted(by: { $0.key < $1.key }) {
            if name.range(of: "^[a-zA-Z_:][a-zA-Z0-9_:]*$", options: .regularExpression) == nil { found.append("\(name): bad name") }
            if !family.help { found.append("\(name): no HELP") }
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(family.type) { found.append("\(name): no TYPE") }
            if family.type == "counter", !name.hasSuffix("_total") { found.append("\(name): counter without _total") }
            if family.type != "counter", name.hasSuffix("_total") { found.append("\(name): non-counter metrics should not have \"_total\" suffix") }
            if family.type == "histogram" {
                for part in ["_bucket{le=\"+Inf\"}", "_sum", "_count"] where !family.samples.contains(where: { $0.hasPrefix(name + part) }) {
                    found.append("\(name): histogram without \(part)")
                }
            }
            for sample in family.samples where Double(sample.split(separator: " ").last.map(String.init) ?? "") == nil {
                found.append("\(name): unparsable sample '\(sample)'")
            }
        }
        return found
    }

    @Test func nodeMetricsRenderEveryFamilyWithHelpAndType() {
        let metrics = NodeMetrics()
        metrics.httpRequests.inc(1, "/status", "200")
        metrics.txRejected.inc(1, "bad_signature")
        let text = metrics.registry.render()
        let families = Self.families(text)
        for name in ["autochain_block_height", "autochain_txs_committed_total", "autochain_http_requests_total",
                     "autochain_submit_to_commit_seconds", "autochain_raft_term", "process_resident_memory_bytes"] {
            #expect(families[name]?.help == true && families[name]?.samples.isEmpty == false, "\(name) missing from /metrics")
        }
        #expect(Self.problems(text).isEmpty, "\(Self.problems(text))")
    }

    @Test func storageSpaceIsNotANumberWhenTheDataDirectoryCannotBeRead() {
        let metrics = NodeMetrics()
        metrics.sampleStorage(dataDir: "/nonexistent/autochain-data")
        let text = metrics.registry.render()
        // NaN, not 0: an unreadable directory must not look like a full disk to the alert.
        #expect(text.contains("\nautochain_storage_available_bytes NaN\n"), "\(text)")
        #expect(text.contains("\nautochain_storage_size_bytes NaN\n"), "\(text)")
        #expect(Self.problems(text).isEmpty, "\(Self.problems(text))")
    }

    @Test func processCPUSecondsIsACounter() {
        let text = NodeMetrics().registry.render()
        #expect(Self.problems(text).isEmpty, "\(Self.problems(text))")
    }

    @Test func theLintCatchesWhatPromtoolCatches() {
        let bad = "# HELP x_total t\n# TYPE x_total gauge\nx_total 1\n# TYPE y counter\ny 2\n"
        #expect(Self.problems(bad) == [
            "x_total: non-counter metrics should not have \"_total\" suffix",
            "y: no HELP", "y: counter without _total",
        ])
        let good = "# HELP a_total t\n# TYPE a_total counter\na_total{k=\"v\"} 3\n# HELP h t\n# TYPE h histogram\n" +
            "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"
        #expect(Self.problems(good).isEmpty, "\(Self.problems(good))")
    }
}
