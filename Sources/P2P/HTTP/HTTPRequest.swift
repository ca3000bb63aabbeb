/// A complete request as the server hands it to its handler: head, decoded body, and peer.
/// Immutable and `Sendable`, so handlers may pass it to any thread.
public struct HTTPRequest: Sendable {
    public let method: String
    /// The request target exactly as sent (`/tx/0xab?wait=commit`).
    public let target: String
    /// The target's path, still percent-encoded (`/a%20b`); absolute-form targets are reduced to it.
    public let path: String
    /// The raw query string after `?`, without the fragment; empty when absent.
    public let queryString: String
    /// Decoded query parameters in order (`+` is a space, `%XX` decoded).
    public let queryItems: [(name: String, value: String)]
    public let version: HTTPVersion
    public let headers: HTTPHeaders
    public let body: [UInt8]
    /// The client's address; nil when the kernel did not report one.
    public let remoteAddress: SocketAddress?
    /// Whether the connection stays open after the response (before the response's own say).
    public let keepAlive: Bool

    public init(head: HTTPRequestHead, body: [UInt8], remoteAddress: SocketAddress?) {
        method = head.method
        target = head.target
        version = head.version
        headers = head.headers
        keepAlive = head.keepAlive
        self.body = body
        self.remoteAddress = remoteAddress
        let parts = Self.split(target: head.target)
        path = parts.path
        queryString = parts.query
        queryItems = PercentDecoding.queryItems(parts.query)
    }

    /// The path with `%XX` escapes decoded (invalid escapes are left as written).
    public var decodedPath: String { PercentDecoding.decode(path, plusIsSpace: false) }

    /// The first value of query parameter `name`.
    public func query(_ name: String) -> String? {
        queryItems.first(where: { $0.name == name })?.value
    }

    /// The body as UTF-8 text (invalid sequences replaced).
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    static func split(target: String) -> (path: String, query: String) {
        var rest = Substring(target)
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        if rest.hasPrefix("http://") || rest.hasPrefix("https://") {
            let afterScheme = rest[rest.index(rest.firstIndex(of: ":")!, offsetBy: 3)...]
            rest = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }).map { afterScheme[$0...] } ?? "/"
        }
        guard let question = rest.firstIndex(of: "?") else { return (String(rest.isEmpty ? "/" : rest), "") }
        let path = rest[..<question]
        return (path.isEmpty ? "/" : String(path), String(rest[rest.index(after: question)...]))
    }
}

/// `application/x-www-form-urlencoded` style decoding for targets.
enum PercentDecoding {
    /// Most query parameters decoded from one target (the target itself is bounded at 8 KiB).
    static let maxQueryItems = 256

    static func queryItems(_ query: String) -> [(name: String, value: String)] {
        guard !query.isEmpty else { return [] }
        var items: [(name: String, value: String)] = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true).prefix(maxQueryItems) {
            let name: Substring, value: Substring
            if let eq = pair.firstIndex(of: "=") {
                name = pair[..<eq]; value = pair[pair.index(after: eq)...]
            } else {
                name = pair; value = ""
            }
            items.append((decode(String(name), plusIsSpace: true), decode(String(value), plusIsSpace: true)))
        }
        return items
    }

    static func decode(_ text: String, plusIsSpace: Bool) -> String {
        let bytes = Array(text.utf8)
        guard bytes.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "%"), i + 2 < bytes.count,
               let hi = HTTPChunkedDecoder.hexValue(bytes[i + 1]), let lo = HTTPChunkedDecoder.hexValue(bytes[i + 2]) {
                out.append(UInt8(hi << 4 | lo)); i += 3; continue
            }
            out.append(plusIsSpace && b == UInt8(ascii: "+") ? 0x20 : b)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
