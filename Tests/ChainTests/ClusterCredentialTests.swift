import Foundation
import Testing
@testable import Chain

@Suite struct ClusterCredentialTests {
    @Test func generated_is64HexDigits_andFreshEachTime() {
        let a = ClusterCredential.generate(), b = ClusterCredential.generate()
        #expect(a.secret.utf8.count == 64 && Hex.decode(a.secret)?.count == 32)
        #expect(a != b)
    }

    @Test func authorizes_onlyTheExactBearerHeader() throws {
        let c = try ClusterCredential("0123456789abcdef-secret")
        #expect(c.authorizes(authorizationHeader: "Bearer 0123456789abcdef-secret"))
        for bad in [nil, "", "Bearer", "Bearer ", "Bearer 0123456789abcdef-secre", "Bearer 0123456789abcdef-secretX",
                    "Basic 0123456789abcdef-secret", "0123456789abcdef-secret", "Bearer  0123456789abcdef-secret"] {
            #expect(!c.authorizes(authorizationHeader: bad), "\(String(describing: bad))")
        }
    }

    @Test func operatorGiven_isTrimmed_andRefusedWhenWeakOrUnprintable() throws {
        #expect(try ClusterCredential("  0123456789abcdef\n").secret == "0123456789abcdef")
        #expect(throws: CredentialError.tooShort(bytes: 6, minimum: 16)) { try ClusterCredential("s3cret") }
        #expect(throws: CredentialError.notPrintable) { try ClusterCredential("0123456789 abcdef") }
        #expect(throws: CredentialError.tooLong(maximum: 1024)) { try ClusterCredential(String(repeating: "a", count: 1025)) }
        #expect(!ClusterCredential.generate().description.contains(ClusterCredential.generate().secret))
    }

    @Test func loadOrCreate_makesOneFile0600_andLoadsItAgain() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("credential-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try ClusterCredential.loadOrCreate(directory: dir)
        #expect(first.created)
        let mode = try FileManager.default.attributesOfItem(atPath: first.path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        let second = try ClusterCredential.loadOrCreate(directory: dir)
        #expect(!second.created && second.credential == first.credential && second.path == first.path)
    }
}
