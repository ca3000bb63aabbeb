import Chain
import FoundationEssentials
import Glibc

/// `autochain <command> [options]`: every part of the system is one binary.
let commands: [(name: String, summary: String, run: @Sendable ([String]) throws(CLIError) -> Void)] = [
    ("node", "run a ledger node", NodeCommand.run),
    ("keygen", "write a new key file (or the development key with --dev)", KeygenCommand.run),
    ("transfer", "sign and submit a transfer", TransferCommand.run),
    ("status", "show a node's head, role, mempool and peers", StatusCommand.run),
    ("bench", "measure committed transfers/s and submit-to-commit latency", BenchCommand.run),
    ("load", "send transfers at the rates of a phase script (ramp, hold, spike), a line a second", LoadCommand.run),
    ("bench-decide", "time the autoscaler's decide over a synthetic 1,000-node cluster", BenchDecideCommand.run),
    ("cluster", "run a local N-node cluster as child processes", ClusterCommand.run),
    ("members", "list or change the cluster's membership", MembersCommand.run),
    ("registry", "run the registry: discovery, health, autoscaler, node spawning", RegistryCommand.run),
    ("up", "run a self-healing local cluster (registry + N node processes)", UpCommand.run),
    ("gateway", "serve one REST address forwarding to the live nodes a registry lists", GatewayCommand.run),
    ("nginx-config", "write an nginx configuration (TLS optional) for the live nodes a registry lists", NginxConfigCommand.run),
    ("nodes", "list the nodes a registry knows", RegistryClientCommands.nodes),
    ("scale", "ask the registry for N nodes", RegistryClientCommands.scale),
    ("events", "show the registry's scaling events", RegistryClientCommands.events),
    ("health", "exit 0 when a node answers /health/ready (the image's HEALTHCHECK)", HealthCommand.run),
    ("recover", "force a new single-voter cluster from one node's data (last resort)", RecoverCommand.run),
]

func topUsage() -> String {
    var lines = ["usage: autochain <command> [options]", "", "commands:"]
    let width = (commands.map(\.name.count).max() ?? 0) + 2
    for c in commands { lines.append("  " + c.name.padded(toLength: width) + c.summary) }
    lines.append("")
    lines.append("'autochain <command> --help' describes a command.")
    return lines.joined(separator: "\n")
}

// Every line reaches its reader at once, also when stdout is a file or a pipe (a service
// manager, `autochain up > up.log`, CI): C's default there is block buffering.
lineBufferStandardOutput()

let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first, name != "--help", name != "-h", name != "help" else {
    print(topUsage())
    exit(arguments.isEmpty ? 2 : 0)
}
guard let command = commands.first(where: { $0.name == name }) else {
    StandardStream.error.write("autochain: unknown command '\(name)'\n\(topUsage())\n")
    exit(2)
}
do {
    try command.run(Array(arguments.dropFirst()))
    exit(0)
} catch {
    switch error {
    case .help(let text):
        print(text)
    case .usage(let reason), .failed(let reason):
        StandardStream.error.write("autochain \(name): \(reason)\n")
    }
    exit(error.exitCode)
}
