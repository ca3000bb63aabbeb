import Foundation
import Synchronization
import Testing
@testable import Membership

/// A node the registry just spawned may not listen yet when the registry, not having heard from
/// it, asks for it again (a restart). The provider must hand back the process it has, never start
/// a second one on the same data directory.
@Test func processProvider_startOfANodeWhoseChildStillRuns_isThatChild() throws {
    let dir = NSTemporaryDirectory() + "autochain-start-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // A "node" that never binds its API port: it lives a minute (stopAll ends it), so that on a busy
    // machine it is surely still running at the second start: 3 s could pass before it.
    let binary = dir + "/slow-node"
    try "#!/bin/sh\nexec sleep 60\n".write(toFile: binary, atomically: true, encoding: .utf8)
    chmod(binary, 0o755)
    let provider = ProcessProvider(baseDir: dir + "/nodes", binary: binary, configPath: nil, registryURL: "", clusterToken: "", logLevel: "info")
    defer { provider.stopAll() }
    let first = try provider.start("node1", bootstrap: false, peers: [])
    let pid = try #require(provider.pid("node1"))
    let again = try provider.start("node1", bootstrap: false, peers: [])
    #expect(provider.pid("node1") == pid)
    #expect(again.apiUrl == first.apiUrl && again.p2pAddr == first.p2pAddr)
    #expect(provider.isRunning("node1"))
}

/// A "node" that takes `stopS` seconds to exit after SIGTERM (as a leader handing over does), or
/// ignores SIGTERM when `stopS` is nil; it never binds a port. It creates `dir/trap-set` once
/// its SIGTERM handling is in place.
private func slowStoppingNode(in dir: String, stopS: Int?) throws -> String {
    let binary = dir + "/slow-stop-node"
    let onTerm = stopS.map { "sleep \($0); exit 0" } ?? ""
    try "#!/bin/sh\ntrap '\(onTerm)' TERM\ntouch '\(dir)/trap-set'\nwhile :; do sleep 1; done\n"
        .write(toFile: binary, atomically: true, encoding: .utf8)
    chmod(binary, 0o755)
    return binary
}

/// Waits (at most 30 s) until the slow node has set up its SIGTERM handling.
private func waitForTrap(in dir: String) throws {
    let deadline = Date().addingTimeInterval(30)
    while !FileManager.default.fileExists(atPath: dir + "/trap-set") && Date() < deadline { usleep(10_000) }
    try #require(FileManager.default.fileExists(atPath: dir + "/trap-set"))
}

/// Regression: the grace was 5 s while a stopping leader may take 8 s (3 s transfer wait, 5 s
/// hand-over of stranded transfers); a node that needs 6 s must exit on its own, not be killed.
@Test func processProvider_stop_letsANodeThatNeedsSixSecondsExitOnItsOwn() throws {
    let dir = NSTemporaryDirectory() + "autochain-grace-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let provider = ProcessProvider(baseDir: dir + "/nodes", binary: try slowStoppingNode(in: dir, stopS: 6), configPath: nil,
                                   registryURL: "", clusterToken: "", logLevel: "info")
    let exits = Mutex<[Int32]>([])
    provider.onExit { _, status in exits.withLock { $0.append(status) } }
    defer { provider.stopAll() }
    _ = try provider.start("node1", bootstrap: false, peers: [])
    try waitForTrap(in: dir)
    provider.stop("node1")
    #expect(!provider.isRunning("node1"))
    let deadline = Date().addingTimeInterval(5)
    while exits.withLock({ $0.isEmpty }) && Date() < deadline { usleep(10_000) }
    #expect(exits.withLock { $0 } == [0], "exit status 0: it finished its stop, not SIGKILL (9)")
}

/// A node that ignores SIGTERM is killed once its configured grace is over.
@Test func processProvider_stop_killsANodeThatIgnoresSIGTERM_afterItsGrace() throws {
    let dir = NSTemporaryDirectory() + "autochain-grace-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let provider = ProcessProvider(baseDir: dir + "/nodes", binary: try slowStoppingNode(in: dir, stopS: nil), configPath: nil,
                                   registryURL: "", clusterToken: "", logLevel: "info", stopGraceS: 1)
    defer { provider.stopAll() }
    _ = try provider.start("node1", bootstrap: false, peers: [])
    try waitForTrap(in: dir)
    let started = Date()
    provider.stop("node1")
    let tookS = Date().timeIntervalSince(started)
    #expect(!provider.isRunning("node1"))
    #expect(tookS >= 1 && tookS < Double(NodeStopGrace.defaultS), "killed after its 1 s grace, not the default")
}
