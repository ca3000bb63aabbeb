import Testing
@testable import P2P

@Suite("SocketAddress")
struct SocketAddressTests {
    @Test func parsesAndFormatsTheUsualForms() throws {
        #expect(try SocketAddress(parsing: "127.0.0.1:8080") == .ipv4(host: "127.0.0.1", port: 8080))
        #expect(try SocketAddress(parsing: "[::1]:8080") == .ipv6(host: "::1", port: 8080))
        #expect(try SocketAddress(parsing: "localhost:8080") == .ipv4(host: "127.0.0.1", port: 8080))
        #expect(try SocketAddress(parsing: "0.0.0.0:0").port == 0)
        #expect(try SocketAddress(parsing: "/var/run/docker.sock") == .unix(path: "/var/run/docker.sock"))
        #expect(try SocketAddress(parsing: "unix:/tmp/a.sock") == .unix(path: "/tmp/a.sock"))
        for text in ["127.0.0.1:8080", "[::1]:9090", "/tmp/x.sock"] {
            #expect(try SocketAddress(parsing: text).description == text)
        }
    }

    @Test func rejectsBadAddresses() {
        for text in ["127.0.0.1", "127.0.0.1:99999", "::1:80", "[::1]80", ":80", "host:port", "unix:"] {
            #expect(throws: SocketError.self, "\(text)") { try SocketAddress(parsing: text) }
        }
    }

    @Test func listeningOnPortZero_reportsTheRealPort() throws {
        let (fd, bound) = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0"))
        defer { _ = Glibc.close(fd) }
        #expect(bound.port != nil && bound.port != 0)
    }
}

import Glibc
