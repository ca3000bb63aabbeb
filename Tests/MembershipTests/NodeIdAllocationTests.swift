import Testing
@testable import Membership

/// Spawned nodes get `node<N>` above every number ever seen; IDs registered from outside are
/// read, never trusted to hold a number that fits.

@Test func nextId_isOneAboveTheHighestNumberSeen() {
    #expect(RegistryCore.nextId(after: []) == "node1")
    #expect(RegistryCore.nextId(after: ["node1", "node7", "other3"]) == "node8")
}

@Test func nextId_anIdWhoseNumberOverflowsAnIntegerIsIgnored_notATrap() {
    // Int("9223372036854775807") + 1 trapped: a registration of this ID followed by POST /scale
    // made the registry exit (issue 10, item 2).
    #expect(RegistryCore.nextId(after: ["node9223372036854775807", "node3"]) == "node4")
    #expect(RegistryCore.nextId(after: ["node99999999999999999999", "node2"]) == "node3")
}

@Test func nextId_signsAndNonDigitsNameNoNumber() {
    #expect(RegistryCore.nextId(after: ["node-1", "node+5", "node1a", "node"]) == "node1")
}

@Test func nextId_whenTheNumbersAreUsedUp_isNil() {
    #expect(RegistryCore.nextId(after: ["node\(RegistryCore.maxNodeNumber)"]) == nil)
    #expect(RegistryCore.nextId(after: ["node\(RegistryCore.maxNodeNumber - 1)"]) == "node\(RegistryCore.maxNodeNumber)")
}
