import Foundation
import Testing
@testable import Chain

/// The string edits written on the standard library give what Foundation's `NSString` API gave.
@Suite struct TextEdgesTests {
    static let samples = ["", "   ", "abc", "  abc  ", "\tab c\t", "\n abc \r\n", "\u{00A0}abc\u{2003}", "\u{2028}x\u{2029}", "a\u{0085}", " é ü "]

    @Test func trimmingWhitespaceAndNewlines_matchesFoundation() {
        for s in Self.samples {
            #expect(s.trimmingWhitespaceAndNewlines == s.trimmingCharacters(in: .whitespacesAndNewlines), "\(s.debugDescription)")
        }
    }

    @Test func trimmingWhitespace_matchesFoundation() {
        for s in Self.samples {
            #expect(s.trimmingWhitespace == s.trimmingCharacters(in: .whitespaces), "\(s.debugDescription)")
        }
    }

    @Test func padded_cutsOrFillsWithSpaces_asFoundationsPadding() {
        for s in ["", "node1", "12345678", "a-longer-name"] {
            for n in [0, 3, 8, 12] {
                #expect(s.padded(toLength: n) == s.padding(toLength: n, withPad: " ", startingAt: 0))
            }
        }
    }
}
