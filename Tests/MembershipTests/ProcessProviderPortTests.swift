import Foundation
import Testing
@testable import Membership

/// Fresh nodes get ports no other node of this provider has, and an API port distinct from their
/// P2P port (the kernel may call one port free twice in a row, and the node then cannot bind).
@Test func processProvider_handsOutEveryPortOnce() throws {
    let dir = NSTemporaryDirectory() + "autochain-ports-\(UInt32.random(in: 0...UInt32.max))"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let provider = ProcessProvider(baseDir: dir, binary: "/bin/false", configPath: nil, registryURL: "", clusterToken: "", logLevel: "info")
    var seen = Set<String>()
    for i in 1...40 {
        let (api, p2p) = try provider.ports(for: "node\(i)")
        #expect(api != p2p)
        #expect(seen.insert(api).inserted && seen.insert(p2p).inserted)
    }
    #expect(seen.count == 80)
}
