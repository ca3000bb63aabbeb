import Chain
import FoundationEssentials
import Glibc
import Membership
import P2P

/// `autochain gateway`: one stable REST address in front of the nodes a registry knows (also
/// run inside `autochain up`). Forwarding and retry rules: `Gateway`, `GatewayRouting`.
enum GatewayCommand {
    static let spec = CommandSpec(name: "gateway", summary: "Serve one REST address that forwards to the live nodes a registry lists.", options: [
        .init(name: "registry", valueName: "URL", help: "registry whose GET /discover lists the nodes (default http://127.0.0.1:9090)"),
        .init(name: "addr", valueName: "HOST:PORT", help: "listen address (default: [gateway] addr, 127.0.0.1:8080)"),
        .init(name: "config", valueName: "FILE", help: "configuration file (the [gateway] section: bounds and timeouts)"),
        .init(name: "log-level", valueName: "LEVEL", help: "debug, info, warn or error"),
    ])

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        if let level = parsed.string("log-level") {
            do { Logger.level = try LogLevel(parsing: level) } catch { throw .usage("\(error)") }
        }
        var settings = try GatewayConfig.load(file: parsed.string("config"))
        if let registry = parsed.string("registry") { settings.registryURL = registry }
        if let addr = parsed.string("addr") { settings.addr = addr }
        let signals = TerminationSignals()
        let (gateway, bound) = try start(settings, fallBackWhenTaken: false)
        print("gateway: http://\(bound) forwards to the nodes of \(settings.registryURL)/discover; Ctrl-C stops it")
        NodeCommand.waitForTerminationSignal(caughtBy: signals)
        gateway.stop()
    }

    /// Starts a gateway on `settings.addr`. With `fallBackWhenTaken`, an address in use is said so
    /// and a free port on the same host is taken instead (`autochain up` must come up regardless).
    static func start(_ settings: GatewaySettings, fallBackWhenTaken: Bool) throws(CLIError) -> (Gateway, SocketAddress) {
        // The URL's form only: its name is looked up by the discovery thread, again and again,
        // so a registry whose name is not there yet (a Swarm stack starting) is waited for.
        guard settings.registryURL.hasPrefix("unix:") || GatewayNodeURL(parsing: settings.registryURL) != nil else {
            throw .usage("registry URL: \(settings.registryURL) is not http://host:port")
        }
        let address: SocketAddress
        do { address = try SocketAddress(parsing: settings.addr) } catch { throw .usage("gateway address \(settings.addr): \(error)") }
        let gateway = Gateway(settings: settings)
        do {
            return (gateway, try gateway.start(bindTo: address))
        } catch {
            guard fallBackWhenTaken, case .system(_, let code, _) = error, code == EADDRINUSE else {
                throw .failed("gateway cannot listen on \(settings.addr): \(error)")
            }
            print("gateway: \(settings.addr) is already in use by another process; taking a free port instead (--gateway-addr sets it)")
            do { return (gateway, try gateway.start(bindTo: address.withPort(0))) } catch {
                throw .failed("gateway cannot listen on \(address.withPort(0)): \(error)")
            }
        }
    }
}
