/// The few string edits Foundation's `NSString` API offered here (`trimmingCharacters(in:)`,
/// `padding(toLength:withPad:startingAt:)`), written on the standard library: any use of the
/// `NSString` API links all of Foundation and its ICU data into the binary (about 44 MB).
extension StringProtocol {
    /// Without leading and trailing white space: spaces (Unicode `Zs`) and tabs, as
    /// Foundation's `.whitespaces` character set.
    public var trimmingWhitespace: String { trimming(where: Self.isWhitespace) }

    /// Without leading and trailing white space and line breaks (Unicode `White_Space`: spaces,
    /// tabs, CR, LF, VT, FF, NEL, U+2028/2029), as Foundation's `.whitespacesAndNewlines`.
    public var trimmingWhitespaceAndNewlines: String { trimming(where: \.properties.isWhitespace) }

    /// Exactly `length` characters: cut, or filled with spaces at the end (what Foundation's
    /// `padding(toLength: length, withPad: " ", startingAt: 0)` gives for these columns).
    public func padded(toLength length: Int) -> String {
        let count = self.count
        if count >= length { return String(prefix(Swift.max(0, length))) }
        return String(self) + String(repeating: " ", count: length - count)
    }

    private static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\t" || scalar.properties.generalCategory == .spaceSeparator
    }

    private func trimming(where isTrimmed: (Unicode.Scalar) -> Bool) -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !isTrimmed($0) }),
              let last = scalars.lastIndex(where: { !isTrimmed($0) }) else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
