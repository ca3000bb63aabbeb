import Chain
import Dispatch
import Foundation
import P2P
import Synchronization
import Testing
@testable import NodeMain

/// The follower's table of `txs` requests waiting for the leader's answer.
@Suite("LeaderForwards") struct LeaderForwardsTests {
    /// Collects the outcomes a completion receives.
    final class Outcomes: Sendable {
        let list = Mutex<[LeaderForwards.Outcome]>([])
        var count: Int { list.withLock { $0.count } }
        var codes: [String] {
            list.withLock { $0.map { if case .failed(let e) = $0 { e.code } else { "answered" } } }
        }
        func record(_ o: LeaderForwards.Outcome) { list.withLock { $0.append(o) } }
    }

    @Test func anAnswerCompletesItsRequestOnce_laterAnswersAndTimeoutsAreIgnored() throws {
        let table = LeaderForwards(limit: 4, timeoutMs: 50)
        let seen = Outcomes()
        let id = try #require(table.open(peer: "n1", count: 1) { seen.record($0) })
        table.answer(id, from: "n1", .results([.admitted]))
        table.answer(id, from: "n1", .results([.admitted]))
        Thread.sleep(forTimeInterval: 0.2)  // past the timeout: it must not fire a second time
        #expect(seen.codes == ["answered"])
        #expect(table.count == 0)
    }

    @Test func anAnswerFromAnotherPeerOrWithTheWrongResultCountIsNoAnswer() throws {
        let table = LeaderForwards(limit: 4, timeoutMs: 60_000)
        let seen = Outcomes()
        let id = try #require(table.open(peer: "n1", count: 2) { seen.record($0) })
        table.answer(id, from: "n2", .results([.admitted, .admitted]))
        table.answer(id, from: "n1", .results([.admitted]))
        #expect(seen.count == 0 && table.count == 1)
        table.answer(id, from: "n1", .refused(code: "not_leader", message: "", leaderHint: "n3"))
        #expect(seen.codes == ["answered"])
    }

