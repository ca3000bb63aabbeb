import Testing
@testable import NodeMain

/// `autochain load --phases`: the script's syntax and the rates it sets over time.
@Suite("LoadSchedule") struct LoadScheduleTests {
    static let demo = "ramp:0-2000/30s,hold:2000/60s,spike:8000/10s,ramp:2000-0/30s"

    func parse(_ text: String) throws -> LoadSchedule { try LoadSchedule.parse(text) }

    func message(_ text: String) -> String {
        do { _ = try LoadSchedule.parse(text); return "" } catch { return error.message }
    }

    @Test func theDemoScriptParsesIntoFourPhases() throws {
        let s = try parse(Self.demo)
        #expect(s.phases == [
            LoadPhase(kind: .ramp, fromPerS: 0, toPerS: 2000, durationS: 30),
            LoadPhase(kind: .hold, fromPerS: 2000, toPerS: 2000, durationS: 60),
            LoadPhase(kind: .spike, fromPerS: 8000, toPerS: 8000, durationS: 10),
            LoadPhase(kind: .ramp, fromPerS: 2000, toPerS: 0, durationS: 30),
        ])
        #expect(s.totalS == 130)
    }

    @Test func spacesAroundPhasesAreIgnored() throws {
        #expect(try parse(" hold:10/1s , pause:2s ").phases.count == 2)
    }

    @Test func durationsTakeMillisecondsSecondsMinutesAndHours() throws {
        let s = try parse("hold:1/500ms,hold:1/1.5s,hold:1/2m,hold:1/1h")
        #expect(s.phases.map(\.durationS) == [0.5, 1.5, 120, 3600])
    }

    @Test func pauseIsAPhaseWithoutLoad() throws {
        let s = try parse("pause:5s")
        #expect(s.phases == [LoadPhase(kind: .pause, fromPerS: 0, toPerS: 0, durationS: 5)])
        #expect(s.totalTransfers == 0)
    }

    @Test func theCanonicalTextParsesBackToTheSameSchedule() throws {
        let s = try parse(Self.demo + ",pause:1.5s,hold:3/500ms,hold:1/2h")
        #expect(try parse(s.text) == s)
        #expect(s.text.hasPrefix("ramp:0-2000/30s,hold:2000/1m,spike:8000/10s,ramp:2000-0/30s,pause:1.5s,hold:3/500ms,hold:1/2h"))
    }

    // MARK: the rate over time

    @Test func aRampMovesLinearlyFromItsStartToItsEndRate() throws {
        let s = try parse("ramp:0-2000/30s")
        #expect(s.rate(atS: 0) == 0)
        #expect(s.rate(atS: 15) == 1000)
        #expect(abs(s.rate(atS: 29.999) - 2000) < 1)
    }

    @Test func rampsGoDownAsWellAsUp() throws {
        let s = try parse("ramp:2000-0/30s")
        #expect(s.rate(atS: 0) == 2000)
        #expect(s.rate(atS: 15) == 1000)
    }

    @Test func eachPhaseStartsWhereThePreviousOneEnded() throws {
        let s = try parse(Self.demo)
        #expect(s.rate(atS: 30) == 2000)   // hold begins
        #expect(s.rate(atS: 89.9) == 2000)
        #expect(s.rate(atS: 90) == 8000)   // spike begins
        #expect(s.rate(atS: 100) == 2000)  // ramp down begins
        #expect(s.phase(atS: 95)?.index == 2)
        #expect(s.phase(atS: 95)?.phase.kind == .spike)
    }

    @Test func theRateIsZeroBeforeTheStartAndAfterTheEnd() throws {
        let s = try parse("hold:100/10s")
        #expect(s.rate(atS: -1) == 0)
        #expect(s.rate(atS: 10) == 0)
        #expect(s.phase(atS: 10) == nil)
    }

    @Test func transfersDueAreTheIntegralOfTheRate() throws {
        let s = try parse(Self.demo)
        #expect(s.transfersDue(byS: 0) == 0)
        #expect(s.transfersDue(byS: 15) == 7_500)          // half a ramp to 1000/s: 15 * 1000 / 2
        #expect(s.transfersDue(byS: 30) == 30_000)         // the whole ramp: 30 * 2000 / 2
        #expect(s.transfersDue(byS: 90) == 150_000)        // + 60 s at 2000/s
        #expect(s.transfersDue(byS: 100) == 230_000)       // + 10 s at 8000/s
        #expect(s.transfersDue(byS: 130) == 260_000)       // + the ramp down
        #expect(s.transfersDue(byS: 1_000) == 260_000)     // nothing after the end
        #expect(s.totalTransfers == 260_000)
    }

    @Test func transfersDueNeverDecrease() throws {
        let s = try parse("ramp:0-37/3.3s,spike:901/0.7s,pause:1s,ramp:55-3/2s")
        var last = 0
        for step in 0...800 {
            let due = s.transfersDue(byS: Double(step) * 0.01)
            #expect(due >= last)
            last = due
        }
    }

    @Test func wholeSecondsOfAConstantRateAreExact() throws {
        let s = try parse("hold:3/1s,hold:2000/0.3s")
        #expect(s.transfersDue(byS: 1) == 3)
        #expect(s.transfersDue(byS: 1.3) == 603)
    }

    // MARK: refusals, each naming the phase and what was expected

    @Test func anEmptyScriptIsRefusedWithAnExample() {
        #expect(message("").contains("e.g."))
        #expect(message(" ").contains("empty"))
    }

    @Test func anUnknownPhaseKindIsNamed() {
        #expect(message("hold:1/1s,jump:3/3s") == "phase 2 'jump:3/3s': unknown phase 'jump'; expected ramp, hold, spike or pause")
    }

    @Test func aPhaseWithoutColonSaysWhatAPhaseLooksLike() {
        #expect(message("hold").contains("expected KIND:"))
    }

    @Test func aRampNeedsBothEnds() {
        #expect(message("ramp:5/3s").contains("expected ramp:FROM-TO/DURATION"))
        #expect(message("ramp:0-2000").contains("expected ramp:FROM-TO/DURATION"))
        #expect(message("ramp:-5/3s").contains("rate ''"))
    }

    @Test func ratesAreWholeNonNegativeNumbersWithinTheLimit() {
        #expect(message("hold:2k/3s").contains("rate '2k' must be a whole number"))
        #expect(message("hold:1.5/3s").contains("rate '1.5'"))
        #expect(message("hold:-1/3s").contains("rate '-1'"))
        #expect(message("hold:100001/3s").contains("from 0 to 100000"))
        #expect(message("hold:99999999999999999999999/3s").contains("must be a whole number"))
    }

    @Test func durationsNeedAUnitAndALengthWithinBounds() {
        #expect(message("hold:10/3").contains("must be a number with a unit"))
        #expect(message("hold:10/3x").contains("must be a number with a unit"))
        #expect(message("hold:10/s").contains("must be a number with a unit"))
        #expect(message("hold:10/1.2.3s").contains("must be a number with a unit"))
        #expect(message("hold:10/-3s").contains("must be a number with a unit"))
        #expect(message("hold:10/0s").contains("shorter than 100ms"))
        #expect(message("pause:1ms").contains("shorter than 100ms"))
        #expect(message("hold:10/25h").contains("longer than 24h"))
    }

    @Test func theWholeScriptIsBoundedInLengthAndPhases() {
        #expect(message(Array(repeating: "hold:1/12h", count: 3).joined(separator: ",")).contains("at most 24h"))
        #expect(message(Array(repeating: "pause:1s", count: LoadSchedule.maxPhases + 1).joined(separator: ","))
            .contains("at most \(LoadSchedule.maxPhases)"))
        #expect(message(Array(repeating: "pause:1s", count: LoadSchedule.maxPhases).joined(separator: ",")) == "")
    }

    @Test func anEmptyPhaseBetweenCommasIsRefused() {
        #expect(message("hold:1/1s,,pause:1s").hasPrefix("phase 2 ''"))
    }
}

