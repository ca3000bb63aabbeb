/// A binary min-heap. Promises: `popMin` returns elements in ascending order; push and pop are
/// O(log n).
struct BinaryHeap<Element: Comparable>: Sendable where Element: Sendable {
    private(set) var storage: [Element] = []

    var count: Int { storage.count }
    var isEmpty: Bool { storage.isEmpty }

    init(_ elements: [Element] = []) {
        storage = elements
        var i = storage.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }

    mutating func push(_ element: Element) {
        storage.append(element)
        siftUp(storage.count - 1)
    }

    mutating func popMin() -> Element? {
        guard !storage.isEmpty else { return nil }
        storage.swapAt(0, storage.count - 1)
        let min = storage.removeLast()
        if !storage.isEmpty { siftDown(0) }
        return min
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard storage[child] < storage[parent] else { return }
            storage.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < storage.count else { return }
            let right = left + 1
            let smaller = right < storage.count && storage[right] < storage[left] ? right : left
            guard storage[smaller] < storage[parent] else { return }
            storage.swapAt(smaller, parent)
            parent = smaller
        }
    }
}
