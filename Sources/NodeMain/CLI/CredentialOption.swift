import Chain
import FoundationEssentials

/// Where a command finds the cluster credential, first match wins:
/// `--token`, `--token-file`, env `AUTOCHAIN_CLUSTER_TOKEN`, env `AUTOCHAIN_CLUSTER_TOKEN_FILE`,
/// then `cluster-credential` in `--data-dir` (or the `make up` default, `./data/cluster`).
enum CredentialOption {
    static let tokenEnv = "AUTOCHAIN_CLUSTER_TOKEN"
    static let tokenFileEnv = "AUTOCHAIN_CLUSTER_TOKEN_FILE"
    /// The data directory `make up` and `autochain up` use when none is given.
    static let defaultDataDir = "./data/cluster"

    /// The options a client command takes to carry the credential.
    static let clientOptions: [CommandSpec.Option] = [
        .init(name: "token", valueName: "TOKEN", help: "cluster credential (env \(tokenEnv))"),
        .init(name: "token-file", valueName: "FILE", help: "file holding the cluster credential (env \(tokenFileEnv))"),
        .init(name: "data-dir", valueName: "DIR", help: "cluster data directory holding \(ClusterCredential.fileName) (default \(defaultDataDir))"),
    ]

    /// The credential given explicitly (flags or environment), or nil when none was.
    static func explicit(_ parsed: ParsedArguments, environment: [String: String]) throws(CLIError) -> ClusterCredential? {
        if let text = parsed.string("token") ?? environment[tokenEnv].flatMap({ $0.isEmpty ? nil : $0 }) {
            do { return try ClusterCredential(text) } catch { throw .usage("\(error)") }
        }
        if let path = parsed.string("token-file") ?? environment[tokenFileEnv].flatMap({ $0.isEmpty ? nil : $0 }) {
            do { return try ClusterCredential.load(path: path) } catch { throw .failed("\(error)") }
        }
        return nil
    }

    /// The credential a client command sends: explicit, else the one kept in the data directory.
    /// A command that mutates cannot run without one, so this fails with what to pass.
    static func forClient(_ parsed: ParsedArguments, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(CLIError) -> ClusterCredential {
        if let given = try explicit(parsed, environment: environment) { return given }
        let dir = parsed.string("data-dir") ?? defaultDataDir
        let path = URL(fileURLWithPath: dir).appendingPathComponent(ClusterCredential.fileName).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw .usage("this command changes the cluster and needs its credential: pass --token-file FILE, --token TOKEN, "
                + "set \(tokenEnv), or --data-dir DIR of the cluster (no \(path))")
        }
        do { return try ClusterCredential.load(path: path) } catch { throw .failed("\(error)") }
    }

    /// What a process that starts a cluster prints once, so its operator knows where the secret is.
    static func announce(_ path: String, created: Bool) -> String {
        (created ? "generated the cluster credential: " : "cluster credential: ") + path
            + " (0600). Mutating calls need it: `--token-file \(path)` on the CLI, "
            + "or `Authorization: Bearer $(cat \(path))` with curl"
    }
}
