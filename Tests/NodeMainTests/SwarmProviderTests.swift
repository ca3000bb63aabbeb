import Foundation
import Chain
import Membership
@testable import NodeMain
import Testing

/// The Swarm provider's requests, reply parsing and placement, without a swarm (the replies are
/// trimmed from a docker 20.10 swarm; scripts/test-swarm.sh runs the provider against a real one).
@Suite struct SwarmProviderTests {
    let spec = SwarmNodeSpec(node: DockerNodeSpec(cluster: "c1", image: "autochain:test", network: "net", registryURL: "http://registry:9090",
                                                  clusterToken: "s3cret", extraEnv: ["CHAIN_ID=x"]),
                             secretName: "cred", spreadLabel: "zone")
    let host = "h3q9czecyi8agsos990g0ynar"

    func created(_ apiVersion: String = "1.41", secretID: String? = "sec1") throws -> JSON {
        try #require(spec.createService("node4", bootstrap: false, fresh: true, peers: ["node1:6000", "node4:6000"], host: host,
                                        secretID: secretID, apiVersion: apiVersion).body)
    }

    @Test func aNodeIsOneServiceOfOneReplica_thatSwarmNeverRestartsAndReplacesStopFirst() throws {
        let b = try created()
        #expect(b["Name"]?.stringValue == "c1-node4")
        #expect(b["Mode"]?["Replicated"]?["Replicas"]?.intValue == 1)
        #expect(b["TaskTemplate"]?["RestartPolicy"]?["Condition"]?.stringValue == "none")
        #expect(b["UpdateConfig"]?["Order"]?.stringValue == "stop-first")
        #expect(b["EndpointSpec"]?["Mode"]?.stringValue == "dnsrr", "the node ID resolves to the task itself, no virtual IP")
    }

    @Test func aNodeIsPinnedToItsHost_andItsLabelsSayWhich() throws {
        let b = try created()
        #expect(b["TaskTemplate"]?["Placement"]?["Constraints"] == .array([.string("node.id==\(host)")]))
        #expect(b["Labels"]?["autochain.cluster"]?.stringValue == "c1" && b["Labels"]?["autochain.node"]?.stringValue == "node4")
        #expect(b["Labels"]?["autochain.host"]?.stringValue == host)
        #expect(b["TaskTemplate"]?["ContainerSpec"]?["Labels"]?["autochain.node"]?.stringValue == "node4")
    }

    @Test func aNodeHasItsOwnVolume_onTheOverlayUnderItsId() throws {
        let b = try created()
        let mounts = b["TaskTemplate"]?["ContainerSpec"]?["Mounts"]?.arrayValue ?? []
        #expect(mounts.first?["Type"]?.stringValue == "volume" && mounts.first?["Source"]?.stringValue == "c1-node4-data")
        #expect(mounts.first?["Target"]?.stringValue == "/data")
        #expect(mounts.first?["VolumeOptions"]?["Labels"]?["autochain.node"]?.stringValue == "node4")
        let net = b["TaskTemplate"]?["Networks"]?.arrayValue?.first
        #expect(net?["Target"]?.stringValue == "net" && net?["Aliases"] == .array(["node4"]))
        #expect(b["TaskTemplate"]?["ContainerSpec"]?["Hostname"]?.stringValue == "node4")
    }

    @Test func theCredentialComesFromTheSecret_notTheEnvironment() throws {
        let c = try #require(try created()["TaskTemplate"]?["ContainerSpec"])
        let env = (c["Env"]?.arrayValue ?? []).compactMap(\.stringValue)
        #expect(!env.contains { $0.hasPrefix("AUTOCHAIN_CLUSTER_TOKEN=") })
        #expect(env.contains("AUTOCHAIN_CLUSTER_TOKEN_FILE=/run/secrets/cred"))
        #expect(env.contains("JOIN=true") && env.contains("PEERS=node1:6000") && env.contains("CHAIN_ID=x"))
        let secret = c["Secrets"]?.arrayValue?.first
        #expect(secret?["SecretID"]?.stringValue == "sec1" && secret?["SecretName"]?.stringValue == "cred")
        #expect(secret?["File"]?["UID"]?.stringValue == "10001" && secret?["File"]?["Mode"]?.intValue == 0o400)
    }

    @Test func withoutASecret_theCredentialIsInTheEnvironment() throws {
        var plain = spec
        plain.secretName = ""
        let c = try #require(plain.createService("node4", bootstrap: true, fresh: true, peers: [], host: host, secretID: nil).body?["TaskTemplate"]?["ContainerSpec"])
        let env = (c["Env"]?.arrayValue ?? []).compactMap(\.stringValue)
        #expect(env.contains("AUTOCHAIN_CLUSTER_TOKEN=s3cret") && !env.contains("JOIN=true"))
        #expect(c["Secrets"] == nil)
    }

    @Test func nodeTasksRunWithLeastPrivilegeAndLimits_capabilitiesFromApi141() throws {
        let b = try created()
        let c = b["TaskTemplate"]?["ContainerSpec"]
        #expect(c?["ReadOnly"] == .bool(true) && c?["CapabilityDrop"] == .array(["ALL"]))
        #expect(c?["Mounts"]?.arrayValue?.last?["Target"]?.stringValue == "/tmp")
        #expect(b["TaskTemplate"]?["Resources"]?["Limits"]?["MemoryBytes"] == .int(Int64(1_073_741_824)))
        #expect(b["TaskTemplate"]?["Resources"]?["Limits"]?["Pids"]?.intValue == 512)
        let old = try created("1.40")
        #expect(old["TaskTemplate"]?["ContainerSpec"]?["CapabilityDrop"] == nil, "an older engine would refuse the field")
        #expect(old["TaskTemplate"]?["Resources"]?["Limits"]?["Pids"] == nil)
    }

    /// Fencing: a fresh node's service carries the registry's incarnation, and a restart's forced
    /// update replaces it (once) so the new task reports the higher number.
    @Test func aStartCarriesItsIncarnation_andARestartRaisesIt() throws {
        let c = try #require(spec.createService("node4", bootstrap: false, fresh: true, peers: [], host: host, secretID: nil,
                                                incarnation: 7).body)
        let env = { (j: JSON) in (j["TaskTemplate"]?["ContainerSpec"]?["Env"]?.arrayValue ?? []).compactMap(\.stringValue) }
        #expect(env(c).filter { $0.hasPrefix("NODE_INCARNATION=") } == ["NODE_INCARNATION=7"])
        let restarted = try #require(SwarmNodeSpec.rescaled(c, replicas: 1, forceRestart: true, incarnation: 9))
        #expect(env(restarted).filter { $0.hasPrefix("NODE_INCARNATION=") } == ["NODE_INCARNATION=9"])
        #expect(env(restarted).filter { !$0.hasPrefix("NODE_INCARNATION=") } == env(c).filter { !$0.hasPrefix("NODE_INCARNATION=") })
        let stopped = try #require(SwarmNodeSpec.rescaled(c, replicas: 0, forceRestart: false, incarnation: 11))
        #expect(env(stopped).contains("NODE_INCARNATION=7"), "a stop starts nothing, so it hands out no number")
    }

    @Test func listsOnlyTheClustersServices_andTheirTasksByServiceId() {
        #expect(spec.listServices().path == "/services?filters=%7B%22label%22%3A%5B%22autochain.cluster%3Dc1%22%5D%7D")
        #expect(SwarmNodeSpec.listTasks(services: ["abc"]).path == "/tasks?filters=%7B%22service%22%3A%5B%22abc%22%5D%7D")
    }

    @Test func aRestartIsAForcedUpdateOfTheSameSpec_aStopIsZeroReplicas() throws {
        let b = try created()
        let restarted = try #require(SwarmNodeSpec.rescaled(b, replicas: 1, forceRestart: true))
        #expect(restarted["TaskTemplate"]?["ForceUpdate"]?.intValue == 1)
        #expect(restarted["TaskTemplate"]?["Placement"] == b["TaskTemplate"]?["Placement"], "same host, same volume")
        let stopped = try #require(SwarmNodeSpec.rescaled(b, replicas: 0, forceRestart: false))
        #expect(stopped["Mode"]?["Replicated"]?["Replicas"]?.intValue == 0 && stopped["TaskTemplate"]?["ForceUpdate"]?.intValue == 0)
        #expect(SwarmNodeSpec.rescaled(["Mode": ["Global": [:]], "TaskTemplate": [:]], replicas: 1, forceRestart: true) == nil)
        let retired = try #require(SwarmNodeSpec.markedRetired(b, unixSeconds: 1_700_000_000))
        #expect(retired["Labels"]?["autochain.retired"]?.stringValue == "1700000000" && retired["Mode"]?["Replicated"]?["Replicas"]?.intValue == 0)
    }

    // MARK: replies

    static let services = """
    [{"ID":"q6ajnq1m2l3fkmv0k0zq0wlty","Version":{"Index":41},"Spec":{"Name":"c1-node1",
      "Labels":{"autochain.cluster":"c1","autochain.host":"h3q9czecyi8agsos990g0ynar","autochain.node":"node1"},
      "Mode":{"Replicated":{"Replicas":1}}}},
     {"ID":"x1retiredservice000000000","Spec":{"Name":"c1-node2","Labels":{"autochain.cluster":"c1",
      "autochain.host":"b61x9gxu9edzcbuawqd8eon94","autochain.node":"node2","autochain.retired":"1700000000"},
      "Mode":{"Replicated":{"Replicas":0}}}},
     {"ID":"foreign0000000000000000000","Spec":{"Name":"web","Labels":{"autochain.cluster":"other","autochain.node":"node3",
      "autochain.host":"h3q9czecyi8agsos990g0ynar"},"Mode":{"Replicated":{"Replicas":1}}}},
     {"ID":"../../etc","Spec":{"Labels":{"autochain.cluster":"c1","autochain.node":"node5","autochain.host":"h"}}},
     {"ID":"badnode00000000000000000","Spec":{"Labels":{"autochain.cluster":"c1","autochain.node":"Node_5","autochain.host":"h"}}},
     {"ID":"nohost000000000000000000","Spec":{"Labels":{"autochain.cluster":"c1","autochain.node":"node6"}}},
     {"ID":"registry00000000000000000","Spec":{"Labels":{"autochain.cluster":"c1","autochain.role":"registry"}}}]
    """

    @Test func servicesAreTheClustersNodeServicesOnly_malformedOrForeignDropped() throws {
        let parsed = SwarmService.parseList(try JSON.parse(Self.services), spec: spec)
        #expect(parsed.map(\.node) == ["node1", "node2"])
        #expect(parsed[0] == SwarmService(id: "q6ajnq1m2l3fkmv0k0zq0wlty", node: "node1", host: "h3q9czecyi8agsos990g0ynar", replicas: 1))
        #expect(parsed[1].retiredAt == 1_700_000_000 && parsed[1].replicas == 0)
    }

    /// Verbatim (trimmed to the fields read) from docker 20.10's `GET /v1.41/services` and `/tasks`.
    @Test func recordedRepliesOfARealSwarm() throws {
        let services = #"[{"ID": "b3yn3cicff2elsh1dfbwzn77o", "Version": {"Index": 169}, "Spec": {"Name": "autochain-swarm-node3", "Labels": {"autochain.cluster": "autochain-swarm", "autochain.host": "h3q9czecyi8agsos990g0ynar", "autochain.node": "node3"}, "Mode": {"Replicated": {"Replicas": 1}}}}]"#
        let swarmSpec = SwarmNodeSpec(node: DockerNodeSpec(cluster: "autochain-swarm"))
        #expect(SwarmService.parseList(try JSON.parse(services), spec: swarmSpec)
            == [SwarmService(id: "b3yn3cicff2elsh1dfbwzn77o", node: "node3", host: "h3q9czecyi8agsos990g0ynar", replicas: 1)])
        let tasks = #"[{"ID": "ljti9vfovq6uir81pthn70be1", "Version": {"Index": 182}, "ServiceID": "tyxppe16ajzdr6fibp6topfk6", "NodeID": "h3q9czecyi8agsos990g0ynar", "DesiredState": "shutdown", "Slot": 1, "Status": {"Timestamp": "2026-11-27T23:00:54.174584567Z", "State": "failed", "Message": "starting", "Err": "task: non-zero exit (2)", "ContainerStatus": {"ContainerID": "a027cb985a6c1fde9fa9338a511ce50bf7b4e2150a3a6741788703f3de214fd9", "PID": 0, "ExitCode": 2}, "PortStatus": {}}}]"#
        let t = try #require(SwarmTask.newestByService(try JSON.parse(tasks))["tyxppe16ajzdr6fibp6topfk6"])
        #expect(t.ended && !t.running && !t.starting && t.exitCode == 2 && t.version == 182)
    }

    @Test func anUnreadableRetiredMarkIsStillAMark() throws {
        let reply = #"[{"ID":"abc","Spec":{"Labels":{"autochain.cluster":"c1","autochain.node":"node1","autochain.host":"h1","autochain.retired":"soon"}}}]"#
        #expect(SwarmService.parseList(try JSON.parse(reply), spec: spec).first?.retiredAt == UInt64.max)
    }

    static let tasks = """
    [{"ID":"t1","Version":{"Index":50},"ServiceID":"svc1","NodeID":"h1","DesiredState":"shutdown",
      "Status":{"Timestamp":"2026-11-27T22:51:48Z","State":"failed","Message":"started","Err":"task: non-zero exit (137)",
                "ContainerStatus":{"ContainerID":"abc","PID":0,"ExitCode":137}}},
     {"ID":"t2","Version":{"Index":61},"ServiceID":"svc1","NodeID":"h1","DesiredState":"running",
      "Status":{"State":"running","ContainerStatus":{"ContainerID":"def","PID":4242,"ExitCode":0}}},
     {"ID":"t3","Version":{"Index":30},"ServiceID":"svc2","DesiredState":"shutdown",
      "Status":{"State":"complete","ContainerStatus":{"ExitCode":0}}},
     {"ID":"t4","Version":{"Index":31},"ServiceID":"svc2","Status":{"State":"pending"}},
     {"ID":"t5","ServiceID":"svc3","Status":{"State":"running"}},
     {"ID":"t6","Version":{"Index":99},"ServiceID":"../x","Status":{"State":"running"}},
     {"ID":"t7","Version":{"Index":-5},"ServiceID":"svc4","Status":{"State":"running"}}]
    """

    @Test func theNewestTaskOfAServiceSaysWhetherTheNodeRuns_andHowItEnded() throws {
        let newest = SwarmTask.newestByService(try JSON.parse(Self.tasks))
        #expect(newest["svc1"]?.running == true && newest["svc1"]?.version == 61)
        #expect(newest["svc2"]?.state == "pending" && newest["svc2"]?.running == false && newest["svc2"]?.ended == false)
        #expect(newest["svc3"] == nil && newest["../x"] == nil && newest["svc4"] == nil, "no version, a path, a negative index: dropped")
        #expect(newest["svc2"]?.starting == false, "pending but not desired running: not on its way")
        let pending = SwarmTask.newestByService(try JSON.parse(#"[{"Version":{"Index":3},"ServiceID":"svc9","DesiredState":"running","Status":{"State":"preparing"}}]"#))
        #expect(pending["svc9"]?.starting == true, "a task on its way is not restarted again")
        let killed = SwarmTask.newestByService(try JSON.parse(#"[{"Version":{"Index":50},"ServiceID":"svc1","Status":{"State":"failed","ContainerStatus":{"ExitCode":137}}}]"#))
        #expect(killed["svc1"]?.exitCode == 137 && killed["svc1"]?.ended == true)
    }

    static let hosts = """
    [{"ID":"b61x9gxu9edzcbuawqd8eon94","Spec":{"Labels":{"zone":"c"},"Role":"manager","Availability":"active"},
      "Description":{"Hostname":"vm"},"Status":{"State":"ready","Addr":"10.99.0.13"}},
     {"ID":"h3q9czecyi8agsos990g0ynar","Spec":{"Labels":{"zone":"a"},"Availability":"active"},
      "Description":{"Hostname":"vm"},"Status":{"State":"ready"}},
     {"ID":"m0f6abotdmbz7aqpwrpz2rw7n","Spec":{"Labels":{"zone":"b"},"Availability":"drain"},
      "Description":{"Hostname":"vm"},"Status":{"State":"ready"}},
     {"ID":"down00000000000000000000a","Spec":{"Labels":{"zone":"b"},"Availability":"active"},"Status":{"State":"down"}},
     {"ID":"","Spec":{}}, {"Spec":{"Availability":"active"}}, 7]
    """

    @Test func hostsAreUsableOnlyReadyAndActive_downIsTold() throws {
        let hosts = SwarmHost.parseList(try JSON.parse(Self.hosts), spreadLabel: "zone")
        #expect(hosts.map(\.id) == ["b61x9gxu9edzcbuawqd8eon94", "h3q9czecyi8agsos990g0ynar", "m0f6abotdmbz7aqpwrpz2rw7n", "down00000000000000000000a"])
        #expect(hosts.map(\.usable) == [true, true, false, false])
        #expect(hosts.map(\.down) == [false, false, false, true])
        #expect(hosts.map(\.drained) == [false, false, true, false], "a drained host's nodes are replaced elsewhere")
        #expect(hosts.map(\.zone) == ["c", "a", "b", "b"])
    }

    @Test func hostileRepliesAreEmptyNotACrash() throws {
        for text in ["null", "{}", "[]", "[null,1,\"x\",[]]", #"{"message":"This node is not a swarm manager."}"#,
                     #"[{"ID":7,"Spec":{"Labels":[1,2]},"Status":"ready","Version":{"Index":"x"}}]"#] {
            let json = try JSON.parse(text)
            #expect(SwarmService.parseList(json, spec: spec).isEmpty)
            #expect(SwarmTask.newestByService(json).isEmpty)
            #expect(SwarmHost.parseList(json, spreadLabel: "zone").isEmpty)
        }
    }

    // MARK: placement

    let a1 = SwarmHost(id: "a1", hostname: "ha1", usable: true, zone: "a")
    let a2 = SwarmHost(id: "a2", hostname: "ha2", usable: true, zone: "a")
    let b1 = SwarmHost(id: "b1", hostname: "hb1", usable: true, zone: "b")
    let c1 = SwarmHost(id: "c1", hostname: "hc1", usable: true, zone: "c")

    @Test func aFreshNodeGoesToTheZoneWithFewestNodes_thenTheHostWithFewest() {
        #expect(SwarmPlacement.choose(hosts: [a1, a2, b1], nodesOnHost: ["a1": 1]) == b1)
        #expect(SwarmPlacement.choose(hosts: [a1, a2, b1], nodesOnHost: ["a1": 1, "b1": 1]) == a2)
        #expect(SwarmPlacement.choose(hosts: [a1, a2, b1], nodesOnHost: [:]) == a1, "ties broken by hostname: reproducible")
    }

    @Test func oneNodePerHostWhileHostsAllow_thenDoublingUp() {
        var counts: [String: Int] = [:]
        var placed: [String] = []
        for _ in 0..<5 {
            let h = SwarmPlacement.choose(hosts: [a1, b1, c1], nodesOnHost: counts)!
            placed.append(h.id)
            counts[h.id, default: 0] += 1
        }
        #expect(Array(placed.prefix(3)).sorted() == ["a1", "b1", "c1"])
        #expect(counts.values.max() == 2)
    }

    @Test func aReplacementAvoidsADownOrDrainedHost() {
        let down = SwarmHost(id: "a1", hostname: "ha1", usable: false, down: true, zone: "a")
        #expect(SwarmPlacement.choose(hosts: [down, b1, c1], nodesOnHost: ["b1": 1, "c1": 1]) != down)
        #expect(SwarmPlacement.choose(hosts: [down], nodesOnHost: [:]) == nil)
    }

    /// SWARM_NODE_HOSTS=workers: ledger nodes never go on a manager, whatever the zones say; with
    /// no worker usable there is nowhere to put one.
    @Test func withWorkersOnly_aManagerIsNeverChosen() {
        let manager = SwarmHost(id: "m1", hostname: "hm1", usable: true, zone: "m", isManager: true)
        #expect(SwarmPlacement.choose(hosts: [manager, a1], nodesOnHost: ["a1": 2]) == manager, "any host: the emptiest zone")
        #expect(SwarmPlacement.choose(hosts: [manager, a1], nodesOnHost: ["a1": 2], workersOnly: true) == a1)
        #expect(SwarmPlacement.choose(hosts: [manager], nodesOnHost: [:], workersOnly: true) == nil)
    }

    @Test func aHostsRoleIsReadFromItsSpec() throws {
        let reply = #"[{"ID":"m1","Spec":{"Role":"manager","Availability":"active","Labels":{"zone":"a"}},"Status":{"State":"ready"}},"#
            + #"{"ID":"w1","Spec":{"Role":"worker","Availability":"active"},"Status":{"State":"ready"}}]"#
        let hosts = SwarmHost.parseList(try JSON.parse(reply), spreadLabel: "zone")
        #expect(hosts.map(\.isManager) == [true, false])
    }

    @Test func swarmNodeHosts_mustBeAnyOrWorkers() {
        let parsed = ParsedArguments(command: "registry", values: [:], flags: [])
        #expect {
            _ = try RegistryProviderOption.make(parsed, environment: ["AUTOCHAIN_PROVIDER": "swarm", "SWARM_NODE_HOSTS": "managers"],
                                                baseDir: "/tmp", configPath: nil, registryURL: "", clusterToken: "", logLevel: "info")
        } throws: { "\($0)".contains("any or workers") }
    }

    @Test func swarmIsAProviderChoice_thatNeedsAnEngine() throws {
        let parsed = ParsedArguments(command: "registry", values: [:], flags: [])
        func make(_ env: [String: String]) throws(CLIError) {
            _ = try RegistryProviderOption.make(parsed, environment: env, baseDir: "/tmp", configPath: nil, registryURL: "",
                                                clusterToken: "", logLevel: "info")
        }
        #expect { try make(["AUTOCHAIN_PROVIDER": "kubernetes"]) } throws: { "\($0)".contains("swarm") }
        #expect { try make(["AUTOCHAIN_PROVIDER": "swarm", "DOCKER_SOCKET": "/nonexistent/docker.sock"]) } throws: {
            "\($0)".contains("swarm provider")
        }
    }
}