/// The pacing of `autochain load`: what is due, sent once, and what is dropped when behind.
@Suite("LoadPacer") struct LoadPacerTests {
    @Test func claimsWhatIsDueOnce() {
        var p = LoadPacer()
        #expect(p.claim(due: 10, atMost: 100, maxBacklog: 100) == 10)
        #expect(p.claim(due: 10, atMost: 100, maxBacklog: 100) == 0)
        #expect(p.claim(due: 15, atMost: 100, maxBacklog: 100) == 5)
    }

    @Test func aClaimIsCappedAtABatch() {
        var p = LoadPacer()
        #expect(p.claim(due: 500, atMost: 200, maxBacklog: 1000) == 200)
        #expect(p.claim(due: 500, atMost: 200, maxBacklog: 1000) == 200)
        #expect(p.claim(due: 500, atMost: 200, maxBacklog: 1000) == 100)
    }

    @Test func transfersGivenBackAreDueAgain() {
        var p = LoadPacer()
        #expect(p.claim(due: 10, atMost: 100, maxBacklog: 100) == 10)
        p.giveBack(4)
        #expect(p.claim(due: 10, atMost: 100, maxBacklog: 100) == 4)
    }

    @Test func fallingBehindByMoreThanTheBacklogDropsTheExcessAsMissed() {
        var p = LoadPacer()
        #expect(p.claim(due: 1_000, atMost: 50, maxBacklog: 300) == 50)
        #expect(p.missed == 700)
        #expect(p.claim(due: 1_000, atMost: 1_000, maxBacklog: 300) == 250)
        #expect(p.missed == 700)
    }
}

