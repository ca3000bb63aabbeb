import Testing
@testable import Chain

private let realisticConfig = #"""
# autochain node configuration
[node]
id = "node-1"            # stable across restarts
data_dir = '/var/lib/autochain'
log_level = "info"

[p2p]
listen = "0.0.0.0:6000"
peers = [
  "10.0.0.2:6000",   # second node
  "10.0.0.3:6000",
]
max_line_bytes = 16_777_216

[api]
listen = "0.0.0.0:8080"
port = 8080

[consensus]
election_timeout_ms = { min = 150, max = 300 }
heartbeat_interval_ms = 50
block_interval_s = 0.5
max_block_txs = 0x7D0
pre_vote = true

[registry]
urls = ["http://registry-a:9090", "http://registry-b:9090"]
strategy = "round_robin"
token = "s3cr\u00e9t \"quoted\""

[[registry.fallback]]
url = "http://backup-1:9090"
priority = 1

[[registry.fallback]]
url = "http://backup-2:9090"
priority = 2

[autoscale]
min_nodes = 3
max_nodes = 9
target.cpu = 0.75
target.mempool_depth = 5e3
matrix = [[1, 2], [3, 4]]

[genesis]
chain_id = "autochain-dev"
timestamp = 1_700_000_000
allocations = [
  { address = "0x0000000000000000000000000000000000000001", balance = 1_000_000 },
  { address = "0x0000000000000000000000000000000000000002", balance = -0 },
]
motd = """
Welcome \
  to autochain"""
