import Chain
import Foundation
import Testing
@testable import NodeMain

/// `autochain load` against a real node: a tiny phase script commits its transfers, and the
/// report lines reach a file while the run is still going.
@Suite("ProcessTests.Load") struct LoadProcessTests {
    @Test func aTinyPhaseScriptCommitsTransfersAndReportsEachSecondToAFile() throws {
        let node = try NodeProcess()
        try node.start()
        defer { node.stop() }
        let dir = TestDirs.make("load")
        try KeyFile.write(KeyPair.development, to: dir + "/dev.key")
        let startHeight = try #require(try node.json("GET", "/chain/head").body["head"]?["height"]?.intValue)

        let outPath = dir + "/load.out"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        let out = try #require(FileHandle(forWritingAtPath: outPath))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: NodeProcess.binary)
        p.arguments = ["load", "--node", node.url, "--key", dir + "/dev.key", "--accounts", "10",
                       "--phases", "ramp:0-40/2s,hold:40/2s,pause:1s"]
        p.standardOutput = out
        p.standardError = out
        try p.run()
        defer { if p.isRunning { p.terminate() } }

        // A report line is in the file while the run still has seconds to go: flushed, not buffered.
        let deadline = Date().addingTimeInterval(60)
        var sawLineWhileRunning = false
        while Date() < deadline, p.isRunning {
            if text(outPath).contains("load: t=1s ") { sawLineWhileRunning = p.isRunning; break }
            usleep(20_000)
        }
        #expect(sawLineWhileRunning, "no report line while running:\n\(text(outPath))")
        while Date() < deadline, p.isRunning { usleep(50_000) }
        #expect(!p.isRunning, "load did not finish in time:\n\(text(outPath))")
        p.waitUntilExit()
        let output = text(outPath)
        #expect(p.terminationStatus == 0, "\(output)")

        // 0-40/s over 2 s, then 40/s for 2 s: 40 + 80 transfers, all committed.
        #expect(output.contains("load: done: 120 sent, 120 committed, 0 errors"), "\(output)")
        let lines = output.split(separator: "\n").filter { $0.hasPrefix("load: t=") }
        #expect(lines.count >= 5, "a line a second: \(output)")
        #expect(lines.first?.contains("ramp(1/3) target=10/s") == true, "\(output)")
        #expect(lines.contains { $0.contains("hold(2/3) target=40/s") }, "\(output)")
        let endHeight = try #require(try node.json("GET", "/chain/head").body["head"]?["height"]?.intValue)
        #expect(endHeight > startHeight)
    }

    @Test func aBadPhaseScriptIsRefusedBeforeAnythingIsSent() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: NodeProcess.binary)
        p.arguments = ["load", "--node", "http://127.0.0.1:1", "--key", "/nonexistent", "--phases", "hold:10/3s,jump:5/2s"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 2)
        #expect(message == "autochain load: phase 2 'jump:5/2s': unknown phase 'jump'; expected ramp, hold, spike or pause\n")
    }

    func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
}
