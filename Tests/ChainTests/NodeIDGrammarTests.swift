import Foundation
import Testing
@testable import Chain

@Suite struct NodeIDGrammarTests {
    @Test func nodeID_acceptsTheGrammar() {
        for id in ["n1", "node2", "0", "a-b-c", String(repeating: "a", count: 63), "node-10"] {
            #expect(NodeIDGrammar.isValid(id), "\(id)")
        }
    }

    @Test func nodeID_refusesWhatCouldBecomeAPathOrALabelInjection() {
        let bad = ["", "..", ".", "../x", "a/b", "-a", "A", "node_1", "n.1", "n 1", "n\u{0}", "é",
                   String(repeating: "a", count: 64), "n1\n", "%2e%2e"]
        for id in bad { #expect(!NodeIDGrammar.isValid(id), "\(id.debugDescription)") }
    }

    @Test func containedPath_staysUnderItsBase() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("contained-\(getpid())").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let child = try #require(ContainedPath.child(of: base, named: "node1"))
        #expect(child.hasSuffix("/node1"))
        #expect(URL(fileURLWithPath: child).deletingLastPathComponent().path
                == URL(fileURLWithPath: base).resolvingSymlinksInPath().path)
        for name in ["..", ".", "../etc", "a/../..", ""] { #expect(ContainedPath.child(of: base, named: name) == nil) }
        #expect(ContainedPath.child(of: "", named: "node1") == nil)
    }
}
