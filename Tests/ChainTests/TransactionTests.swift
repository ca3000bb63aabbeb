import Testing
@testable import Chain

private let alice = testKey(1)
private let bob = testKey(2)

@Test func tx_signedBytesFollowTheDocumentedLayout() {
    let tx = transfer(alice, to: bob.address, amount: 0x0102, fee: 3, nonce: 4, chainId: "c")
    var expected = Array("autochain-tx-v1".utf8) + [0, 0, 0, 1] + Array("c".utf8)
    expected += alice.address.bytes + bob.address.bytes
    expected += [0, 0, 0, 0, 0, 0, 1, 2] + [0, 0, 0, 0, 0, 0, 0, 3] + [0, 0, 0, 0, 0, 0, 0, 4]
    #expect(tx.signedBytes == expected)
}

@Test func tx_hashIsSha256OfSignedBytesAndSignature() {
    let tx = transfer(alice, to: bob.address)
    #expect(tx.hash == Crypto.sha256(tx.signedBytes + tx.signature.bytes))
}

@Test func tx_signedVerifiesAndAnyFieldChangeBreaksSignature() {
    let tx = transfer(alice, to: bob.address, amount: 5, fee: 1, nonce: 0)
    #expect(tx.verifySignature())
    let forged = Transaction(chainId: tx.chainId, from: tx.from, to: tx.to, amount: 6, fee: tx.fee,
                             nonce: tx.nonce, pubkey: tx.pubkey, signature: tx.signature)
    #expect(!forged.verifySignature())
    #expect(forged.hash != tx.hash)
}

@Test func tx_checkStatelessAcceptsValidTransfer() throws {
    try transfer(alice, to: bob.address).checkStateless(chainId: testChain)
}

@Test func tx_checkStatelessRejectsEachRule() {
    #expect(throws: TxRejection.wrongChain(expected: "other", got: testChain)) {
        try transfer(alice, to: bob.address).checkStateless(chainId: "other")
    }
    #expect(throws: TxRejection.zeroAmount) { try transfer(alice, to: bob.address, amount: 0).checkStateless(chainId: testChain) }
    #expect(throws: TxRejection.selfTransfer) { try transfer(alice, to: alice.address).checkStateless(chainId: testChain) }
    #expect(throws: TxRejection.amountTooLarge("amount exceeds 2^53-1")) {
        try transfer(alice, to: bob.address, amount: Limits.maxSupply + 1).checkStateless(chainId: testChain)
    }
    #expect(throws: TxRejection.amountTooLarge("fee exceeds 2^53-1")) {
        try transfer(alice, to: bob.address, fee: Limits.maxSupply + 1).checkStateless(chainId: testChain)
    }
}

@Test func tx_checkStatelessRejectsFromThatIsNotThePubkeysAddress() {
    let good = transfer(alice, to: bob.address)
    let tx = Transaction(chainId: good.chainId, from: bob.address, to: alice.address, amount: 1, fee: 0,
                         nonce: 0, pubkey: alice.publicKey, signature: good.signature)
    #expect(throws: TxRejection.fromMismatch(from: bob.address, pubkeyAddress: alice.address)) {
        try tx.checkStateless(chainId: testChain)
    }
}

@Test func tx_checkStatelessRejectsBadSignatureLast() {
    let good = transfer(alice, to: bob.address)
    let tx = Transaction(chainId: good.chainId, from: good.from, to: good.to, amount: good.amount, fee: good.fee,
                         nonce: good.nonce + 1, pubkey: good.pubkey, signature: good.signature)
    #expect(throws: TxRejection.badSignature) { try tx.checkStateless(chainId: testChain) }
}

@Test func tx_verifyAllMatchesSequentialVerification() {
    var txs = (0..<150).map { transfer(alice, to: bob.address, nonce: UInt64($0)) }
    for i in [0, 63, 64, 149] {
        let t = txs[i]
        txs[i] = Transaction(chainId: t.chainId, from: t.from, to: t.to, amount: t.amount + 1, fee: t.fee,
                             nonce: t.nonce, pubkey: t.pubkey, signature: t.signature)
    }
    #expect(Transaction.verifyAll(txs) == txs.map { $0.verifySignature() })
    #expect(Transaction.verifyAll([]) == [])
}

@Test func tx_binaryCodecRoundTrips() throws {
    let txs = [transfer(alice, to: bob.address, amount: 77, fee: 2, nonce: 9), transfer(bob, to: alice.address)]
    var bytes: [UInt8] = []
    for tx in txs { tx.encode(into: &bytes) }
    var reader = ByteReader(bytes)
    #expect(try Transaction.decode(&reader) == txs[0])
    #expect(try Transaction.decode(&reader) == txs[1])
    try reader.expectEnd()
}

