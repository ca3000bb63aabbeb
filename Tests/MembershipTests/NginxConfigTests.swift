import Membership
import Testing

/// What `autochain nginx-config` writes, as text: the upstream over healthy nodes, passive health
/// checks, retries only where the gateway retries, TLS when given, and nothing unchecked.
@Suite struct NginxConfigTests {
    static let a = GatewayRouting.Node(id: "node-a", apiURL: "http://127.0.0.1:7001")
    static let b = GatewayRouting.Node(id: "node-b", apiURL: "http://127.0.0.1:7002")
    static let c = GatewayRouting.Node(id: "node-c", apiURL: "http://node3:7003", suspect: true)

    static func render(_ nodes: [GatewayRouting.Node], _ tune: (inout NginxConfig) -> Void = { _ in }) throws -> String {
        var config = NginxConfig()
        tune(&config)
        return try config.render(nodes: nodes, source: "http://127.0.0.1:9090/discover")
    }

    @Test func theUpstreamListsAliveNodesWithPassiveHealthChecksAndKeepalive() throws {
        let text = try Self.render([Self.a, Self.b, Self.c]) { $0.maxFails = 2; $0.failTimeoutS = 5 }
        #expect(text.contains("server 127.0.0.1:7001 max_fails=2 fail_timeout=5s;"))
        #expect(text.contains("server 127.0.0.1:7002 max_fails=2 fail_timeout=5s;"))
        #expect(!text.contains("node3"), "a suspect node is left out while alive ones exist")
        #expect(text.contains("keepalive 32;") && text.contains("proxy_http_version 1.1;") && text.contains("proxy_set_header Connection \"\";"))
    }

    @Test func suspectNodesAreUsedWhenNoneIsAliveAndNoNodeIsAnError() throws {
        #expect(try Self.render([Self.c]).contains("server node3:7003 "))
        #expect(throws: NginxConfig.Problem.self) { try Self.render([]) }
    }

    @Test func onlySubmitTxIsRetriedOnAnotherNodeOnceSentAmongWrites() throws {
        let text = try Self.render([Self.a])
        #expect(text.contains("location / {\n        proxy_pass http://autochain_api;\n        proxy_next_upstream error timeout;"))
        #expect(text.contains("location = /submit-tx {\n        proxy_pass http://autochain_api;\n        proxy_next_upstream error timeout non_idempotent;"))
        #expect(text.components(separatedBy: "non_idempotent").count == 2)
    }

    @Test func aCertificateAndKeyTurnOnTLSAndOneWithoutTheOtherIsAnError() throws {
        let plain = try Self.render([Self.a]) { $0.listen = "127.0.0.1:8080" }
        #expect(plain.contains("listen 127.0.0.1:8080;") && !plain.contains("ssl"))
        let tls = try Self.render([Self.a]) { $0.tlsCertificatePath = "/etc/ssl/a.pem"; $0.tlsKeyPath = "/etc/ssl/a.key" }
        #expect(tls.contains("listen 127.0.0.1:8443 ssl;"))
        #expect(tls.contains("ssl_certificate /etc/ssl/a.pem;") && tls.contains("ssl_certificate_key /etc/ssl/a.key;"))
        #expect(throws: NginxConfig.Problem.self) { try Self.render([Self.a]) { $0.tlsCertificatePath = "/etc/ssl/a.pem" } }
    }

    @Test func addressesAndPathsThatNginxWouldReadAsSyntaxAreRefused() {
        for url in ["http://127.0.0.1:7001;evil", "http://a b:80", "http://127.0.0.1:0", "http://x:99999", "https://127.0.0.1:1"] {
            #expect(throws: NginxConfig.Problem.self, "\(url)") { try Self.render([GatewayRouting.Node(id: "n", apiURL: url)]) }
        }
        for path in ["relative.pem", "/a b.pem", "/a;b.pem", "/$host.pem", "/a}.pem", "/a\n.pem"] {
            #expect(throws: NginxConfig.Problem.self, "\(path)") {
                try Self.render([Self.a]) { $0.tlsCertificatePath = path; $0.tlsKeyPath = "/k.pem" }
            }
        }
        #expect(throws: NginxConfig.Problem.self) { try Self.render([Self.a]) { $0.listen = "0.0.0.0:443 default_server" } }
    }
}
