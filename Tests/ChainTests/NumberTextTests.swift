import Foundation
import Testing
@testable import Chain

/// `NumberText` writes what Foundation's `String(format:)` wrote for the same format.
@Suite struct NumberTextTests {
    static let samples: [Double] = [0, -0.0, 1, 1.25, 1.35, -2.5, 0.05, 12_345.678_9, 16_008.4, 1e-7, 1e21, 123_456_789.5, .infinity, -.infinity]

    @Test(arguments: [0, 1, 2, 6])
    func fixed_matchesPrintfsFixedFormat(places: Int) {
        for x in Self.samples {
            #expect(NumberText.fixed(x, places: places) == String(format: "%.\(places)f", x), "\(x)")
        }
    }

    @Test func general_matchesPrintfsG() {
        for x in Self.samples + [1.5, 0.123_456_7, 2.5e-5] {
            #expect(NumberText.general(x) == String(format: "%g", x), "\(x)")
        }
    }

    @Test func fixed_holdsPlacesToTheSupportedRange() {
        #expect(NumberText.fixed(1.5, places: -3) == "2")
        #expect(NumberText.fixed(0.1, places: 99) == String(format: "%.17f", 0.1))
    }
}