@Test func tx_binaryDecodeRejectsTruncationAndBadChainIdLength() {
    var bytes: [UInt8] = []
    transfer(alice, to: bob.address).encode(into: &bytes)
    for cut in [0, 1, 10, bytes.count - 1] {
        var reader = ByteReader(Array(bytes.prefix(cut)))
        #expect(throws: DecodeError.self) { try Transaction.decode(&reader) }
    }
    var zeroLength = ByteReader([0] + bytes.dropFirst())
    #expect(throws: DecodeError.invalidValue(offset: 0, what: "chainId length")) { try Transaction.decode(&zeroLength) }
}

@Test func txRejection_codesAreUniqueAndStatusesAreClientErrorsOrThrottling() {
    let all: [TxRejection] = [
        .invalidJSON(""), .missingField(""), .invalidField(field: "", reason: ""), .invalidHex(field: "", reason: ""),
        .hashMismatch(claimed: .zero, computed: .zero), .wrongChain(expected: "", got: ""), .badSignature,
        .fromMismatch(from: .zero, pubkeyAddress: .zero), .zeroAmount, .selfTransfer, .amountTooLarge("too large"),
        .nonceTooLow(expected: 0, got: 0), .nonceTooFar(maxAllowed: 0, got: 0), .nonceConflict(nonce: 0),
        .alreadyKnown(.zero), .insufficientFunds(available: 0, needed: 0), .senderQueueFull(limit: 0),
        .mempoolFull(limit: 0),
    ]
    #expect(Set(all.map(\.code)).count == all.count)
    #expect(all.allSatisfy { (400..<500).contains($0.httpStatus) || $0.httpStatus == 503 })
    #expect(TxRejection.senderQueueFull(limit: 1).httpStatus == 429)
    #expect(TxRejection.mempoolFull(limit: 1).httpStatus == 503)
    #expect(all.allSatisfy { !$0.message.isEmpty })
}

@Test func txRejection_everyCodeHasItsRowInTheStatusTable() {
    let all: [TxRejection] = [
        .invalidJSON(""), .missingField(""), .invalidField(field: "", reason: ""), .invalidHex(field: "", reason: ""),
        .hashMismatch(claimed: .zero, computed: .zero), .wrongChain(expected: "", got: ""), .badSignature,
        .fromMismatch(from: .zero, pubkeyAddress: .zero), .zeroAmount, .selfTransfer, .amountTooLarge("too large"),
        .nonceTooLow(expected: 0, got: 0), .nonceTooFar(maxAllowed: 0, got: 0), .nonceConflict(nonce: 0),
        .alreadyKnown(.zero), .insufficientFunds(available: 0, needed: 0), .senderQueueFull(limit: 0),
        .mempoolFull(limit: 0), .expired(seconds: 1),
    ]
    for rejection in all { #expect(TxRejection.httpStatus(ofCode: rejection.code) != nil, "\(rejection.code)") }
    #expect(TxRejection.httpStatus(ofCode: "draining") == nil, "not a transfer's refusal")
}

/// `ErrorCodes` is the one table from error code to HTTP status: every code has exactly one row
/// (transfer refusals in TxRejection's part, the rest in ErrorCodes' own), and each is an error.
@Test func errorCodes_everyCodeHasExactlyOneRow() {
    let all = ErrorCodes.allCodes
    #expect(Set(all).count == all.count, "a code with two rows: \(all.filter { c in all.filter { $0 == c }.count > 1 })")
    for code in all {
        let status = ErrorCodes.status(of: code)
        #expect(status.map { (400..<600).contains($0) } == true, "\(code)")
    }
    for code in TxRejection.codes { #expect(ErrorCodes.status(of: code) == TxRejection.httpStatus(ofCode: code), "\(code)") }
    #expect(ErrorCodes.status(of: "made_up") == nil, "a code that is none of ours has no status")
}

/// TxRejection.codes lists every refusal's code (ErrorCodes.allCodes counts on it).
@Test func txRejection_codesListsEveryRefusal() {
    let all: [TxRejection] = [
        .invalidJSON(""), .missingField(""), .invalidField(field: "", reason: ""), .invalidHex(field: "", reason: ""),
        .hashMismatch(claimed: .zero, computed: .zero), .wrongChain(expected: "", got: ""), .badSignature,
        .fromMismatch(from: .zero, pubkeyAddress: .zero), .zeroAmount, .selfTransfer, .amountTooLarge("too large"),
        .nonceTooLow(expected: 0, got: 0), .nonceTooFar(maxAllowed: 0, got: 0), .nonceConflict(nonce: 0),
        .alreadyKnown(.zero), .insufficientFunds(available: 0, needed: 0), .senderQueueFull(limit: 0),
        .mempoolFull(limit: 0), .expired(seconds: 1),
    ]
    #expect(Set(all.map(\.code)) == Set(TxRejection.codes))
    #expect(TxRejection.codes.count == all.count)
}
