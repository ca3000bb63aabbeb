/// A value that lives on one `EventLoop` and may be passed across threads but only touched on
/// that loop. Every access checks that the caller is on the loop (after swift-nio's `NIOLoopBound`);
/// that runtime check is what makes the `@unchecked Sendable` sound.
public final class LoopBound<Value>: @unchecked Sendable {
    /// The loop that owns the value.
    public let eventLoop: EventLoop
    private var _value: Value

    /// Must be created on the owning loop, so the value is never seen from another thread.
    public init(_ value: Value, eventLoop: EventLoop) {
        eventLoop.preconditionInEventLoop()
        self.eventLoop = eventLoop
        self._value = value
    }

    /// The value; traps when read or written off the owning loop.
    public var value: Value {
        get {
            eventLoop.preconditionInEventLoop()
            return _value
        }
        _modify {
            eventLoop.preconditionInEventLoop()
            yield &_value
        }
    }
}
