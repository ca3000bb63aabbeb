import Chain
import Foundation
import P2P
import Testing
@testable import NodeMain

/// docs/openapi.yaml and the router must describe the same API. scripts/test-api-conformance.sh
/// checks the answers with schemathesis against a running node; this checks, without Python or a
/// socket, that every route is documented, every documented operation is routed, and every error
/// code the node can send is listed.
@Suite("OpenAPI document") struct OpenAPIRouteTests {
    static let specText: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("docs/openapi.yaml").path
        guard let data = FileManager.default.contents(atPath: path) else { preconditionFailure("cannot read \(path)") }
        return String(decoding: data, as: UTF8.self)
    }()

    /// (METHOD, path template) for every operation under `paths:`; a line-based read of the
    /// document's own layout (two-space path keys, four-space method keys).
    static var operations: [(method: String, path: String)] {
        var out: [(String, String)] = []
        var current: String?
        var inPaths = false
        for line in specText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line == "paths:" { inPaths = true; continue }
            if inPaths, !line.hasPrefix(" "), !line.isEmpty { break }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                current = String(line.dropFirst(2).dropLast())
            } else if let path = current, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "delete", "patch", "head"].contains(String(key)) {
                    out.append((key.uppercased(), path))
                }
            }
        }
        return out
    }

    /// The codes listed in the description of the Error schema's `code`.
    static var documentedCodes: Set<String> {
        guard let start = specText.range(of: "Stable machine-readable code:"),
              let end = specText.range(of: "message:", range: start.upperBound..<specText.endIndex) else { return [] }
        let list = specText[start.upperBound..<end.lowerBound]
        return Set(list.split(whereSeparator: { !($0.isLetter || $0 == "_") }).map(String.init))
    }

    /// Statuses documented for one operation (the quoted three-digit keys of its block).
    static func documentedStatuses(path: String) -> Set<Int> {
        guard let start = specText.range(of: "\n  \(path):\n") else { return [] }
        let rest = specText[start.upperBound...]
        let block = rest.range(of: "\n  /").map { rest[..<$0.lowerBound] } ?? rest
        var statuses = Set<Int>()
        for line in block.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.count >= 6, t.hasPrefix("\""), let code = Int(t.dropFirst().prefix(3)), t.dropFirst(4).hasPrefix("\":") {
                statuses.insert(code)
            }
        }
        return statuses
    }

    static func sample(_ template: String) -> String {
        template.replacingOccurrences(of: "{height}", with: "7")
            .replacingOccurrences(of: "{hash}", with: "0x" + String(repeating: "ab", count: 32))
            .replacingOccurrences(of: "{address}", with: "0x" + String(repeating: "cd", count: 20))
    }

    @Test func documentListsOperations() {
        #expect(Self.operations.count >= 12, "read \(Self.operations.count) operations from docs/openapi.yaml")
        #expect(Self.documentedCodes.count >= 30, "read \(Self.documentedCodes.count) error codes")
    }

    @Test func everyDocumentedOperationIsRoutedUnderItsTemplate() {
        for (method, template) in Self.operations {
            let route = Route.match(method: method, path: Self.sample(template))
            #expect(route.label == template, "\(method) \(template) routes to \(route)")
        }
    }

    @Test func everyRouteIsDocumented() {
        let documented = Set(Self.operations.map { "\($0.method) \($0.path)" })
        let routes: [(String, String)] = [
            ("GET", "/chain/head"), ("GET", "/chain/headers"), ("GET", "/block/7"), ("GET", "/block/hash/0xab"), ("GET", "/tx/0xab"),
            ("GET", "/balance/0xab"), ("POST", "/submit-tx"), ("POST", "/submit-txs"), ("GET", "/status"),
            ("GET", "/peers"), ("GET", "/health/live"), ("GET", "/health/ready"), ("GET", "/metrics"),
            ("GET", "/members"), ("POST", "/members/add-learner"), ("POST", "/members/promote"), ("POST", "/members/remove"),
            ("POST", "/leadership/transfer"),
        ]
        for (method, path) in routes {
            let route = Route.match(method: method, path: path)
            #expect(documented.contains("\(method) \(route.label)"), "\(method) \(path) (\(route.label)) is not in docs/openapi.yaml")
        }
        #expect(routes.count == documented.count, "docs/openapi.yaml has operations the router lacks: \(documented)")
    }

    static let rejections: [TxRejection] = {
        let hash = Hash32(hex: "0x" + String(repeating: "00", count: 32))!
        let address = Address(hex: "0x" + String(repeating: "00", count: 20))!
        return [
            .invalidJSON("x"), .missingField("x"), .invalidField(field: "x", reason: "y"), .invalidHex(field: "x", reason: "y"),
            .hashMismatch(claimed: hash, computed: hash), .wrongChain(expected: "a", got: "b"), .badSignature,
            .fromMismatch(from: address, pubkeyAddress: address), .zeroAmount, .selfTransfer, .amountTooLarge("x"),
            .nonceTooLow(expected: 1, got: 0), .nonceTooFar(maxAllowed: 1, got: 2), .nonceConflict(nonce: 0),
            .alreadyKnown(hash), .insufficientFunds(available: 0, needed: 1), .senderQueueFull(limit: 1),
            .mempoolFull(limit: 1),
        ]
    }()

    @Test func everyTransactionRejectionIsDocumentedWithItsStatus() {
        let statuses = Self.documentedStatuses(path: "/submit-tx")
        #expect(statuses.contains(202) && statuses.contains(200), "read \(statuses) for /submit-tx")
        for rejection in Self.rejections {
            #expect(Self.documentedCodes.contains(rejection.code), "code \(rejection.code) is not listed in docs/openapi.yaml")
            #expect(statuses.contains(rejection.httpStatus), "\(rejection.code) answers \(rejection.httpStatus), not documented for /submit-tx")
        }
    }

    @Test func everyHTTPLayerErrorCodeIsDocumented() {
        let errors: [HTTPParseError] = [.badRequest("x"), .uriTooLong, .headersTooLarge, .bodyTooLarge(limitBytes: 1),
                                        .versionNotSupported("x"), .notImplemented("x"), .requestTimeout]
        for e in errors {
            #expect(Self.documentedCodes.contains(e.code), "code \(e.code) is not listed in docs/openapi.yaml")
        }
        for code in ["not_found", "method_not_allowed", "invalid_height", "invalid_hash", "invalid_address",
                     "invalid_query", "batch_too_large", "commit_timeout", "leader_lost", "not_ready", "internal"] {
            #expect(Self.documentedCodes.contains(code), "code \(code) is not listed in docs/openapi.yaml")
        }
    }
}