/// The sending accounts of `autochain load`: nonces, windows, and recovery by rewinding.
@Suite("LoadAccounts") struct LoadAccountsTests {
    @Test func takesSpreadRoundRobinWithConsecutiveNonces() {
        var a = LoadAccounts(count: 3, windowPerAccount: 10)
        let picks = a.take(5, nowS: 0)
        #expect(picks.map(\.account) == [0, 1, 2, 0, 1] || picks.map(\.account) == [0, 1, 2, 1, 2])
        #expect(Set(picks.filter { $0.account == 1 }.map(\.nonce)) == [0, 1])
        #expect(a.inFlight == 5)
    }

    @Test func noAccountGoesBeyondItsWindow() {
        var a = LoadAccounts(count: 2, windowPerAccount: 3)
        #expect(a.take(10, nowS: 0).count == 6)
        #expect(a.take(1, nowS: 0).isEmpty)
        a.committed(account: 0, nonce: 0, nowS: 1)
        #expect(a.take(5, nowS: 1).map(\.account) == [0])
    }

    @Test func aCommitMovesTheWindowAndIsIdempotent() {
        var a = LoadAccounts(count: 1, windowPerAccount: 5)
        _ = a.take(3, nowS: 0)
        a.committed(account: 0, nonce: 1, nowS: 1)
        a.committed(account: 0, nonce: 0, nowS: 1)
        #expect(a.accounts[0].committed == 2)
        #expect(a.inFlight == 1)
        a.committed(account: 7, nonce: 0, nowS: 1)  // not ours: ignored
    }

    @Test func aRefusedNonceIsSentAgainWithTheOnesAfterIt() {
        var a = LoadAccounts(count: 1, windowPerAccount: 10)
        _ = a.take(5, nowS: 0)
        a.rewind(account: 0, to: 2)
        #expect(a.take(3, nowS: 0).map(\.nonce) == [2, 3, 4])
    }

    @Test func aRewindNeverGoesBelowWhatIsCommitted() {
        var a = LoadAccounts(count: 1, windowPerAccount: 10)
        _ = a.take(5, nowS: 0)
        a.committed(account: 0, nonce: 2, nowS: 1)
        a.rewind(account: 0, to: 1)
        #expect(a.accounts[0].next == 3)
    }

    @Test func aRetiredAccountSendsNoMore() {
        var a = LoadAccounts(count: 2, windowPerAccount: 10)
        a.retire(account: 0)
        #expect(a.take(4, nowS: 0).allSatisfy { $0.account == 1 })
        #expect(a.usable == 1)
    }

    @Test func anAccountWithoutCommitsForTheStallTimeSendsAgainFromItsCommittedNonce() {
        var a = LoadAccounts(count: 2, windowPerAccount: 10)
        _ = a.take(6, nowS: 0)
        a.committed(account: 1, nonce: 0, nowS: 8)
        #expect(a.rewindStalled(nowS: 9, afterS: 10) == 0)
        #expect(a.rewindStalled(nowS: 10.5, afterS: 10) == 1)
        #expect(a.accounts[0].next == 0)
        #expect(a.accounts[1].next == 3)
    }
}
