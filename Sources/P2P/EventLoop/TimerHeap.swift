/// A binary min-heap of timer deadlines with lazy cancellation, owned by one `EventLoop`.
///
/// Cancelled entries stay in the heap until they surface or until the heap holds more dead
/// entries than live ones, when it is rebuilt; so memory stays proportional to live timers.
struct TimerHeap<Work> {
    private struct Entry {
        var deadlineNanos: UInt64
        var id: UInt64
    }

    private var heap: [Entry] = []
    private var live: [UInt64: Work] = [:]

    /// Timers that are scheduled and not cancelled.
    var count: Int { live.count }

    /// The earliest live deadline, dropping cancelled entries found on top.
    mutating func nextDeadline() -> UInt64? {
        while let top = heap.first, live[top.id] == nil { popTop() }
        return heap.first?.deadlineNanos
    }

    mutating func insert(id: UInt64, deadlineNanos: UInt64, work: Work) {
        precondition(live[id] == nil, "timer ids are unique")
        live[id] = work
        heap.append(Entry(deadlineNanos: deadlineNanos, id: id))
        siftUp(heap.count - 1)
        assert(heap.count >= live.count)
    }

    /// Returns true when the timer was still pending.
    @discardableResult
    mutating func cancel(id: UInt64) -> Bool {
        guard live.removeValue(forKey: id) != nil else { return false }
        if heap.count > 2 * live.count + 64 { rebuild() }
        return true
    }

    /// Removes and returns one timer due at `nowNanos`, or nil when none is due.
    mutating func popDue(nowNanos: UInt64) -> Work? {
        while let top = heap.first, top.deadlineNanos <= nowNanos {
            popTop()
            if let work = live.removeValue(forKey: top.id) { return work }
        }
        return nil
    }

    private mutating func rebuild() {
        heap = heap.filter { live[$0.id] != nil }
        var index = heap.count / 2
        while index > 0 { index -= 1; siftDown(index) }
        assert(heap.count == live.count)
    }

    private mutating func popTop() {
        precondition(!heap.isEmpty)
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadlineNanos < heap[parent].deadlineNanos else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].deadlineNanos < heap[smallest].deadlineNanos { smallest = left }
            if right < heap.count, heap[right].deadlineNanos < heap[smallest].deadlineNanos { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
