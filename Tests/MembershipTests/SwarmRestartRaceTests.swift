import Chain
import Dispatch
import Foundation
import P2P
import Synchronization
import Testing
@testable import Membership

/// A restart the registry asks for while Swarm still shows the node's task running (Swarm hears
/// of a container's death from the host's agent a moment after the engine) waits, bounded, for
/// Swarm to see the end and then restarts the node; a task that keeps running is left alone; and
/// an update under way (an operator's `docker service update --image`) is not restarted on top.
@Suite struct SwarmRestartRaceTests {
    /// A swarm manager on a Unix socket with one node service (`node1` of cluster `c1`, on host
    /// `h1`) whose task runs until `failAt` (then it has failed with exit status 137), or, while
    /// `inUpdate`, is between the old task's stop and the new one's start of an update; records
    /// the service updates it is sent.
    final class FakeSwarm {
        final class State: Sendable {
            let failAt = Mutex<Date?>(nil)
            let inUpdate = Mutex(false)
            /// The task is `starting` (a health check not passed yet) rather than `running`.
            let starting = Mutex(false)
            let updates = Mutex<[String]>([])
        }
        let path = "/tmp/fake-swarm-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let state = State()
        private let server: HTTPServer

        init() throws {
            let state = self.state
            let labels = #"{"autochain.cluster":"c1","autochain.node":"node1","autochain.host":"h1"}"#
            let spec = #"{"Name":"c1-node1","Labels":\#(labels),"Mode":{"Replicated":{"Replicas":1}},"TaskTemplate":{"ContainerSpec":{"Env":[]}}}"#
            server = HTTPServer { request, responder in
                // The engine client prefixes every call but the first with /v<api version>.
                var path = request.path
                if path.hasPrefix("/v1."), let slash = path.dropFirst().firstIndex(of: "/") { path = String(path[slash...]) }
                let failed = state.failAt.withLock { $0.map { Date() >= $0 } ?? false }
                let inUpdate = state.inUpdate.withLock { $0 }
                let task = inUpdate
                    ? #"{"Version":{"Index":9},"ServiceID":"svc1","DesiredState":"shutdown","Status":{"State":"shutdown","ContainerStatus":{"ExitCode":0}}}"#
                    : failed
                    ? #"{"Version":{"Index":9},"ServiceID":"svc1","DesiredState":"shutdown","Status":{"State":"failed","ContainerStatus":{"ExitCode":137}}}"#
                    : state.starting.withLock({ $0 })
                    ? #"{"Version":{"Index":8},"ServiceID":"svc1","DesiredState":"running","Status":{"State":"starting"}}"#
                    : #"{"Version":{"Index":8},"ServiceID":"svc1","DesiredState":"running","Status":{"State":"running"}}"#
                let update = inUpdate ? #","UpdateStatus":{"State":"updating"}"# : ""
                let body: String
                switch (request.method, path) {
                case ("GET", "/version"): body = #"{"ApiVersion":"1.41"}"#
                case ("GET", "/info"): body = #"{"Swarm":{"LocalNodeState":"active","ControlAvailable":true}}"#
                case ("GET", "/nodes"): body = #"[{"ID":"h1","Spec":{"Availability":"active","Labels":{"zone":"a"}},"Status":{"State":"ready"}}]"#
                case ("GET", "/services"): body = #"[{"ID":"svc1","Version":{"Index":5},"Spec":\#(spec)\#(update)}]"#
                case ("GET", "/services/svc1"): body = #"{"ID":"svc1","Version":{"Index":5},"Spec":\#(spec)}"#
                case ("GET", "/tasks"): body = "[\(task)]"
                case ("POST", "/services/svc1/update"):
                    state.updates.withLock { $0.append(request.bodyText) }
                    body = #"{"Warnings":null}"#
                case ("GET", _) where path.hasPrefix("/networks/"): body = #"{"Driver":"overlay","Options":{}}"#
                default: return responder.send(.json(status: 404, body: #"{"message":"not here"}"#))
                }
                responder.send(.json(body: body))
            }
            _ = try server.start(bindTo: SocketAddress(parsing: path))
        }

        func stop() {
            server.stop()
            unlink(path)
        }

        func provider() throws -> SwarmProvider {
            try SwarmProvider(spec: SwarmNodeSpec(node: DockerNodeSpec(cluster: "c1")), socketPath: path, pollIntervalMs: 10_000)
        }
    }

    @Test func aRestartWhileSwarmStillShowsTheTaskRunning_waitsForItsEnd_thenRestartsTheNode() throws {
        let swarm = try FakeSwarm()
        defer { swarm.stop() }
        let provider = try swarm.provider()
        defer { provider.close() }
        #expect(provider.isRunning("node1"))
        // Swarm learns of the death 1 s after the registry asked for the restart.
        swarm.state.failAt.withLock { $0 = Date().addingTimeInterval(1) }
        _ = try provider.start("node1", bootstrap: false, peers: [], incarnation: 7)
        let updates = swarm.state.updates.withLock { $0 }
        #expect(updates.count == 1, "one forced update once Swarm saw the task end")
        #expect(updates.first?.contains("NODE_INCARNATION=7") == true)
    }

    @Test func aRestartOfATaskThatKeepsRunning_isLeftAloneAfterTheWait() throws {
        let swarm = try FakeSwarm()
        defer { swarm.stop() }
        let provider = try swarm.provider()
        defer { provider.close() }
        let started = Date()
        _ = try provider.start("node1", bootstrap: false, peers: [], incarnation: 7)
        #expect(Date().timeIntervalSince(started) >= Double(SwarmProvider.taskEndWaitMs) / 1000 - 0.05, "it waited for the task's end")
        #expect(swarm.state.updates.withLock { $0 }.isEmpty, "a task still running may be a healthy copy: not restarted")
    }

    @Test func aRestartDuringAnUpdateWhoseNewTaskIsNotUpYet_isLeftToTheUpdate() throws {
        let swarm = try FakeSwarm()
        defer { swarm.stop() }
        let provider = try swarm.provider()
        defer { provider.close() }
        // `docker service update --image`: the old task stopped (cleanly), the new one not yet made.
        swarm.state.inUpdate.withLock { $0 = true }
        _ = try provider.start("node1", bootstrap: false, peers: [], incarnation: 7)
        #expect(swarm.state.updates.withLock { $0 }.isEmpty, "the update starts the node: no forced restart on top of it")
    }

    @Test func aServiceSaysWhenAnUpdateIsUnderWay() throws {
        let spec = SwarmNodeSpec(node: DockerNodeSpec(cluster: "c1"))
        let labels = #"{"autochain.cluster":"c1","autochain.node":"node1","autochain.host":"h1"}"#
        func updating(_ state: String) throws -> Bool? {
            let reply = #"[{"ID":"svc1","Spec":{"Labels":\#(labels)},"UpdateStatus":{"State":"\#(state)"}}]"#
            return SwarmService.parseList(try JSON.parse(reply), spec: spec).first?.updating
        }
        #expect(try updating("updating") == true && updating("rollback_started") == true)
        #expect(try updating("completed") == false && updating("paused") == false && updating("rollback_completed") == false)
    }

    @Test func aTaskThatEndsWhileStillStarting_isReportedAsAnExit() throws {
        let swarm = try FakeSwarm()
        defer { swarm.stop() }
        swarm.state.starting.withLock { $0 = true }
        let provider = try swarm.provider()
        defer { provider.close() }
        let exits = Mutex<[String]>([])
        provider.onExit { node, status in exits.withLock { $0.append("\(node) \(status)") } }
        try provider.refresh(reportExits: true)
        #expect(exits.withLock { $0 }.isEmpty, "starting is not an exit")
        swarm.state.failAt.withLock { $0 = Date() }
        swarm.state.starting.withLock { $0 = false }
        try provider.refresh(reportExits: true)
        #expect(exits.withLock { $0 } == ["node1 137"], "killed before its first health check: reported at once, not found by silence")
    }
}
