import Chain
import Testing
@testable import Membership

/// The Docker provider's requests and label checks, without a daemon (scripts/test-compose.sh
/// runs it against a real engine).
@Suite struct DockerProviderTests {
    let spec = DockerNodeSpec(cluster: "c1", image: "autochain:test", network: "net", registryURL: "http://registry:9090",
                              clusterToken: "s3cret", extraEnv: ["CHAIN_ID=x"])

    @Test func listsOnlyTheClustersContainers_filterEncoded() {
        let r = spec.listContainers()
        #expect(r.method == "GET")
        #expect(r.path == "/containers/json?all=true&filters=%7B%22label%22%3A%5B%22autochain.cluster%3Dc1%22%5D%7D")
    }

    @Test func createsALabelledContainerOnItsVolumeAndNetwork() throws {
        let r = spec.createContainer("node4", bootstrap: false, fresh: true, peers: ["node1:6000", "node4:6000"])
        #expect(r.method == "POST" && r.path == "/containers/create?name=c1-node4")
        let b = try #require(r.body)
        #expect(b["Image"]?.stringValue == "autochain:test")
        #expect(b["Labels"]?["autochain.cluster"]?.stringValue == "c1" && b["Labels"]?["autochain.node"]?.stringValue == "node4")
        #expect(b["HostConfig"]?["NetworkMode"]?.stringValue == "net")
        #expect(b["HostConfig"]?["RestartPolicy"]?["Name"]?.stringValue == "no")
        let mount = b["HostConfig"]?["Mounts"]?.arrayValue?.first
        #expect(mount?["Source"]?.stringValue == "c1-node4-data" && mount?["Target"]?.stringValue == "/data")
        #expect(b["NetworkingConfig"]?["EndpointsConfig"]?["net"]?["Aliases"] == .array(["node4"]))
        let env = (b["Env"]?.arrayValue ?? []).compactMap(\.stringValue)
        #expect(env.contains("JOIN=true") && env.contains("PEERS=node1:6000") && env.contains("P2P_ADVERTISE=node4:6000"))
        #expect(env.contains("AUTOCHAIN_CLUSTER_TOKEN=s3cret") && env.contains("CHAIN_ID=x") && env.contains("REGISTRY_URL=http://registry:9090"))
    }

    @Test func nodeContainersRunWithLeastPrivilegeAndLimits() throws {
        var limited = spec
        limited.limits = DockerNodeLimits(memoryMiB: 256, pids: 128)
        let host = try #require(limited.createContainer("node4", bootstrap: false, fresh: true, peers: []).body?["HostConfig"])
        #expect(host["CapDrop"] == .array(["ALL"]))
        #expect(host["SecurityOpt"] == .array(["no-new-privileges:true"]))
        #expect(host["ReadonlyRootfs"] == .bool(true))
        #expect(host["Tmpfs"]?["/tmp"]?.stringValue?.contains("size=16m") == true)
        #expect(host["Memory"]?.intValue == 256 * 1_048_576 && host["MemorySwap"]?.intValue == 256 * 1_048_576)
        #expect(host["PidsLimit"]?.intValue == 128)
        #expect(host["PortBindings"] == nil && host["Privileged"] == nil, "a created node publishes no port")
    }

    @Test func restartAndBootstrapDoNotJoin() {
        #expect(!spec.environment("n", bootstrap: true, fresh: true, peers: []).contains("JOIN=true"))
        #expect(!spec.environment("n", bootstrap: false, fresh: false, peers: []).contains("JOIN=true"))
    }

    @Test func foreignContainersAreNeverOurs() {
        let list: JSON = [
            ["Id": "a", "Names": ["/c1-node1"], "State": "running", "Labels": ["autochain.cluster": "c1", "autochain.node": "node1"]],
            ["Id": "b", "Names": ["/other"], "State": "running", "Labels": ["autochain.cluster": "c2", "autochain.node": "node1"]],
            ["Id": "c", "Names": ["/db"], "State": "exited", "Labels": ["autochain.cluster": "c1"]],
            ["Id": "d", "Names": ["/x"], "State": "exited"],
        ]
        let mine = DockerContainer.parseList(list, spec: spec)
        #expect(mine == [DockerContainer(id: "a", node: "node1", running: true, name: "c1-node1")])
        #expect(!spec.owns(["autochain.cluster": "c1", "autochain.node": "node1"], node: "node2"))
        let volumes: JSON = ["Volumes": [["Name": "c1-node1-data", "Labels": ["autochain.cluster": "c1", "autochain.node": "node1"]],
                                         ["Name": "junk", "Labels": .null]]]
        #expect(DockerContainer.parseVolumes(volumes, spec: spec) == ["node1": "c1-node1-data"])
    }

