import Foundation
import Testing
@testable import Membership

/// The process provider touches only directories it made, under its base, and deletes a
/// destroyed node's data only after keeping it aside (issue 10, items 1 and 5).

private func tempBase(_ tag: String) throws -> (root: String, base: String) {
    let root = NSTemporaryDirectory() + "autochain-\(tag)-\(UInt32.random(in: 0...UInt32.max))"
    let base = root + "/data/nodes"
    try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    return (root, base)
}

private func provider(_ base: String) -> ProcessProvider {
    ProcessProvider(baseDir: base, binary: "/bin/false", configPath: nil, registryURL: "", clusterToken: "", logLevel: "info")
}

@Test func processProvider_destroyOfAnIdOutsideTheGrammar_touchesNothing() throws {
    let (root, base) = try tempBase("contain")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let sibling = root + "/data/precious"
    try FileManager.default.createDirectory(atPath: sibling, withIntermediateDirectories: true)
    let p = provider(base)
    for id in ["..", ".", "../precious", "/", "", "a/../..", "Node1", String(repeating: "a", count: 64)] {
        p.destroy(id)
        #expect(!p.hasData(id))
        #expect(p.dataDir(id) == nil, "\(id) must not name a directory")
    }
    #expect(FileManager.default.fileExists(atPath: sibling), "the parent of the data dir's sibling is untouched")
    #expect(FileManager.default.fileExists(atPath: base), "the base itself is untouched")
}

@Test func processProvider_destroy_setsTheDataAside_notDeleted() throws {
    let (root, base) = try tempBase("aside")
    defer { try? FileManager.default.removeItem(atPath: root) }
    try FileManager.default.createDirectory(atPath: base + "/node4", withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: base + "/node4/chain.db", contents: Data("blocks".utf8))
    let p = provider(base)
    #expect(p.knownNodes() == ["node4"])
    p.destroy("node4")
    #expect(!FileManager.default.fileExists(atPath: base + "/node4"))
    let aside = try FileManager.default.contentsOfDirectory(atPath: base + "/.retired")
    #expect(aside.count == 1 && aside[0].hasPrefix("node4-"))
    #expect(FileManager.default.contents(atPath: base + "/.retired/\(aside[0])/chain.db") == Data("blocks".utf8))
    #expect(p.knownNodes().isEmpty, "set-aside data is no node's")
}

@Test func processProvider_purgeSetAside_deletesOnlyEntriesKeptLongEnough() throws {
    let (root, base) = try tempBase("purge")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let aside = base + "/.retired"
    for name in ["node1-1000", "node2-5000", "not-a-stamp-x", "Weird-100"] {
        try FileManager.default.createDirectory(atPath: aside + "/" + name, withIntermediateDirectories: true)
    }
    let p = provider(base)
    #expect(p.purgeSetAside(keepS: 86_400, nowUnixS: 1000 + 86_399).isEmpty, "kept less than a day")
    #expect(p.purgeSetAside(keepS: 86_400, nowUnixS: 1000 + 86_400) == ["node1-1000"])
    #expect(p.purgeSetAside(keepS: 0, nowUnixS: 1e12) == ["node2-5000"], "names it cannot read stay")
    #expect(try FileManager.default.contentsOfDirectory(atPath: aside).sorted() == ["Weird-100", "not-a-stamp-x"])
}

@Test func setAsideName_readsOnlyAnIdAndATime() {
    #expect(SetAsideName.unixSeconds("node3-1732700000") == 1_732_700_000)
    #expect(SetAsideName.unixSeconds("my-node-3-42") == 42)
    #expect(SetAsideName.unixSeconds("node3-99999999999999999999") == nil, "more digits than a time")
    #expect(SetAsideName.unixSeconds("node3-") == nil)
    #expect(SetAsideName.unixSeconds("-5") == nil)
    #expect(SetAsideName.unixSeconds("..-5") == nil)
}
