/// A ring of at most `capacity` elements: appending to a full ring drops the oldest, so its
/// memory never grows past `capacity` elements whatever is fed to it.
public struct FixedRing<Element: Sendable>: Sendable {
    public let capacity: Int
    private var storage: [Element] = []
    /// Where the oldest element sits once the ring is full.
    private var head = 0

    public init(capacity: Int) {
        precondition(capacity > 0, "a ring holds at least one element")
        self.capacity = capacity
        storage.reserveCapacity(capacity)
    }

    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.isEmpty }

    public mutating func append(_ e: Element) {
        if storage.count < capacity {
            storage.append(e)
        } else {
            storage[head] = e
            head = (head + 1) % capacity
        }
        assert(storage.count <= capacity)
    }

    /// Oldest first.
    public var elements: [Element] { Array(storage[head...] + storage[..<head]) }

    public var last: Element? { storage.isEmpty ? nil : storage[(head + storage.count - 1) % storage.count] }
}
