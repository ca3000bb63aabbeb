import FuzzSupport
import P2P

/// HTTPChunkedDecoder. Properties:
/// - fed in pieces, it decodes the same body and ends at the same byte (or fails the same way) as
///   in one call;
/// - the body never exceeds the input it came from nor `maxBodyBytes`; `done` never claims more
///   bytes than it was given;
/// - a decoded body, re-encoded as one chunk, decodes to itself and ends exactly at its end.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = inputBytes(data, size)
    let whole = decodeOnce(input)
    let pieces = decodeInPieces(input)
    require(whole.body == pieces.body && whole.outcome == pieces.outcome,
            "one call gave \(whole.outcome) (\(whole.body.count) bytes), pieces gave \(pieces.outcome) (\(pieces.body.count) bytes)")
    require(whole.body.count <= input.count, "body of \(whole.body.count) bytes from \(input.count) input bytes")
    require(whole.body.count <= maxBodyBytes, "body of \(whole.body.count) bytes over the limit")
    if case .done(let consumed) = whole.outcome {
        require(consumed > 0 && consumed <= input.count, "consumed \(consumed) of \(input.count)")
        require(whole.body.count <= consumed, "body longer than the bytes it used")
        let again = decodeOnce(chunked(whole.body))
        require(again.body == whole.body && again.outcome == .done(consumed: chunked(whole.body).count),
                "re-encoded body did not decode to itself: \(again.outcome)")
    }
    return 0
}

/// Small limits, so the fuzzer reaches them.
private let maxBodyBytes = 1024
private let maxTrailerBytes = 256

private func decodeOnce(_ input: [UInt8]) -> (body: [UInt8], outcome: HTTPChunkedDecoder.Result) {
    var decoder = HTTPChunkedDecoder(maxBodyBytes: maxBodyBytes, maxTrailerBytes: maxTrailerBytes)
    var body: [UInt8] = []
    let outcome = input.withUnsafeBytes { decoder.decode($0, into: &body) }
    return (body, outcome)
}

/// The same input in pieces; a `done` offset is made absolute for comparison.
private func decodeInPieces(_ input: [UInt8]) -> (body: [UInt8], outcome: HTTPChunkedDecoder.Result) {
    var decoder = HTTPChunkedDecoder(maxBodyBytes: maxBodyBytes, maxTrailerBytes: maxTrailerBytes)
    var body: [UInt8] = []
    var start = 0
    for cut in cutPoints(input) {
        let outcome = input.withUnsafeBytes { decoder.decode(UnsafeRawBufferPointer(rebasing: $0[start..<cut]), into: &body) }
        switch outcome {
        case .needMore: start = cut
        case .done(let consumed):
            require(consumed <= cut - start, "consumed \(consumed) of a \(cut - start)-byte piece")
            return (body, .done(consumed: start + consumed))
        case .failure: return (body, outcome)
        }
    }
    return (body, .needMore)
}

private func chunked(_ body: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    if !body.isEmpty {
        out += Array(String(body.count, radix: 16).utf8) + [0x0D, 0x0A] + body + [0x0D, 0x0A]
    }
    return out + Array("0\r\n\r\n".utf8)
}
