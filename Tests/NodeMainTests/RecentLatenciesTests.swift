import Testing
@testable import NodeMain

@Suite struct RecentLatenciesTests {
    @Test func p99IsTheNearestRankOfTheWindowInMilliseconds() {
        let r = RecentLatencies()
        for i in 1...100 { r.observe(Double(i) / 1000, atS: 50) }
        #expect(r.p99Ms(nowS: 51) == 99)
    }

    @Test func commitsOlderThanTheWindowDoNotCount() {
        let r = RecentLatencies()
        r.observe(5, atS: 0)
        r.observe(0.002, atS: 20)
        #expect(r.p99Ms(nowS: 21) == 2)
        #expect(r.p99Ms(nowS: 40) == nil, "no commit in the last 10 s: no figure")
    }

    @Test func keepsAtMostItsCapacity() {
        let r = RecentLatencies()
        for _ in 0..<(RecentLatencies.capacity + 10) { r.observe(0.001, atS: 1) }
        #expect(r.count == RecentLatencies.capacity)
    }
}
