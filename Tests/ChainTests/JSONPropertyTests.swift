import Foundation
import Testing
@testable import Chain

/// A small seeded generator so every property test replays exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private let scalarPool: [Unicode.Scalar] = ["a", "z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}",
                                            "\u{7F}", "é", "€", "\u{FFFF}", "😀", "\u{10FFFF}", "世"]

private func randomString(_ rng: inout SplitMix64) -> String {
    var s = String.UnicodeScalarView()
    for _ in 0..<Int.random(in: 0...8, using: &rng) { s.append(scalarPool.randomElement(using: &rng)!) }
    return String(s)
}

private func randomJSON(_ rng: inout SplitMix64, depth: Int) -> JSON {
    let choice = Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &rng)
    switch choice {
    case 0: return .null
    case 1: return .bool(Bool.random(using: &rng))
    case 2: return .int(Int64.random(in: .min ... .max, using: &rng) >> Int64.random(in: 0...63, using: &rng))
    case 3:
        let d = Double(bitPattern: rng.next())
        return .double(d.isFinite ? d : 0.5)
    case 4: return .string(randomString(&rng))
    case 5: return .array((0..<Int.random(in: 0...5, using: &rng)).map { _ in randomJSON(&rng, depth: depth + 1) })
    default:
        var object = JSONObject()
        for i in 0..<Int.random(in: 0...5, using: &rng) {
            object[randomString(&rng) + "#\(i)"] = randomJSON(&rng, depth: depth + 1)
        }
        return .object(object)
    }
}

/// Whether Foundation's reading of a document agrees with ours.
private func agrees(_ ours: JSON, _ theirs: Any) -> Bool {
    switch ours {
    case .null: return theirs is NSNull
    case .bool(let b): return (theirs as? Bool) == b
    case .int(let i): return (theirs as? NSNumber)?.int64Value == i
    case .double(let d):
        // Linux Foundation returns long numbers as NSDecimalNumber, whose doubleValue is off by
        // an ulp or so; its decimal text is exact, so compare through that.
        if let decimal = theirs as? NSDecimalNumber { return Double(decimal.stringValue) == d }
        return (theirs as? NSNumber)?.doubleValue == d
    case .string(let s): return (theirs as? String) == s
    case .array(let a):
        guard let t = theirs as? [Any], t.count == a.count else { return false }
        return zip(a, t).allSatisfy { agrees($0, $1) }
    case .object(let o):
        guard let t = theirs as? [String: Any], t.count == o.count else { return false }
        return o.pairs.allSatisfy { pair in t[pair.key].map { agrees(pair.value, $0) } ?? false }
    }
}

@Test func parse_agreesWithFoundationOnGeneratedDocuments() throws {
    var rng = SplitMix64(seed: 0xA17C)
    for _ in 0..<400 {
        let value = JSON.array([randomJSON(&rng, depth: 0)])
        let bytes = value.serialized()
        let ours = try JSON.parse(bytes)
        #expect(ours == value)
        let theirs = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        #expect(agrees(ours, theirs), "disagreement on \(String(decoding: bytes, as: UTF8.self))")
        #expect(try JSON.parse(value.serializedPretty()) == value)
    }
}

@Test func parse_acceptsOnlyWhatFoundationAcceptsAfterByteMutations() throws {
    var rng = SplitMix64(seed: 0xBEEF)
    let alphabet = Array(#"{}[],:"\ 01-.eEtfnu"#.utf8) + [0x00, 0x0A, 0xC3, 0xFF]
    var accepted = 0
    for _ in 0..<400 {
        var bytes = JSON.array([randomJSON(&rng, depth: 0)]).serialized()
        let i = Int.random(in: 0..<bytes.count, using: &rng)
        bytes[i] = alphabet.randomElement(using: &rng)!
        guard let ours = try? JSON.parse(bytes) else { continue }
        accepted += 1
        let theirs = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        #expect(agrees(ours, theirs), "disagreement on \(bytes)")
    }
    #expect(accepted > 0)
}

@Test func parse_throughputOnTransactionBatch() throws {
    let tx: JSON = ["chainId": "autochain-dev", "from": .string("0x" + String(repeating: "ab", count: 20)),
                    "to": .string("0x" + String(repeating: "cd", count: 20)), "amount": 1_000_000, "fee": 10, "nonce": 42,
                    "pubkey": .string(String(repeating: "ef", count: 32)), "signature": .string(String(repeating: "01", count: 64))]
    let batchCount = 2_000
    let bytes = JSON.array(Array(repeating: tx, count: batchCount)).serialized()
    let rounds = 5
    // CPU time of this thread, not wall time: other tests and processes share the cores.
    func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
    let parseStarted = threadCPUSeconds()
    for _ in 0..<rounds { _ = try JSON.parse(bytes) }
    let seconds = max(threadCPUSeconds() - parseStarted, 1e-6)
    let txPerSecond = Double(batchCount * rounds) / seconds
    let mibPerSecond = Double(bytes.count * rounds) / seconds / 1_048_576
    print("JSON parse (debug build, thread CPU time): \(Int(txPerSecond)) tx/s, \(String(format: "%.1f", mibPerSecond)) MiB/s")
    let writeStarted = threadCPUSeconds()
    for _ in 0..<rounds { _ = JSON.array(Array(repeating: tx, count: batchCount)).serialized() }
    let writeSeconds = max(threadCPUSeconds() - writeStarted, 1e-6)
    print("JSON write (debug build, thread CPU time): \(Int(Double(batchCount * rounds) / writeSeconds)) tx/s")
    #expect(txPerSecond > 1_000)
}
