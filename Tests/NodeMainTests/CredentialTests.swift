import Chain
import Foundation
import P2P
import Testing

/// The cluster credential, secure by default: made on first start, required on every mutating
/// call, never guessable from a node that joins without it.
@Suite("ProcessTests.Credential") struct CredentialTests {
    static let strong = "a-credential-long-enough-0123456789"

    @Test func membershipCallsNeedTheCredential_wrongOrMissingIs401_nonJSONIs415() throws {
        let node = try NodeProcess()
        try node.start(environment: ["AUTOCHAIN_CLUSTER_TOKEN": Self.strong])
        defer { node.stop() }
        let body = JSON.object(JSONObject([("nodeId", "x9"), ("nodeKey", .string(KeyPair.generate().publicKey.hex))])).serialized()
        for headers in [[], [("Authorization", "Bearer nope")], [("Authorization", "Bearer " + Self.strong + "x")],
                        [("Authorization", Self.strong)], [("Authorization", "bearer " + Self.strong.uppercased())]] {
            let r = try node.request("POST", "/members/add-learner", body: body, headers: headers)
            #expect(r.status == 401, "\(headers)")
            #expect((try? JSON.parse(r.body))?["error"]?["code"]?.stringValue == "unauthorized")
        }
        let form = try node.request("POST", "/members/add-learner", body: body,
                                    headers: [("Authorization", "Bearer " + Self.strong), ("Content-Type", "application/x-www-form-urlencoded")])
        #expect(form.status == 415)
        #expect((try? JSON.parse(form.body))?["error"]?["code"]?.stringValue == "unsupported_media_type")
        #expect(try node.json("GET", "/members").body["learners"]?.arrayValue?.isEmpty == true, "nothing changed")
        let right = try node.request("POST", "/members/add-learner", body: body,
                                     headers: [("Authorization", "Bearer " + Self.strong), ("Content-Type", "application/json; charset=utf-8")])
        #expect(right.status == 202, "\(String(decoding: right.body, as: UTF8.self))")
        let m = try node.request("GET", "/metrics")
        #expect(String(decoding: m.body, as: UTF8.self).contains(#"autochain_http_unauthorized_total{route="/members/add-learner"} 5"#))
    }

    @Test func aNodeStartingItsOwnClusterGeneratesACredentialOnlyItsOwnerCanRead() throws {
        let node = try NodeProcess()
        try node.start(environment: ["AUTOCHAIN_CLUSTER_TOKEN": ""])
        defer { node.stop() }
        let path = node.dataDir + "/" + ClusterCredential.fileName
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let credential = try ClusterCredential.load(path: path)
        #expect(credential.secret.utf8.count == 64)
        #expect(node.tailOfLog().contains("generated the cluster credential: \(path)"))
        let body = JSON.object(JSONObject([("to", "n2")])).serialized()
        #expect(try node.request("POST", "/leadership/transfer", body: body).status == 401)
        // Restarted on the same data, it keeps the same credential.
        node.stop()
        try node.start(environment: ["AUTOCHAIN_CLUSTER_TOKEN": ""])
        #expect(try ClusterCredential.load(path: path) == credential)
    }

    @Test func aJoiningNodeWithoutTheCredentialRefusesToStart_andAWeakOneIsRefused() throws {
        let joiner = try NodeProcess()
        do {
            try joiner.start(extraArgs: ["--peers", "127.0.0.1:1", "--join"], environment: ["AUTOCHAIN_CLUSTER_TOKEN": ""])
            Issue.record("a joining node started without the cluster credential")
        } catch {
            #expect(joiner.tailOfLog().contains("needs the cluster's credential"), "\(joiner.tailOfLog())")
        }
        let weak = try NodeProcess()
        do {
            try weak.start(environment: ["AUTOCHAIN_CLUSTER_TOKEN": "s3cret"])
            Issue.record("a node started with a 6-byte credential")
        } catch {
            #expect(weak.tailOfLog().contains("at least 16 bytes"), "\(weak.tailOfLog())")
        }
    }

    @Test func aCredentialFileOthersCanReadIsRefused() throws {
        let dir = TestDirs.make("credential")
        let path = dir + "/" + ClusterCredential.fileName
        _ = FileManager.default.createFile(atPath: path, contents: Data((Self.strong + "\n").utf8), attributes: [.posixPermissions: 0o644])
        #expect(throws: CredentialError.tooOpen(path: path, mode: 0o644)) { try ClusterCredential.load(path: path) }
        chmod(path, 0o600)
        #expect(try ClusterCredential.load(path: path).secret == Self.strong)
    }
}
