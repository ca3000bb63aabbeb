import Chain
import Foundation
import P2P
import Synchronization
import Testing

/// A real `autochain node` process on loopback with its own data directory, for tests.
final class NodeProcess: @unchecked Sendable {
    // Unchecked: tests drive one NodeProcess from one task at a time.
    let dataDir: String
    let apiAddr: String
    let configPath: String?
    private(set) var process: Process?
    private(set) var logPath: String

    static var binary: String {
        if let env = ProcessInfo.processInfo.environment["AUTOCHAIN_BIN"] { return env }
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [runner, runner.deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("autochain").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/autochain").path
    }

    /// A fresh data directory and a free loopback port.
    /// `logPath` defaults to `node.log` in the data directory.
    init(dataDir: String? = nil, config: String? = nil, logPath: String? = nil) throws {
        self.dataDir = dataDir ?? TestDirs.make("node")
        try FileManager.default.createDirectory(atPath: self.dataDir, withIntermediateDirectories: true)
        apiAddr = "127.0.0.1:\(try freePort())"
        configPath = config
        self.logPath = logPath ?? self.dataDir + "/node.log"
    }

    var url: String { "http://\(apiAddr)" }

    /// The cluster credential every process a test starts is given (AUTOCHAIN_CLUSTER_TOKEN),
    /// unless the test passes its own environment.
    static let testCredential = "test-cluster-credential-0123456789abcdef"
    /// The header that carries `testCredential` on mutating calls.
    static let authorization = ("Authorization", "Bearer " + testCredential)

    /// Starts the node and (unless `waitUntilReady` is false) waits, bounded, until it answers /health/ready.
    func start(extraArgs: [String] = [], environment: [String: String] = [:], waitUntilReady: Bool = true) throws {
        precondition(process == nil, "already running")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        var args = ["node", "--data-dir", dataDir, "--api-addr", apiAddr, "--p2p-addr", "127.0.0.1:0"]
        if let configPath { args += ["--config", configPath] }
        p.arguments = args + extraArgs
        var env = ProcessInfo.processInfo.environment
        env["AUTOCHAIN_CLUSTER_TOKEN"] = Self.testCredential
        for (k, v) in environment { env[k] = v }
        p.environment = env
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)!
        log.seekToEndOfFile()
        p.standardError = log
        p.standardOutput = log
        try p.run()
        process = p
        if waitUntilReady { try waitReady(timeout: 60) }
    }

    func waitReady(timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let r = try? request("GET", "/health/ready"), r.status == 200 { return }
            if let p = process, !p.isRunning {
                throw TestFailure("node exited with \(p.terminationStatus) before it was ready:\n\(tailOfLog())")
            }
            usleep(20_000)
        }
        throw TestFailure("node not ready after \(timeout) s:\n\(tailOfLog())")
    }

    func kill9() {
        guard let p = process else { return }
        Foundation.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    func stop() {
        guard let p = process else { return }
        p.stopBounded()
        process = nil
    }

    deinit { if let p = process, p.isRunning { Foundation.kill(p.processIdentifier, SIGKILL) } }

    func tailOfLog() -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(30).joined(separator: "\n")
    }

    func request(_ method: String, _ path: String, body: [UInt8] = [], headers: [(String, String)] = []) throws -> HTTPClientResponse {
        let client = try HTTPClient(baseURL: url)
        var all = HTTPHeaders(headers)
        // As every real client does: a body is JSON (the node refuses other media types on writes).
        if !body.isEmpty, all["Content-Type"] == nil { all.add("Content-Type", "application/json") }
        return try client.request(method: method, path: path, headers: all, body: body, timeout: .seconds(30))
    }

    /// A JSON call; `authorized` adds the test cluster credential (mutating membership calls).
    func json(_ method: String, _ path: String, _ body: JSON? = nil, authorized: Bool = false) throws -> (status: Int, body: JSON) {
        let r = try request(method, path, body: body?.serialized() ?? [], headers: authorized ? [Self.authorization] : [])
        return (r.status, (try? JSON.parse(r.body)) ?? .null)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

enum TestDirs {
    static func make(_ prefix: String) -> String {
        let path = NSTemporaryDirectory() + "autochain-test-\(prefix)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// Ports handed to the processes a test starts. They come from below the kernel's ephemeral range
/// (`ip_local_port_range`, 32768-60999 on Debian): a port the kernel picked for a bind to port 0
/// and that we then released can be taken again as the local port of any outgoing connection
/// before the child process binds it ("Address already in use" once on a loaded machine). Below
/// that range only an explicit bind takes a port, so each candidate is walked once per test
/// process (from an offset of its own, so two suites at once rarely walk the same ports) and
/// probed with a bind before it is handed out.
enum TestPorts {
    static let range = 20_000..<32_768
    private static let next = Mutex<Int>(Int(getpid() &* 7_919) % (range.count))

    static func take() throws -> Int {
        for _ in 0..<range.count {
            let port = next.withLock { n in
                defer { n = (n + 1) % range.count }
                return range.lowerBound + n
            }
            if canBind(port) { return port }
        }
        throw TestFailure("no free port in \(range)")
    }

    private static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

/// A port free right now that no outgoing connection can take before the process we start binds
/// it (see `TestPorts`).
func freePort() throws -> Int { try TestPorts.take() }

extension Process {
    /// SIGTERM, then SIGKILL if the process has not exited `graceS` seconds later; true when it
    /// exited on its own. Never waits unbounded: a process that lost the signal cannot hang a test.
    @discardableResult
    func stopBounded(graceS: Double = 10) -> Bool {
        terminate()
        let deadline = Date().addingTimeInterval(graceS)
        while isRunning && Date() < deadline { usleep(10_000) }
        let exitedOnItsOwn = !isRunning
        if !exitedOnItsOwn { Foundation.kill(processIdentifier, SIGKILL) }
        waitUntilExit()
        return exitedOnItsOwn
    }
}
