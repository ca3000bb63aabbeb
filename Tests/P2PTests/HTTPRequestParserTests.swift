import Testing
@testable import P2P

@Suite("HTTPRequestParser")
struct HTTPRequestParserTests {
    private func parse(_ text: String, limits: HTTPParserLimits = HTTPParserLimits()) -> HTTPRequestParser.Result {
        var parser = HTTPRequestParser(limits: limits)
        return parser.parse(Array(text.utf8))
    }

    private func head(_ text: String) throws -> HTTPRequestHead {
        guard case .head(let head, _) = parse(text) else { throw ParseFailed(text: text) }
        return head
    }

    struct ParseFailed: Error { let text: String }

    @Test func simpleGet_parsesMethodTargetVersionAndHeaders() throws {
        let h = try head("GET /chain/head?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n")
        #expect(h.method == "GET" && h.target == "/chain/head?x=1" && h.version == .http1_1)
        #expect(h.headers["host"] == "a" && h.headers["ACCEPT"] == "*/*")
        #expect(h.keepAlive && h.framing == .none && !h.expectsContinue)
    }

    @Test func consumedCount_stopsAtTheEndOfTheHead() {
        let text = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\n"
        guard case .head(_, let consumed) = parse(text) else { Issue.record("no head"); return }
        #expect(consumed == "GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8.count)
    }

    @Test func byteAtATimeFeeding_givesTheSameHead() throws {
        let text = Array("POST /submit-tx HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\n".utf8)
        var parser = HTTPRequestParser()
        for end in 1..<text.count {
            #expect(parser.parse(Array(text[0..<end])) == .needMore)
        }
        guard case .head(let h, let consumed) = parser.parse(text) else { Issue.record("no head"); return }
        #expect(consumed == text.count && h.framing == .contentLength(12) && h.expectsContinue)
    }

    @Test func bareLineFeeds_areAccepted() throws {
        let h = try head("GET / HTTP/1.1\nHost: a\n\n")
        #expect(h.headers["Host"] == "a")
    }

    @Test func leadingEmptyLine_isSkipped() throws {
        #expect(try head("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").method == "GET")
    }

    @Test func connectionClose_andHTTP10Rules_decideKeepAlive() throws {
        #expect(try !head("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keepAlive)
        #expect(try !head("GET / HTTP/1.0\r\n\r\n").keepAlive)
        #expect(try head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepAlive)
    }

    @Test func chunkedTransferEncoding_isRecognised() throws {
        #expect(try head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n").framing == .chunked)
    }

    @Test func bothContentLengthAndTransferEncoding_isA400() {
        guard case .failure(let e) = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n") else {
            Issue.record("accepted"); return
        }
        #expect(e.status == 400)
    }

    @Test func unknownTransferEncoding_isA501() {
        guard case .failure(let e) = parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br\r\n\r\n") else { Issue.record("accepted"); return }
        #expect(e.status == 501 && e.code == "not_implemented")
    }

    @Test func malformedInputs_areA400() {
        let bad = [
            "GET /\r\n\r\n", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nBad Name: v\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "GET / FTP/1.1\r\nHost: a\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        ]
        for text in bad {
            guard case .failure(let e) = parse(text) else { Issue.record("accepted: \(text.debugDescription)"); continue }
            #expect(e.status == 400, "\(text.debugDescription)")
        }
    }

    @Test func otherHTTPVersion_isA505() {
        guard case .failure(let e) = parse("GET / HTTP/1.2\r\nHost: a\r\n\r\n") else { Issue.record("accepted"); return }
        #expect(e.status == 505)
    }

    @Test func requestLineOverTheLimit_isA414EvenBeforeItEnds() {
        var limits = HTTPParserLimits()
        limits.maxRequestLineBytes = 64
        #expect(parse("GET /" + String(repeating: "a", count: 100), limits: limits) == .failure(.uriTooLong))
        #expect(parse("GET /" + String(repeating: "a", count: 100) + " HTTP/1.1\r\n", limits: limits) == .failure(.uriTooLong))
    }

    @Test func headerBytesOverTheLimit_isA431EvenBeforeTheHeadEnds() {
        var limits = HTTPParserLimits()
        limits.maxHeaderBytes = 100
        #expect(parse("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 200), limits: limits) == .failure(.headersTooLarge))
    }

    @Test func headerCountOverTheLimit_isA431() {
        var limits = HTTPParserLimits()
        limits.maxHeaderCount = 3
        let text = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
        #expect(parse(text, limits: limits) == .failure(.headersTooLarge))
    }

    @Test func resetAfterAHead_parsesThePipelinedNextRequest() throws {
        let first = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
        let all = Array((first + "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n").utf8)
        var parser = HTTPRequestParser()
        guard case .head(_, let consumed) = parser.parse(all) else { Issue.record("no first head"); return }
        parser.reset()
        guard case .head(let second, _) = parser.parse(Array(all[consumed...])) else { Issue.record("no second head"); return }
        #expect(second.target == "/2")
    }

    @Test func targetSplitting_decodesQueryAndKeepsRawPath() throws {
        let h = try head("GET http://host:1/p%2Fq?a=1&b=x%20y&c&a=2#frag HTTP/1.1\r\nHost: a\r\n\r\n")
        let request = HTTPRequest(head: h, body: [], remoteAddress: nil)
        #expect(request.path == "/p%2Fq" && request.decodedPath == "/p/q")
        #expect(request.query("a") == "1" && request.query("b") == "x y" && request.query("c") == "" && request.query("z") == nil)
    }
}

@Suite("HTTPChunkedDecoder")
struct HTTPChunkedDecoderTests {
    private func decodeWhole(_ text: String, limit: Int = 1000) -> (HTTPChunkedDecoder.Result, String) {
        var decoder = HTTPChunkedDecoder(maxBodyBytes: limit)
        var body: [UInt8] = []
        let result = Array(text.utf8).withUnsafeBytes { decoder.decode($0, into: &body) }
        return (result, String(decoding: body, as: UTF8.self))
    }

    @Test func wholeInput_decodesAndReportsConsumedBytes() {
        let text = "4\r\nWiki\r\nA;name=v\r\npedia in c\r\n0\r\n\r\nNEXT"
        let (result, body) = decodeWhole(text)
        #expect(body == "Wikipedia in c")
        #expect(result == .done(consumed: text.utf8.count - 4))
    }

    @Test func byteAtATime_decodesTheSameBody() {
        let text = Array("3\r\nabc\r\n1\r\nd\r\n0\r\nTrailer: x\r\n\r\n".utf8)
        var decoder = HTTPChunkedDecoder(maxBodyBytes: 100)
        var body: [UInt8] = []
        var outcome = HTTPChunkedDecoder.Result.needMore
        for byte in text { outcome = [byte].withUnsafeBytes { decoder.decode($0, into: &body) } }
        #expect(outcome == .done(consumed: 1))
        #expect(String(decoding: body, as: UTF8.self) == "abcd")
    }

    @Test func chunkOverTheLimit_isRefusedBeforeItsData() {
        #expect(decodeWhole("FFFF\r\n", limit: 10).0 == .failure(.bodyTooLarge(limitBytes: 10)))
    }

    @Test func invalidSizeOrMissingCRLF_isA400() {
        for text in ["zz\r\n", "3\r\nabcX\r\n", ";x\r\n"] {
            guard case .failure(let e) = decodeWhole(text).0 else { Issue.record("accepted \(text.debugDescription)"); continue }
            #expect(e.status == 400)
        }
    }
}