"""#

private func parse(_ text: String) throws(TOMLError) -> TOMLTable { try TOML.parse(text, file: "config.toml") }

private func parseError(_ text: String) -> TOMLError? {
    do { _ = try parse(text); return nil } catch { return error }
}

@Test func toml_readsARealisticConfig() throws {
    let root = try parse(realisticConfig)
    #expect(root.keys == ["node", "p2p", "api", "consensus", "registry", "autoscale", "genesis"])
    let node = try #require(try root.table("node"))
    #expect(try node.string("id") == "node-1")
    #expect(try node.string("data_dir") == "/var/lib/autochain")
    let p2p = try #require(try root.table("p2p"))
    #expect(try p2p.strings("peers") == ["10.0.0.2:6000", "10.0.0.3:6000"])
    #expect(try p2p.int("max_line_bytes") == 16_777_216)
    let consensus = try #require(try root.table("consensus"))
    #expect(try consensus.table("election_timeout_ms")?.int("max") == 300)
    #expect(try consensus.double("block_interval_s") == 0.5)
    #expect(try consensus.int("max_block_txs") == 2000)
    #expect(try consensus.bool("pre_vote") == true)
    let registry = try #require(try root.table("registry"))
    #expect(try registry.string("token") == "s3crét \"quoted\"")
    let fallbacks = try #require(try registry.tables("fallback"))
    #expect(try fallbacks.map { try $0.int("priority") } == [1, 2])
    #expect(try fallbacks[1].string("url") == "http://backup-2:9090")
    let autoscale = try #require(try root.table("autoscale"))
    #expect(try autoscale.table("target")?.double("cpu") == 0.75)
    #expect(try autoscale.table("target")?.double("mempool_depth") == 5000)
    #expect(try autoscale.array("matrix")?.count == 2)
    let genesis = try #require(try root.table("genesis"))
    #expect(try genesis.int("timestamp") == 1_700_000_000)
    #expect(try genesis.tables("allocations")?.map { try $0.int("balance") } == [1_000_000, 0])
    #expect(try genesis.string("motd") == "Welcome to autochain")
}

@Test func toml_valuesRememberTheirLines() throws {
    let root = try parse(realisticConfig)
    let api = try #require(try root.table("api"))
    #expect(api.line == 15)
    #expect(api["port"]?.line == 17)
    #expect(try root.table("registry")?.tables("fallback")?[1].line == 35)
    #expect(try root.table("p2p")?.array("peers")?[1].line == 11)
}

@Test func accessor_wrongTypeNamesFileLineAndKey() throws {
    let root = try parse("[api]\nport = \"8080\"\n")
    let api = try #require(try root.table("api"))
    #expect(throws: TOMLError(file: "config.toml", line: 2, key: "api.port", message: "expected integer, got string")) {
        try api.int("port")
    }
    #expect("\(api.error("port", "x"))" == "config.toml:2: key 'api.port': x")
    do { _ = try api.int("port") } catch { #expect(error.description == "config.toml:2: key 'api.port': expected integer, got string") }
}

@Test func accessor_doubleAcceptsIntegers() throws {
    #expect(try parse("t = 2").double("t") == 2.0)
}

@Test func accessor_absentKeyIsNil() throws {
    #expect(try parse("a = 1").string("b") == nil)
}

@Test func accessor_stringsNamesTheBadElement() throws {
    let root = try parse("urls = [\n  \"a\",\n  3,\n]")
    #expect(throws: TOMLError(file: "config.toml", line: 3, key: "urls[1]", message: "expected string, got integer")) {
        try root.strings("urls")
    }
}

@Test func unknownKeys_reportEachWithItsLine() throws {
    let root = try parse("[node]\nid = \"a\"\nprot = 1\ndata_dir = \"/x\"\n")
    let node = try #require(try root.table("node"))
    #expect(node.unknownKeys(known: ["id", "data_dir"]).map(\.description) == ["config.toml:3: key 'node.prot': unknown key"])
    #expect(throws: TOMLError.self) { try node.rejectUnknownKeys(known: ["id", "data_dir"]) }
    try node.rejectUnknownKeys(known: ["id", "data_dir", "prot"])
}

@Test func toml_readsQuotedAndDottedKeys() throws {
    let root = try parse(#"a.b."c.d" = 1"# + "\n'lit key' = 2\n\"\" = 3")
    #expect(try root.table("a")?.table("b")?.int("c.d") == 1)
    #expect(try root.int("lit key") == 2)
    #expect(try root.int("") == 3)
}

@Test func toml_readsNumbers() throws {
    let root = try parse("a = +17\nb = -1_000\nc = 0xff\nd = 0o17\ne = 0b101\nf = 6.02e23\ng = -1.5E-3\nh = 3.0\ni = 9223372036854775807")
    #expect(try [root.int("a"), root.int("b"), root.int("c"), root.int("d"), root.int("e")] == [17, -1000, 255, 15, 5])
    #expect(try [root.double("f"), root.double("g"), root.double("h")] == [6.02e23, -0.0015, 3.0])
    #expect(try root.int("i") == Int.max)
}

@Test func toml_readsStringEscapesAndLiteralStrings() throws {
    let root = try parse(#"a = "tab\there\nnl \\ \u00e9 \U0001F600""# + "\nb = 'C:\\path\\no\\escapes'\nc = '''\nraw \\n ''lines'''")
    #expect(try root.string("a") == "tab\there\nnl \\ é 😀")
    #expect(try root.string("b") == #"C:\path\no\escapes"#)
    #expect(try root.string("c") == "raw \\n ''lines")
}

@Test func toml_acceptsEmptyInlineTablesAndNestedArrays() throws {
    let root = try parse("a = {}\nb = [ [ ], [1, [2]] , ]\n")
    #expect(try root.table("a")?.keys == [])
    #expect(try root.array("b")?.count == 2)
}

// MARK: Errors name the right line and key

private func expectError(_ text: String, line: Int, key: String?, contains fragment: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    guard let error = parseError(text) else {
        Issue.record("expected an error for \(text)", sourceLocation: sourceLocation)
        return
    }
    #expect(error.file == "config.toml", sourceLocation: sourceLocation)
    #expect(error.line == line, "\(error)", sourceLocation: sourceLocation)
    #expect(error.key == key, "\(error)", sourceLocation: sourceLocation)
    #expect(error.message.contains(fragment), "\(error)", sourceLocation: sourceLocation)
}

@Test func error_duplicateKey() {
    expectError("[api]\nport = 1\n\nport = 2\n", line: 4, key: "api.port", contains: "already defined on line 2")
}

@Test func error_redefinedTable() {
    expectError("[api]\na = 1\n[node]\n[api]\n", line: 4, key: "api", contains: "already defined on line 1")
}

@Test func error_tableHeaderOverValue() {
    expectError("api = 1\n[api]\n", line: 2, key: "api", contains: "already defined on line 1")
}

@Test func error_dottedKeyOverValue() {
    expectError("a = 1\na.b = 2\n", line: 2, key: "a", contains: "already defined")
}

@Test func error_headerOverDottedTable() {
    expectError("[fruit]\napple.color = 'red'\n[fruit.apple]\n", line: 3, key: "fruit.apple", contains: "already defined on line 2")
}

@Test func error_arrayOfTablesOverTable() {
    expectError("[a]\n[[a]]\n", line: 2, key: "a", contains: "already defined")
}

@Test func error_extendingInlineTable() {
    expectError("a = { b = 1 }\n[a.c]\n", line: 2, key: "a", contains: "already defined on line 1")
    expectError("a = { b = 1 }\na.c = 2\n", line: 2, key: "a", contains: "already defined on line 1")
}

@Test func error_duplicateKeyInInlineTable() {
    expectError("x = 1\nt = { a = 1, a = 2 }\n", line: 2, key: "t.a", contains: "already defined")
}

@Test func error_invalidEscape() {
    expectError("a = 1\n[s]\nname = \"bad \\q\"\n", line: 3, key: "s.name", contains: "invalid escape '\\q'")
}

@Test func error_invalidUnicodeEscape() {
    expectError("name = \"\\uD800\"", line: 1, key: "name", contains: "invalid unicode escape")
}

@Test func error_unterminatedStrings() {
    expectError("\n\nname = \"abc\nnext = 1", line: 3, key: "name", contains: "unterminated string")
    expectError("name = 'abc", line: 1, key: "name", contains: "unterminated string")
    expectError("a = 1\nname = \"\"\"abc\n\n", line: 2, key: "name", contains: "unterminated multi-line string")
}

@Test func error_garbageAfterValue() {
    expectError("[api]\nport = 8080 8081\n", line: 2, key: nil, contains: "unexpected '8' after the value")
    expectError("name = \"a\" \"b\"", line: 1, key: nil, contains: "after the value")
    expectError("[api] x", line: 1, key: nil, contains: "after the value")
}

@Test func error_missingEquals() {
    expectError("[api]\nport 8080\n", line: 2, key: "api.port", contains: "expected '='")
}

@Test func error_missingValue() {
    expectError("port =\n", line: 1, key: "port", contains: "expected a value")
}

@Test func error_unquotedString() {
    expectError("[node]\nid = node-1\n", line: 2, key: "node.id", contains: "strings need quotes")
}

@Test func error_invalidNumbers() {
    for text in ["a = 01", "a = 1__0", "a = _1", "a = 1_", "a = 1.", "a = .5", "a = 1e", "a = 0x", "a = 99999999999999999999", "a = 1.5.2"] {
        expectError(text, line: 1, key: "a", contains: text.hasSuffix("999") ? "out of range" : "invalid number")
    }
}

/// Swift's radix parsers take a sign; TOML has none after 0x/0o/0b nor inside \u escapes.
@Test func error_signAfterRadixPrefixOrInsideUnicodeEscape() {
    for text in ["a = 0x-1", "a = 0x+ff", "a = 0o-7", "a = 0b+1"] {
        expectError(text, line: 1, key: "a", contains: "invalid number")
    }
    expectError(#"a = "\u+041""#, line: 1, key: "a", contains: "invalid unicode escape")
    expectError(#"a = "\U-0000041""#, line: 1, key: "a", contains: "invalid unicode escape")
}

@Test func error_datesAndInfAreOutsideTheSubset() {
    expectError("d = 1979-05-27", line: 1, key: "d", contains: "dates and times are not supported")
    expectError("x = inf", line: 1, key: "x", contains: "inf and nan")
}

@Test func error_unterminatedArray() {
    expectError("a = [1, 2\n", line: 2, key: "a", contains: "unterminated array")
    expectError("a = [1 2]", line: 1, key: "a", contains: "expected ',' or ']'")
}

@Test func error_inlineTableTrailingCommaOrNewline() {
    expectError("t = { a = 1, }", line: 1, key: nil, contains: "expected a key")
    expectError("t = { a = 1\n}", line: 1, key: "t", contains: "same line")
}

@Test func error_badHeader() {
    expectError("[api\nx = 1", line: 1, key: "api", contains: "expected ']'")
    expectError("[]", line: 1, key: nil, contains: "expected a key")
}
