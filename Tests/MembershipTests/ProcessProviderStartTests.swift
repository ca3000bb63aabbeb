import Foundation
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
