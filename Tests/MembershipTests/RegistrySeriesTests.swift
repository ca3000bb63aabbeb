import Chain
import Testing
@testable import Membership

@Suite struct FixedRingTests {
    @Test func keepsTheNewestCapacityElementsOldestFirst() {
        var r = FixedRing<Int>(capacity: 3)
        for i in 1...7 { r.append(i) }
        #expect(r.count == 3)
        #expect(r.elements == [5, 6, 7])
        #expect(r.last == 7)
    }

    @Test func belowCapacityHoldsEverythingInOrder() {
        var r = FixedRing<Int>(capacity: 5)
        #expect(r.isEmpty && r.last == nil && r.elements.isEmpty)
        r.append(1)
        r.append(2)
        #expect(r.elements == [1, 2] && r.last == 2)
    }
}

@Suite struct RegistrySeriesTests {
    func series(points: Int = 720, marks: Int = 500) -> RegistrySeries {
        RegistrySeries(intervalS: 5, points: points, maxMarks: marks)
    }

    @Test func samplesAtMostOncePerInterval() {
        var s = series()
        let first = s.sample(at: 0, SeriesInput(committedTxs: 0))
        let early = s.sample(at: 4.9, SeriesInput(committedTxs: 10))
        let due = s.sample(at: 5, SeriesInput(committedTxs: 10))
        #expect(first && !early && due)
        #expect(s.sampleCount == 2)
    }

    @Test func transferRateIsTheChainsTransactionGrowthPerSecond() {
        var s = series()
        s.sample(at: 10, SeriesInput(committedTxs: 100))
        s.sample(at: 15, SeriesInput(committedTxs: 600))
        s.sample(at: 20, SeriesInput(committedTxs: 600))
        #expect(s.allSamples.map(\.committedTxsPerS) == [nil, 100, 0])
    }

    @Test func anHourAtTheDefaultsStaysWithinTheRing() {
        var s = series(points: 720)
        for i in 0..<(720 * 3) { s.sample(at: Double(i) * 5, SeriesInput(committedTxs: UInt64(i))) }
        #expect(s.sampleCount == 720)
        #expect(s.allSamples.first?.at == Double(720 * 2) * 5, "the oldest kept is one hour back")
    }

    @Test func decisionMarksAreBounded() {
        var s = series(marks: 10)
        for i in 0..<25 { s.mark(DecisionMark(at: Double(i), kind: .spawn, node: nil, reason: "load")) }
        #expect(s.markCount == 10)
        #expect(s.allMarks.first?.at == 15)
    }

    @Test func jsonHasOneEntryPerSampleInEveryColumnWithNullForNoFigure() throws {
        var s = series()
        s.sample(at: 0, SeriesInput(committedTxs: 0, heights: ["node1": 3], load: 0.5, desiredNodes: 3, leaders: 1, voters: 3))
        s.sample(at: 5, SeriesInput(committedTxs: 50, heights: ["node1": 9, "node4": 2], submitP99Ms: 12, voters: 3, learners: 1))
        s.mark(DecisionMark(at: 4, kind: .spawn, node: nil, reason: "scale up 3 → 4"))
        let j = s.json(now: 6, targetValue: 0.7, tolerance: 0.1, metric: "cpu", minNodes: 3, maxNodes: 7)
        #expect(j["at"] == .array([.double(0), .double(5)]))
        #expect(j["committedTxsPerS"] == .array([.null, .double(10)]))
        #expect(j["submitP99Ms"] == .array([.null, .double(12)]))
        #expect(j["load"]?["values"] == .array([.double(0.5), .null]))
        #expect(j["load"]?["target"] == .double(0.7))
        #expect(j["nodes"]?["learners"] == .array([.int(0), .int(1)]))
        #expect(j["nodes"]?["max"] == .int(7))
        #expect(j["heights"]?["node1"] == .array([.int(3), .int(9)]))
        #expect(j["heights"]?["node4"] == .array([.null, .int(2)]), "a node that appeared later has no figure before")
        #expect(j["decisions"]?.arrayValue?.first?["kind"] == .string("spawn"))
    }
}