    @Test func noAnswerWithinTheTimeout_fails504LeaderTimeout() throws {
        let table = LeaderForwards(limit: 4, timeoutMs: 20)
        let seen = Outcomes()
        _ = try #require(table.open(peer: "n1", count: 1) { seen.record($0) })
        let deadline = Date().addingTimeInterval(30)
        while seen.count == 0, Date() < deadline { usleep(5_000) }
        #expect(seen.codes == ["leader_timeout"])
        if case .failed(let e)? = seen.list.withLock({ $0.first }) { #expect(e.status == 504) }
        #expect(table.count == 0)
    }

    @Test func theLinkClosing_failsEveryRequestOnIt503_andOnlyThose() throws {
        let table = LeaderForwards(limit: 4, timeoutMs: 60_000)
        let onN1 = Outcomes(), onN2 = Outcomes()
        _ = table.open(peer: "n1", count: 1) { onN1.record($0) }
        _ = table.open(peer: "n1", count: 1) { onN1.record($0) }
        _ = table.open(peer: "n2", count: 1) { onN2.record($0) }
        table.linkClosed("n1")
        #expect(onN1.codes == ["leader_unreachable", "leader_unreachable"])
        #expect(onN2.count == 0 && table.count == 1)
    }

    @Test func beyondItsLimit_aRequestFails503OverloadedAtOnce() throws {
        let table = LeaderForwards(limit: 2, timeoutMs: 60_000)
        let seen = Outcomes()
        #expect(table.open(peer: "n1", count: 1) { seen.record($0) } != nil)
        #expect(table.open(peer: "n1", count: 1) { seen.record($0) } != nil)
        #expect(table.open(peer: "n1", count: 1) { seen.record($0) } == nil)
        #expect(seen.codes == ["overloaded"])
        #expect(table.count == 2)
    }
}

@Suite("PeerWorkBudget") struct PeerWorkBudgetTests {
    @Test func eachPeerHasItsOwnShare_refusedBeyondIt_andGivenBackOnLeave() {
        let budget = PeerWorkBudget(limitPerPeer: 10)
        #expect(budget.enter("n1", units: 6))
        #expect(!budget.enter("n1", units: 5), "6 + 5 is over the share")
        #expect(budget.enter("n2", units: 10), "another peer's share is untouched")
        #expect(budget.enter("n1", units: 4))
        #expect(budget.refusedCount == 1)
        budget.leave("n1", units: 6)
        #expect(budget.units(of: "n1") == 4)
        #expect(budget.enter("n1", units: 6))
        #expect(!budget.enter("n3", units: 11), "a request larger than a whole share never fits")
    }
}

@Suite("JoinRelays") struct JoinRelaysTests {
    @Test func aRelayIsAnsweredOnce_boundedInNumber_andForgottenAfterItsTimeToLive() {
        let relays = JoinRelays(limit: 2, ttlNs: 1_000)
        #expect(relays.add("n4", newcomerLink: "n4", now: 0))
        #expect(relays.add("n5", newcomerLink: "n5", now: 0))
        #expect(!relays.add("n6", newcomerLink: "n6", now: 10), "at the limit")
        #expect(relays.add("n4", newcomerLink: "n4", now: 10), "asking again refreshes its own place")
        #expect(relays.take("n4", now: 20) == "n4")
        #expect(relays.take("n4", now: 20) == nil, "answered once")
        #expect(relays.take("n5", now: 5_000) == nil, "expired")
        #expect(relays.add("n6", newcomerLink: "n6", now: 5_000), "expired relays free their place")
    }
}

@Suite("ForwardedAnswers") struct ForwardedAnswerTests {
    /// The follower derives its caller's status from the leader's refusal code: it must be the
    /// status the leader itself would have answered.
    @Test func everyRefusalCodeMapsToTheStatusTheLeaderWouldAnswer() {
        let a = Address(bytes: [UInt8](repeating: 1, count: 20))!
        let all: [TxRejection] = [
            .invalidJSON("x"), .missingField("f"), .invalidField(field: "f", reason: "r"), .invalidHex(field: "f", reason: "r"),
            .hashMismatch(claimed: Hash32(bytes: [UInt8](repeating: 0, count: 32))!, computed: Hash32(bytes: [UInt8](repeating: 1, count: 32))!),
            .wrongChain(expected: "a", got: "b"), .badSignature, .fromMismatch(from: a, pubkeyAddress: a), .zeroAmount, .selfTransfer,
            .amountTooLarge("x"), .nonceTooLow(expected: 2, got: 1), .nonceTooFar(maxAllowed: 2, got: 9), .nonceConflict(nonce: 1),
            .alreadyKnown(Hash32(bytes: [UInt8](repeating: 0, count: 32))!), .insufficientFunds(available: 1, needed: 2),
            .senderQueueFull(limit: 1), .mempoolFull(limit: 1), .expired(seconds: 1),
        ]
        for rejection in all {
            #expect(NodeAPI.status(ofCode: rejection.code) == rejection.httpStatus, "\(rejection.code)")
        }
    }

    @Test func aForwardedSingleSubmitAnswersLikeTheLeader_withXForwardedTo() throws {
        let hash = Hash32(bytes: [UInt8](repeating: 7, count: 32))!
        let admitted = NodeAPI.forwardedAnswer(hash, .answered(.results([.admitted])), leader: "n1")
        #expect(admitted.status == 202 && admitted.headers["X-Forwarded-To"] == "n1")
        #expect(try JSON.parse(admitted.body)["status"]?.stringValue == "pending")
        let refused = NodeAPI.forwardedAnswer(hash, .answered(.results([ForwardedTxResult(code: "nonce_too_low", message: "used")])), leader: "n1")
        #expect(refused.status == 409 && refused.headers["X-Forwarded-To"] == "n1")
        #expect(try JSON.parse(refused.body)["error"]?["code"]?.stringValue == "nonce_too_low")
        let moved = NodeAPI.forwardedAnswer(hash, .answered(.refused(code: "not_leader", message: "", leaderHint: "n2")), leader: "n1")
        #expect(moved.status == 503)
        #expect(try JSON.parse(moved.body)["error"]?["code"]?.stringValue == "no_leader")
    }
}
