import Chain
import Foundation
import Glibc
import P2P
import Synchronization
import Testing

/// Every byte between nodes is sealed: real nodes talk to each other through a recording TCP
/// relay (each node advertises the relay's port, so every peer connection, dialled or gossiped,
/// crosses it), and nothing recorded contains JSON or the chain's identifiers in clear.
@Suite("ProcessTests.WireCapture", .serialized) struct WireCaptureTests {
    /// Forwards one listening port to `target`, recording every byte in both directions.
    /// Blocking sockets on their own threads; `stop()` closes them all (each thread ends on its
    /// next failed call).
    final class RecordingRelay: @unchecked Sendable {
        // Unchecked: fds and threads are set up before sharing; the recording is behind a Mutex.
        let port: Int
        private let listenFD: Int32
        private let target: String
        private let recorded = Mutex<[UInt8]>([])
        private let fds = Mutex<[Int32]>([])

        init(to target: String) throws {
            self.target = target
            let listenFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            self.listenFD = listenFD
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard bound == 0, listen(listenFD, 64) == 0 else { throw TestFailure("relay cannot listen") }
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listenFD, $0, &len) } }
            port = Int(UInt16(bigEndian: addr.sin_port))
        }

        /// Starts forwarding (after init: the accept thread holds the relay).
        func start() -> RecordingRelay {
            Thread.detachNewThread { [self] in acceptLoop() }
            return self
        }

        var bytes: [UInt8] { recorded.withLock { $0 } }

        func stop() {
            shutdown(listenFD, Int32(SHUT_RDWR))
            close(listenFD)
            for fd in fds.withLock({ $0 }) { shutdown(fd, Int32(SHUT_RDWR)) }
        }

        private func acceptLoop() {
            while true {  // ends when stop() shuts the listener
                let client = accept(listenFD, nil, nil)
                guard client >= 0 else { return }
                guard let address = try? SocketAddress(parsing: target),
                      let upstream = try? Socket.startConnect(to: address, nonBlocking: false).fd else { close(client); continue }
                fds.withLock { $0 += [client, upstream] }
                Thread.detachNewThread { [self] in pump(from: client, to: upstream) }
                Thread.detachNewThread { [self] in pump(from: upstream, to: client) }
            }
        }

        private func pump(from source: Int32, to sink: Int32) {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = recv(source, &buffer, buffer.count, 0)
                guard n > 0 else { break }
                recorded.withLock { $0.append(contentsOf: buffer[0..<n]) }
                var sent = 0
                while sent < n {
                    let m = buffer.withUnsafeBytes { send(sink, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                    guard m > 0 else { break }
                    sent += m
                }
                if sent < n { break }
            }
            shutdown(sink, Int32(SHUT_WR))
        }
    }

    @Test func peerTrafficOfAThreeNodeCluster_carriesNoJSONInClear() throws {
        let base = TestDirs.make("capture")
        let ids = ["n1", "n2", "n3"]
        var ports: [String: String] = [:], relays: [String: RecordingRelay] = [:], nodes: [String: NodeProcess] = [:]
        for id in ids {
            ports[id] = "127.0.0.1:\(try freePort())"
            relays[id] = try RecordingRelay(to: ports[id]!).start()
        }
        defer {
            for node in nodes.values { node.stop() }
            for relay in relays.values { relay.stop() }
        }
        for (n, id) in ids.enumerated() {
            let config = base + "/\(id).toml"
            _ = FileManager.default.createFile(atPath: config, contents: Data("[p2p]\nadvertise = \"127.0.0.1:\(relays[id]!.port)\"\n".utf8))
            let node = try NodeProcess(dataDir: base + "/" + id, config: config)
            var args = ["--node-id", id, "--p2p-addr", ports[id]!]
            let peers = ids[..<n].map { "127.0.0.1:\(relays[$0]!.port)" }
            if !peers.isEmpty { args += ["--peers", peers.joined(separator: ","), "--join"] }
            try node.start(extraArgs: args)
            nodes[id] = node
        }
        let n1 = try #require(nodes["n1"])
        let deadline = Date().addingTimeInterval(30)
        while (try? n1.json("GET", "/status").body["voters"]?.arrayValue?.count) != 3, Date() < deadline { usleep(50_000) }
        #expect(try n1.json("GET", "/status").body["voters"]?.arrayValue?.count == 3, "\(n1.tailOfLog())")
        // Replicated transfers, so blocks, raft appends and transactions cross the wire.
        for nonce in 0..<3 {
            let tx = Transaction.signed(chainId: "autochain-dev", to: KeyPair.generate().address, amount: 1, fee: 1,
                                        nonce: UInt64(nonce), keyPair: KeyPair.development)
            #expect(try n1.json("POST", "/submit-tx?wait=commit", tx.json).status == 200)
        }
        let recorded = relays.values.flatMap(\.bytes)
        #expect(recorded.count > 10_000, "the relays saw the cluster's traffic (\(recorded.count) bytes)")
        #expect(Self.count(of: "ACHN", in: recorded) >= 4, "connections crossed the relays (preambles seen)")
        // Needles of 7+ bytes: ciphertext matches one by chance with odds below 2^-56 per position.
        for clear in [#"{"type""#, #""type":""#, #""height":"#, #""term":"#, "autochain-dev", "127.0.0.1:"] {
            #expect(Self.count(of: clear, in: recorded) == 0, "'\(clear)' in clear on the wire")
        }
    }

    static func count(of text: String, in bytes: [UInt8]) -> Int {
        let needle = Array(text.utf8)
        guard bytes.count >= needle.count else { return 0 }
        var hits = 0
        for i in 0...(bytes.count - needle.count) where bytes[i] == needle[0] && Array(bytes[i..<i + needle.count]) == needle { hits += 1 }
        return hits
    }
}
