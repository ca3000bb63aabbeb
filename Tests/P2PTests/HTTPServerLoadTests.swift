import Foundation
import Glibc
import Synchronization
import Testing
@testable import P2P

@Suite("HTTPServer under many clients")
struct HTTPServerLoadTests {
    @Test func twoHundredOpenConnections_areAllServed() throws {
        try withServer { address in
            let clients = try (0..<200).map { _ in try HTTPClient(baseURL: "http://\(address)") }
            for round in 0..<3 {
                for (i, client) in clients.enumerated() {
                    let response = try client.request(path: "/c/\(i)/\(round)", timeout: .seconds(5))
                    #expect(response.bodyText == "GET /c/\(i)/\(round) body=0")
                }
            }
        }
    }

    @Test func concurrentClientsOnSeveralLoops_getTheirOwnAnswers() throws {
        var settings = HTTPServerSettings()
        settings.loopThreads = 2
        try withServer(settings) { address in
            let failures = Atomic<Int>(0)
            DispatchQueue.concurrentPerform(iterations: 8) { worker in
                guard let client = try? HTTPClient(baseURL: "http://\(address)") else { failures.add(1, ordering: .relaxed); return }
                for i in 0..<100 {
                    let body = Array("w\(worker)-\(i)".utf8)
                    let ok = (try? client.request(method: "POST", path: "/w/\(worker)", body: body, timeout: .seconds(5)))
                        .map { $0.bodyText == "POST /w/\(worker) body=\(body.count)" } ?? false
                    if !ok { failures.add(1, ordering: .relaxed) }
                }
            }
            #expect(failures.load(ordering: .relaxed) == 0)
        }
    }

    @Test func curl_postWithExpectContinueGetsAnswerPromptly() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else {
            print("note: /usr/bin/curl is absent; skipping the curl interoperability check")
            return
        }
        try withServer { address in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            let body = String(repeating: "x", count: 4096)  // > 1 KiB: curl sends Expect: 100-continue
            // curl waits --expect100-timeout for a 100 Continue before it sends the body anyway: 30 s
            // instead of its 1 s default, so a missing 100 shows as a stall no busy machine explains.
            process.arguments = ["-sS", "-m", "60", "--expect100-timeout", "30", "-w", " status=%{http_code}", "--data-binary", body,
                                 "http://\(address)/curl"]
            let pipe = Pipe()
            process.standardOutput = pipe
            let start = ContinuousClock.now
            try process.run()
            process.waitUntilExit()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(output == "POST /curl body=4096 status=200")
            let elapsed = ContinuousClock.now - start
            #expect(elapsed < .seconds(20), "took \(elapsed): curl waited for a 100 Continue that never came")
        }
    }
}
