import Testing
@testable import Chain

/// RFC 6962 §2.1, written as literally as possible.
private func naiveRoot(_ d: ArraySlice<Hash32>) -> Hash32 {
    if d.isEmpty { return Crypto.sha256([]) }
    if d.count == 1 { return Crypto.sha256([0x00] + d.first!.bytes) }
    var k = 1
    while k * 2 < d.count { k *= 2 }
    let left = naiveRoot(d.prefix(k)), right = naiveRoot(d.dropFirst(k))
    return Crypto.sha256([0x01] + left.bytes + right.bytes)
}

@Test func merkle_matchesNaiveRfc6962ReferenceForSizes0Through70() {
    let leaves = (0..<70).map { Crypto.sha256([UInt8($0)]) }
    for n in 0...70 {
        #expect(Merkle.root(Array(leaves.prefix(n))) == naiveRoot(leaves.prefix(n)[...]), "n = \(n)")
    }
}

@Test func merkle_emptyRootIsSha256OfNothing() {
    #expect(Merkle.root([]) == Crypto.sha256([]))
}

@Test func merkle_singleLeafIsDomainSeparatedFromTheLeafItself() {
    let h = Crypto.sha256([1])
    #expect(Merkle.root([h]) == Crypto.sha256([0] + h.bytes))
    #expect(Merkle.root([h]) != h)
}

@Test func merkle_orderMatters() {
    let a = Crypto.sha256([1]), b = Crypto.sha256([2])
    #expect(Merkle.root([a, b]) != Merkle.root([b, a]))
}
