import Dispatch
import Synchronization

/// Whether this copy of the node learned it was superseded (fencing: a registry answered that a
/// copy with a higher incarnation reported, or that its ID or key was retired; or a peer showed
/// a newer copy's proof), and a way for the main thread to wait for it. Set
/// once; the node then stops and exits with `Fencing.supersededExitStatus`.
final class Supersession: Sendable {
    private let reasonText = Mutex<String?>(nil)
    /// Signalled once, when superseded.
    let signal = DispatchSemaphore(value: 0)

    var reason: String? { reasonText.withLock { $0 } }

    func superseded(_ reason: String) {
        let first = reasonText.withLock { r in
            defer { if r == nil { r = reason } }
            return r == nil
        }
        if first { signal.signal() }
    }
}
