import Glibc

/// Why a socket operation failed. Every case carries what an operator needs to act on it.
public enum SocketError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text is not an address we can use.
    case invalidAddress(String, reason: String)
    /// A system call failed; `errno` is the raw code.
    case system(call: String, errno: Int32, address: String?)
    /// A connect was refused: nothing listens at `address`.
    case connectionRefused(String)
    /// The operation did not finish in time.
    case timedOut(String)

    public var description: String {
        switch self {
        case .invalidAddress(let text, let reason):
            return "invalid address '\(text)': \(reason)"
        case .system(let call, let code, let address):
            let at = address.map { " (\($0))" } ?? ""
            return "\(call) failed\(at): \(LinuxSyscalls.describe(errno: code))"
        case .connectionRefused(let address):
            return "connection refused by \(address)"
        case .timedOut(let what):
            return "timed out: \(what)"
        }
    }
}
