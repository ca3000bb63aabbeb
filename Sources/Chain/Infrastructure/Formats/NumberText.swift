import Glibc

/// Numbers as printf writes them, through the C library's `vsnprintf`: Foundation's
/// `String(format:)` would print the same, but any use of it links all of Foundation and its ICU
/// data into the binary (about 44 MB of the image). The C library's locale is never set, so the
/// decimal point is always `.`.
public enum NumberText {
    /// Most decimals `fixed` writes (a double holds about 17 significant digits).
    public static let maxPlaces = 17

    /// `x` with `places` decimals, as `%.<places>f` writes it (1.25 → "1.2" with one place: the
    /// binary value rounded to nearest, ties to even); `places` is held to 0...`maxPlaces`.
    public static func fixed(_ x: Double, places: Int) -> String {
        printf("%.*f", Int32(min(max(places, 0), maxPlaces)), x)
    }

    /// `x` as `%g` writes it: six significant digits, no trailing zeros, an exponent for very
    /// large or small values (1.5 → "1.5", 0.1234567 → "0.123457", 1e-7 → "1e-07").
    public static func general(_ x: Double) -> String { printf("%g", x) }

    private static func printf(_ format: String, _ args: any CVarArg...) -> String {
        let count = withVaList(args) { vsnprintf(nil, 0, format, $0) }
        guard count > 0 else { return "" }
        var bytes = [CChar](repeating: 0, count: Int(count) + 1)
        let written = bytes.withUnsafeMutableBufferPointer { buffer in
            withVaList(args) { vsnprintf(buffer.baseAddress, buffer.count, format, $0) }
        }
        guard written == count else { return "" }
        return String(decoding: bytes.prefix(Int(count)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
