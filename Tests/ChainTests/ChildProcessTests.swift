import Dispatch
import Foundation
import Glibc
import Synchronization
import Testing
@testable import Chain

/// `ChildProcess` keeps the promises Foundation's `Process` kept for the registry's nodes and
/// `autochain cluster` (arguments, environment, output file, own process group, no inherited
/// descriptor, exit status) without linking Foundation.
@Suite struct ChildProcessTests {
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    /// Runs `script` in /bin/sh with its output in `dir/out`, waits (bounded) for its exit.
    func run(_ script: String, environment: [String: String] = [:], truncate: Bool = true) throws -> (status: Int32?, output: String) {
        let child = try ChildProcess.spawn(executable: "/bin/sh", arguments: ["-c", script], environment: environment,
                                           output: .file(path: dir + "/out", truncate: truncate))
        #expect(child.waitUntilExit(seconds: 30))
        return (child.exitStatus, (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? "")
    }

    @Test func reportsTheExitCodeToTheHandlerAndToExitStatus() throws {
        final class Reported: Sendable { let status = Mutex<Int32?>(nil) }
        let reported = Reported()
        let told = DispatchSemaphore(value: 0)
        let child = try ChildProcess.spawn(executable: "/bin/sh", arguments: ["-c", "exit 3"], environment: [:],
                                           onExit: { status in reported.status.withLock { $0 = status }; told.signal() })
        #expect(told.wait(timeout: .now() + 30) == .success)
        #expect(reported.status.withLock { $0 } == 3)
        child.waitUntilExit()
        #expect(child.exitStatus == 3)
        #expect(!child.isRunning)
    }

    @Test func passesTheArgumentsAfterTheExecutablePath() throws {
        let child = try ChildProcess.spawn(executable: "/bin/sh", arguments: ["-c", "echo \"$0|$1|$2\"", "/bin/sh", "a b", ""],
                                           environment: [:], output: .file(path: dir + "/out", truncate: true))
        #expect(child.waitUntilExit(seconds: 30))
        #expect(try String(contentsOfFile: dir + "/out", encoding: .utf8) == "/bin/sh|a b|\n")
    }

    @Test func givesTheChildExactlyTheEnvironment() throws {
        let r = try run("echo \"A=$A HOME=${HOME-unset}\"", environment: ["A": "1 2"])
        #expect(r.output == "A=1 2 HOME=unset\n")
    }

    @Test func sendsOutputAndErrorToTheFile_appendingUnlessTruncated() throws {
        _ = try run("echo out; echo err >&2")
        let appended = try run("echo more", truncate: false)
        #expect(appended.output == "out\nerr\nmore\n")
        let truncated = try run("echo fresh", truncate: true)
        #expect(truncated.output == "fresh\n")
    }

    @Test func leavesNoOtherDescriptorOpenInTheChild() throws {
        // A descriptor the parent opened without close-on-exec, as Foundation's Process closed it.
        let fd = open(dir, O_RDONLY)
        #expect(fd > 2)
        defer { close(fd) }
        let r = try run("if [ -e /proc/$$/fd/\(fd) ]; then echo open; else echo closed; fi")
        #expect(r.output == "closed\n")
    }

    @Test func runsTheChildInAProcessGroupOfItsOwn() throws {
        let child = try ChildProcess.spawn(executable: "/bin/sh", arguments: ["-c", "cut -d' ' -f5 /proc/$$/stat"],
                                           environment: [:], output: .file(path: dir + "/out", truncate: true))
        #expect(child.waitUntilExit(seconds: 30))
        #expect(try String(contentsOfFile: dir + "/out", encoding: .utf8) == "\(child.pid)\n")
    }

    @Test func startsTheChildWithNoSignalBlocked_evenFromAThreadThatBlocksSome() throws {
        var blocked = sigset_t(), previous = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        let r = try run("exec grep SigBlk /proc/self/status")
        #expect(r.output == "SigBlk:\t0000000000000000\n")
    }

    @Test func signal_endsTheChild_andItsStatusIsTheSignalNumber() throws {
        let child = try ChildProcess.spawn(executable: "/bin/sleep", arguments: ["30"], environment: [:])
        #expect(child.isRunning)
        child.signal(SIGTERM)
        #expect(child.waitUntilExit(seconds: 30))
        #expect(child.exitStatus == SIGTERM)
    }

    @Test func waitUntilExit_withATimeout_returnsFalseWhileTheChildRuns() throws {
        let child = try ChildProcess.spawn(executable: "/bin/sleep", arguments: ["30"], environment: [:])
        defer { child.signal(SIGKILL); child.waitUntilExit() }
        #expect(!child.waitUntilExit(seconds: 0.05))
    }

    @Test func aMissingExecutable_throwsSpawnFailed() {
        #expect(throws: ChildProcessError.spawnFailed(path: dir + "/missing", errno: ENOENT)) {
            _ = try ChildProcess.spawn(executable: dir + "/missing", arguments: [], environment: [:])
        }
    }

    @Test func anOutputFileThatCannotBeOpened_throwsCannotOpen() {
        #expect(throws: ChildProcessError.cannotOpen(path: dir + "/no/such/dir/out", errno: ENOENT)) {
            _ = try ChildProcess.spawn(executable: "/bin/true", arguments: [], environment: [:],
                                       output: .file(path: dir + "/no/such/dir/out", truncate: true))
        }
    }
}
