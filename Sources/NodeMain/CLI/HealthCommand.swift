import FoundationEssentials
import P2P

/// `autochain health [--url URL]`: the container image's HEALTHCHECK. GETs the node's own
/// `/health/ready` (or the path in `--url`) and exits 0 when it answers 2xx, 1 otherwise, printing
/// one line either way (Docker keeps it in `docker inspect`'s health log).
enum HealthCommand {
    static let spec = CommandSpec(name: "health", summary: "Exit 0 when a node (or registry) answers ready, 1 otherwise.", options: [
        .init(name: "url", valueName: "URL", help: "what to ask: http://host:port[/path] (default: this node's API_ADDR, path /health/ready)"),
        .init(name: "timeout-ms", valueName: "MS", help: "give up after this long (default 2000)"),
    ])

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        let timeout = try parsed.int("timeout-ms", default: 2_000, range: 1...60_000)
        let (base, path) = target(url: parsed.string("url"), apiAddr: ProcessInfo.processInfo.environment["API_ADDR"])
        let client: HTTPClient
        do { client = try HTTPClient(baseURL: base, maxResponseBytes: 64 * 1024) } catch { throw .usage("health: bad URL '\(base)': \(error)") }
        defer { client.close() }
        do {
            let r = try client.request(method: "GET", path: path, timeout: .milliseconds(timeout))
            let line = "\(base)\(path): \(r.status) \(r.bodyText.prefix(200))"
            guard (200..<300).contains(r.status) else { throw CLIError.failed(line) }
            print(line)
        } catch let e as CLIError {
            throw e
        } catch {
            throw .failed("\(base)\(path): \(error)")
        }
    }

    /// The base URL and path to probe. Without `--url`: the node's own API address, a wildcard
    /// listen address (0.0.0.0, ::) asked on loopback.
    static func target(url: String?, apiAddr: String?) -> (base: String, path: String) {
        if let url, url.hasPrefix("http://") {
            let rest = url.dropFirst("http://".count)
            if let slash = rest.firstIndex(of: "/") {
                return ("http://" + rest[..<slash], String(rest[slash...]))
            }
            return (url, "/health/ready")
        }
        var addr = (apiAddr?.isEmpty == false ? apiAddr! : "127.0.0.1:8080")
        if addr.hasPrefix("0.0.0.0:") { addr = "127.0.0.1:" + addr.dropFirst("0.0.0.0:".count) }
        if addr.hasPrefix("[::]:") { addr = "[::1]:" + addr.dropFirst("[::]:".count) }
        if addr.hasPrefix(":") { addr = "127.0.0.1" + addr }
        return ("http://" + (url ?? addr), "/health/ready")
    }
}
