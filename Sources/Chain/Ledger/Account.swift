/// An account's committed state (DESIGN §3). `nonce` counts the account's committed transactions,
/// so it is also the nonce its next transaction must carry. Unknown addresses read as zero.
public struct Account: Sendable, Hashable {
    public var address: Address
    public var balance: UInt64
    public var nonce: UInt64

    public init(address: Address, balance: UInt64 = 0, nonce: UInt64 = 0) {
        self.address = address
        self.balance = balance
        self.nonce = nonce
    }

    /// `{"address","balance","nonce"}` — the shape of `GET /balance/{address}`.
    public var json: JSON {
        .object(JSONObject([("address", .string(address.hex)), ("balance", .uint(balance)), ("nonce", .uint(nonce))]))
    }
}

/// The running state digest carried in every block header.
public enum StateRoot {
    /// SHA-256(previous ‖ for each change, in ascending address order: address ‖ u64be balance ‖
    /// u64be nonce). `changes` must be sorted by address with no duplicates.
    public static func next(previous: Hash32, changes: [Account]) -> Hash32 {
        precondition(
            zip(changes, changes.dropFirst()).allSatisfy { $0.address < $1.address },
            "state changes must be sorted by address and unique")
        var buf: [UInt8] = []
        buf.reserveCapacity(32 + changes.count * 36)
        previous.append(to: &buf)
        for change in changes {
            change.address.append(to: &buf)
            buf.appendBE(change.balance)
            buf.appendBE(change.nonce)
        }
        assert(buf.count == 32 + changes.count * 36)
        return Crypto.sha256(buf)
    }
}
