import Chain
import FoundationEssentials
import Membership
import P2P

/// `autochain nginx-config`: writes an nginx configuration that balances over the nodes a
/// registry's `GET /discover` lists, with TLS termination from a given certificate
/// (`NginxConfig` says what the configuration promises).
enum NginxConfigCommand {
    static let spec = CommandSpec(name: "nginx-config", summary: "Write an nginx configuration for the live nodes a registry lists (TLS optional).", options: [
        .init(name: "registry", valueName: "URL", help: "registry whose GET /discover lists the nodes (default http://127.0.0.1:9090)"),
        .init(name: "listen", valueName: "HOST:PORT", help: "where nginx listens (default 127.0.0.1:8443 with TLS, 127.0.0.1:8080 without)"),
        .init(name: "tls-cert", valueName: "FILE", help: "PEM certificate (chain) nginx presents; with --tls-key, nginx terminates TLS"),
        .init(name: "tls-key", valueName: "FILE", help: "the certificate's PEM private key"),
        .init(name: "max-fails", valueName: "N", help: "failed attempts that take a node out for --fail-timeout (default 3)"),
        .init(name: "fail-timeout", valueName: "SECONDS", help: "passive health-check window and time out (default 10)"),
        .init(name: "out", valueName: "FILE", help: "write the configuration here (default: print it)"),
    ])

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        let registry = parsed.string("registry") ?? "http://127.0.0.1:9090"
        var config = NginxConfig()
        config.tlsCertificatePath = parsed.string("tls-cert").map(absolute)
        config.tlsKeyPath = parsed.string("tls-key").map(absolute)
        config.listen = parsed.string("listen") ?? (config.tlsCertificatePath == nil ? "127.0.0.1:8080" : "127.0.0.1:8443")
        config.maxFails = try parsed.int("max-fails", default: config.maxFails, range: 1...100)
        config.failTimeoutS = try parsed.int("fail-timeout", default: config.failTimeoutS, range: 1...3_600)
        for path in [config.tlsCertificatePath, config.tlsKeyPath].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: path) {
            throw .usage("nginx-config: cannot read \(path)")
        }
        let nodes = try discover(registry)
        let text: String
        do { text = try config.render(nodes: nodes, source: "\(registry)/discover") } catch { throw .failed("nginx-config: \(error)") }
        guard let out = parsed.string("out") else { print(text, terminator: ""); return }
        do { try Data(text.utf8).write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
            throw .failed("nginx-config: cannot write \(out): \(FileErrorText.reason(error))")
        }
        print("nginx-config: \(out) routes to \(nodes.count) node(s) of \(registry); check it with `nginx -t`")
    }

    /// How long `GET /discover` may take (5 s: the registry answers it from memory).
    static let discoverTimeout: Duration = .seconds(5)

    static func discover(_ registry: String) throws(CLIError) -> [GatewayRouting.Node] {
        let response: HTTPClientResponse
        do {
            let client = try HTTPClient(baseURL: registry, maxResponseBytes: 4 << 20)
            defer { client.close() }
            response = try client.request(method: "GET", path: "/discover", timeout: Self.discoverTimeout)
        } catch { throw .failed("nginx-config: registry \(registry): \(error)") }
        guard response.status == 200 else { throw .failed("nginx-config: \(registry)/discover answered \(response.status)") }
        return GatewayDiscovery.nodes(fromDiscoverBody: response.body, maxNodes: GatewaySettings().maxNodes)
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
