import Chain
import P2P
import Testing
@testable import Membership

/// The gateway's decisions: which node next, and when a failed request may go to another.
@Suite("GatewayRouting") struct GatewayRoutingTests {
    static let a = GatewayRouting.Node(id: "node1", apiURL: "http://127.0.0.1:1001")
    static let b = GatewayRouting.Node(id: "node2", apiURL: "http://127.0.0.1:1002")
    static let c = GatewayRouting.Node(id: "node3", apiURL: "http://127.0.0.1:1003")

    func routing(_ nodes: [GatewayRouting.Node], attempts: Int = 3) -> GatewayRouting {
        var r = GatewayRouting(maxAttempts: attempts, failureCooldownS: 2)
        r.replace(nodes: nodes)
        return r
    }

    @Test func noKnownNodeGivesAnEmptyPlan() {
        var r = routing([])
        #expect(r.plan(now: 0).isEmpty)
    }

    @Test func successiveRequestsStartOnSuccessiveNodes() {
        var r = routing([Self.a, Self.b, Self.c])
        let firsts = (0..<6).map { _ in r.plan(now: 0).first?.id }
        #expect(firsts == ["node1", "node2", "node3", "node1", "node2", "node3"])
    }

    @Test func aPlanNamesEveryNodeOnceUpToTheAttemptLimit() {
        var r = routing([Self.a, Self.b, Self.c], attempts: 2)
        let plan = r.plan(now: 0)
        #expect(plan.count == 2 && Set(plan.map(\.id)).count == 2)
        var all = routing([Self.a, Self.b, Self.c], attempts: 16)
        #expect(all.plan(now: 0).map(\.id) == ["node1", "node2", "node3"])
    }

    @Test func aNodeThatRefusedAConnectionIsTriedLastDuringTheCooldownOnly() {
        var r = routing([Self.a, Self.b, Self.c])
        r.markFailed("node1", now: 10)
        #expect(r.plan(now: 10.5).map(\.id) == ["node2", "node3", "node1"])
        #expect(r.plan(now: 11).map(\.id) == ["node2", "node3", "node1"])
        _ = r.plan(now: 11)  // the rotation is back at node1
        #expect(r.plan(now: 12.5).map(\.id) == ["node1", "node2", "node3"])
    }

    @Test func anAnswerClearsTheFailureMark() {
        var r = routing([Self.a, Self.b])
        r.markFailed("node1", now: 10)
        r.markAnswered("node1")
        #expect(r.plan(now: 10).map(\.id) == ["node1", "node2"])
    }

    @Test func suspectNodesComeAfterAliveOnes() {
        let suspect = GatewayRouting.Node(id: "node1", apiURL: "http://127.0.0.1:1001", suspect: true)
        var r = routing([suspect, Self.b])
        #expect(r.plan(now: 0).map(\.id) == ["node2", "node1"])
    }

    @Test func aNewListForgetsMarksOfNodesNoLongerListedAndDropsDuplicates() {
        var r = routing([Self.a, Self.b])
        r.markFailed("node1", now: 10)
        r.replace(nodes: [Self.b, Self.b])
        #expect(r.nodes == [Self.b])
        r.replace(nodes: [Self.a, Self.b])
        #expect(r.plan(now: 10).first?.id == "node1")
    }

    @Test func aRequestThatNeverReachedANodeIsRetriedWhateverItIs() {
        for (method, path) in [("GET", "/chain/head"), ("POST", "/submit-txs"), ("POST", "/members/remove")] {
            #expect(GatewayRouting.mayRetry(method: method, path: path, failure: .notDelivered))
        }
    }

    @Test func afterSendingOnlyReadsAndSubmitTxAreRetried() {
        #expect(GatewayRouting.mayRetry(method: "GET", path: "/chain/head", failure: .afterSending))
        #expect(GatewayRouting.mayRetry(method: "HEAD", path: "/status", failure: .afterSending))
        #expect(GatewayRouting.mayRetry(method: "POST", path: "/submit-tx", failure: .afterSending))
        #expect(!GatewayRouting.mayRetry(method: "POST", path: "/submit-txs", failure: .afterSending))
        #expect(!GatewayRouting.mayRetry(method: "POST", path: "/members/promote", failure: .afterSending))
        #expect(!GatewayRouting.mayRetry(method: "POST", path: "/leadership/transfer", failure: .afterSending))
    }

    @Test func connectFailuresAreNotDeliveredAndEverythingElseMayHaveReachedTheNode() {
        #expect(Gateway.classify(.connectionRefused("x")) == .notDelivered)
        #expect(Gateway.classify(.io(.system(call: "connect", errno: 113, address: nil))) == .notDelivered)
        #expect(Gateway.classify(.timeout("connecting to 10.0.0.1:80")) == .notDelivered)
        #expect(Gateway.classify(.timeout("waiting for the response")) == .afterSending)
        #expect(Gateway.classify(.connectionClosed("before the response")) == .afterSending)
        #expect(Gateway.classify(.io(.system(call: "recv", errno: 104, address: nil))) == .afterSending)
    }

    @Test func discoverAnswersAreReadDefensivelyAndBounded() {
        let body = """
            {"nodes":[{"id":"node1","apiUrl":"http://127.0.0.1:1001","state":"alive"},
                      {"id":"Bad ID","apiUrl":"http://127.0.0.1:1002"},
                      {"id":"node3","apiUrl":"ftp://x"},
                      {"id":"node4","apiUrl":"http://127.0.0.1:1004","state":"suspect"},
                      {"id":"node5"}, 7]}
            """
        let nodes = GatewayDiscovery.nodes(fromDiscoverBody: Array(body.utf8), maxNodes: 10)
        #expect(nodes.map(\.id) == ["node1", "node4"])
        #expect(nodes.last?.suspect == true)
        #expect(GatewayDiscovery.nodes(fromDiscoverBody: Array(body.utf8), maxNodes: 1).map(\.id) == ["node1"])
        #expect(GatewayDiscovery.nodes(fromDiscoverBody: Array("not json".utf8), maxNodes: 10).isEmpty)
    }
}
