import FuzzSupport
@testable import P2P

/// HTTPRequestParser (+ HTTPHeadDecoder) and HTTPRequest's target splitting, over a stream that
/// may hold several pipelined request heads. Properties:
/// - fed the same bytes in pieces, the parser answers exactly what it answers in one call;
/// - it never claims more bytes than it was given, and a head uses at least one byte;
/// - a head it accepts is well-formed (token method, visible-ASCII target, one Host on 1.1,
///   a positive Content-Length or none) and its target splits into a non-empty path and a query
///   without the fragment.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var rest = inputBytes(data, size)
    var limits = HTTPParserLimits()
    limits.maxRequestLineBytes = 512  // small limits, so the fuzzer reaches them
    limits.maxHeaderBytes = 1024
    limits.maxHeaderCount = 16
    for _ in 0..<4 {  // a few pipelined requests
        let whole = parseOnce(rest, limits)
        let pieces = parseInPieces(rest, limits)
        require(whole == pieces, "one call gave \(whole), pieces gave \(pieces)")
        guard case .head(let head, let consumed) = whole else { return 0 }
        require(consumed > 0 && consumed <= rest.count, "consumed \(consumed) of \(rest.count) bytes")
        check(head)
        rest.removeFirst(consumed)
    }
    return 0
}

private func parseOnce(_ bytes: [UInt8], _ limits: HTTPParserLimits) -> HTTPRequestParser.Result {
    var parser = HTTPRequestParser(limits: limits)
    return parser.parse(bytes)
}

/// Feeds every prefix at `cutPoints`, as the server does with each read.
private func parseInPieces(_ bytes: [UInt8], _ limits: HTTPParserLimits) -> HTTPRequestParser.Result {
    var parser = HTTPRequestParser(limits: limits)
    var result = HTTPRequestParser.Result.needMore
    for cut in cutPoints(bytes) {
        result = bytes.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[..<cut])) }
        if result != .needMore { return result }
    }
    return result
}

private func check(_ head: HTTPRequestHead) {
    require(!head.method.isEmpty && head.method.utf8.allSatisfy(HTTPHeadDecoder.isTokenByte), "method \(head.method)")
    require(!head.target.isEmpty && head.target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "target \(head.target)")
    if head.version == .http1_1 { require(head.headers.values("Host").count == 1, "Host count") }
    switch head.framing {
    case .contentLength(let n): require(n > 0, "Content-Length \(n) framed as a body")
    case .chunked: require(head.version == .http1_1, "chunked on \(head.version)")
    case .none: break
    }
    let request = HTTPRequest(head: head, body: [], remoteAddress: nil)
    require(!request.path.isEmpty, "empty path from \(head.target)")
    require(!request.path.contains("?") && !request.path.contains("#"), "path \(request.path) from \(head.target)")
    require(!request.queryString.contains("#"), "query \(request.queryString) from \(head.target)")
    require(request.queryItems.count <= PercentDecoding.maxQueryItems, "\(request.queryItems.count) query items")
    require(request.target == head.target, "target changed")
    _ = request.decodedPath
}