    @Test func engineRepliesWithBadIdsOrNodeLabels_areNotTheClusters() {
        let list: JSON = [
            ["Id": "..", "Names": ["/c1-node1"], "State": "running", "Labels": ["autochain.cluster": "c1", "autochain.node": "node1"]],
            ["Id": "ab/../cd", "Names": ["/c1-node2"], "State": "running", "Labels": ["autochain.cluster": "c1", "autochain.node": "node2"]],
            ["Id": "abc", "Names": ["/c1-x"], "State": "running", "Labels": ["autochain.cluster": "c1", "autochain.node": "../x"]],
            ["Id": "abd", "Names": ["/c1-node3"], "State": "running", "Labels": ["autochain.cluster": "c1", "autochain.node": "node3"]],
        ]
        #expect(DockerContainer.parseList(list, spec: spec).map(\.node) == ["node3"])
        let volumes: JSON = ["Volumes": [["Name": "v", "Labels": ["autochain.cluster": "c1", "autochain.node": "Node1"]],
                                         ["Name": "w", "Labels": ["autochain.cluster": "c1", "autochain.node": "node2"]]]]
        #expect(DockerContainer.parseVolumes(volumes, spec: spec) == ["node2": "w"])
    }

    @Test func aRetiredNodesVolumeIsMarkedAsideByANeverStartedPlaceholder() throws {
        let r = spec.setAsideContainer("node2", volume: "c1-node2-data", unixSeconds: 1_800_000_000)
        #expect(r.method == "POST" && r.path == "/containers/create?name=c1-node2-retired-1800000000")
        let b = try #require(r.body)
        #expect(b["Labels"]?["autochain.retired"]?.stringValue == "1800000000" && b["Labels"]?["autochain.node"]?.stringValue == "node2")
        #expect(b["HostConfig"]?["Mounts"]?.arrayValue?.first?["Source"]?.stringValue == "c1-node2-data")
        #expect(b["HostConfig"]?["NetworkMode"]?.stringValue == "none")
    }

    @Test func placeholdersAreReadAsSetAside_anUnreadableMarkIsNeverPurged() {
        let list: JSON = [
            ["Id": "a1", "Names": ["/c1-node2-retired-1800000000"], "State": "created",
             "Labels": ["autochain.cluster": "c1", "autochain.node": "node2", "autochain.retired": "1800000000"]],
            ["Id": "a2", "Names": ["/c1-node3-retired-x"], "State": "created",
             "Labels": ["autochain.cluster": "c1", "autochain.node": "node3", "autochain.retired": "soon"]],
            ["Id": "a3", "Names": ["/c1-node4"], "State": "running", "Labels": ["autochain.cluster": "c1", "autochain.node": "node4"]],
        ]
        #expect(DockerContainer.parseList(list, spec: spec).map(\.setAsideAt) == [1_800_000_000, UInt64.max, nil])
    }

    @Test func exitStatusIsReadFromTheListsStatus_soACleanStopIsToldFromAKill() {
        let list: JSON = [
            ["Id": "a", "Names": ["/c1-node2"], "State": "exited", "Status": "Exited (0) 3 seconds ago",
             "Labels": ["autochain.cluster": "c1", "autochain.node": "node2"]],
            ["Id": "b", "Names": ["/c1-node3"], "State": "exited", "Status": "Exited (137) About a minute ago",
             "Labels": ["autochain.cluster": "c1", "autochain.node": "node3"]],
            ["Id": "c", "Names": ["/c1-node4"], "State": "created", "Status": "Created",
             "Labels": ["autochain.cluster": "c1", "autochain.node": "node4"]],
        ]
        let c = DockerContainer.parseList(list, spec: spec)
        #expect(c.map(\.exitCode) == [0, 137, nil])
        #expect(c.map(\.exitedCleanly) == [true, false, false], "a created container never ran, so nobody stopped it")
        #expect(DockerContainer.exitCode(status: "Up 2 minutes (healthy)") == nil)
        #expect(DockerContainer.exitCode(status: "Exited () 1 second ago") == nil)
    }

    @Test func apiVersionIsNegotiatedDown() {
        #expect(DockerEngine.negotiate(server: "1.41") == "1.41")
        #expect(DockerEngine.negotiate(server: "1.47") == DockerEngine.maxAPIVersion)
        #expect(DockerEngine.compare("1.9", "1.41") < 0)
        #expect(DockerNodeSpec.stop("c1-node1", timeoutS: 10).path == "/containers/c1-node1/stop?t=10")
        #expect(DockerNodeSpec.remove("abc").path == "/containers/abc?force=true&v=false")
    }
}
