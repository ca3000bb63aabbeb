import Chain
import Testing
@testable import Membership

/// `GET /discover/prometheus`: the registry's nodes as Prometheus HTTP service discovery targets.
@Suite("PrometheusDiscovery") struct PrometheusDiscoveryTests {
    static func discover(_ nodes: [(String, String, String, String)]) -> JSON {
        .object(JSONObject([("nodes", .array(nodes.map { id, url, role, state in
            .object(JSONObject([("id", .string(id)), ("apiUrl", .string(url)), ("p2pAddr", "127.0.0.1:1"),
                                ("role", .string(role)), ("height", .uint(7)), ("state", .string(state))]))
        }))]))
    }

    @Test func eachNodeIsOneTargetGroupWithItsIDAsALabelAndItsRoleAndStateAsMetaLabels() throws {
        let groups = PrometheusDiscovery.targetGroups(discover: Self.discover([
            ("node1", "http://127.0.0.1:8000", "leader", "alive"),
            ("node2", "http://10.0.0.2:8001/", "follower", "suspect"),
        ]))
        let text = String(decoding: groups.serialized(), as: UTF8.self)
        #expect(text == #"[{"targets":["127.0.0.1:8000"],"labels":{"node_id":"node1","__meta_autochain_role":"leader","__meta_autochain_state":"alive"}},"#
            + #"{"targets":["10.0.0.2:8001"],"labels":{"node_id":"node2","__meta_autochain_role":"follower","__meta_autochain_state":"suspect"}}]"#)
    }

    @Test func noNodesIsAnEmptyListAsPrometheusRequires() {
        #expect(PrometheusDiscovery.targetGroups(discover: Self.discover([])).serialized() == Array("[]".utf8))
        #expect(PrometheusDiscovery.targetGroups(discover: .object(JSONObject([]))).serialized() == Array("[]".utf8))
    }

    @Test func hostnamesAndBracketedIPv6AddressesAreTargets() {
        #expect(PrometheusDiscovery.target(fromAPIURL: "http://node3:8080") == "node3:8080")
        #expect(PrometheusDiscovery.target(fromAPIURL: "http://[::1]:8080") == "[::1]:8080")
        #expect(PrometheusDiscovery.target(fromAPIURL: "http://a-b.example.org:65535/") == "a-b.example.org:65535")
    }

    @Test func urlsThatAreNotAPlainHostAndPortAreLeftOut() {
        for url in ["https://x:1", "http://", "http://x", "http://x:", "http://x:0", "http://x:65536", "http://x:08",
                    "http://x:80/metrics", "http://u@x:80", "http://x y:80", "http://x:80?a", "http://:80", "http://[::1:80",
                    "http://x:80\"", "ftp://x:1", "http://" + String(repeating: "a", count: 300) + ":1"] {
            #expect(PrometheusDiscovery.target(fromAPIURL: url) == nil, "\(url)")
        }
    }

    @Test func aNodeWithAnUnusableURLOrIDIsLeftOutAndTheOthersStay() {
        let groups = PrometheusDiscovery.targetGroups(discover: Self.discover([
            ("node1", "http://127.0.0.1:8000/path", "leader", "alive"),
            ("Bad ID", "http://127.0.0.1:8001", "follower", "alive"),
            ("node3", "http://127.0.0.1:8002", "follower", "alive"),
        ]))
        #expect(groups.arrayValue?.count == 1)
        #expect(groups.arrayValue?.first?["labels"]?["node_id"]?.stringValue == "node3")
    }

    @Test func aRoleOutsideTheRegistrysVocabularyBecomesUnknown() {
        #expect(PrometheusDiscovery.roleLabel("learner") == "learner")
        #expect(PrometheusDiscovery.roleLabel("preCandidate") == "preCandidate", "every consensus role is its own label")
        #expect(PrometheusDiscovery.roleLabel("Leader\n") == "unknown")
        #expect(PrometheusDiscovery.roleLabel(String(repeating: "a", count: 40)) == "unknown")
        #expect(PrometheusDiscovery.roleLabel(nil) == "unknown")
        #expect(PrometheusDiscovery.stateLabel("suspect") == "suspect")
        #expect(PrometheusDiscovery.stateLabel("zombie") == "unknown")
    }
}
