import Chain
import Synchronization

/// Collects the leader's answers to the requests one forwarded batch was split into, and says
/// when the batch's answer is complete. Promise: `fill` returns a `Done` exactly once, after the
/// last request's outcome; items are answered in the batch's order.
final class BatchGather: Sendable {
    enum Done: Sendable {
        /// One result per item (`/submit-txs` answer shape).
        case results([JSON?])
        /// The only request was refused as a whole by the leader (answered with X-Forwarded-To).
        case refused(APIError)
        /// The only request failed on this side (no link, timeout, too many forwards).
        case failed(APIError)
    }

    private struct State {
        var results: [JSON?]
        var remaining: Int
    }

    let initial: [JSON?]
    private let requests: Int
    private let state: Mutex<State>

    /// `results`: what is known before forwarding (refusals found here); `requests`: how many
    /// forwards will report.
    init(results: [JSON?], requests: Int) {
        initial = results
        self.requests = requests
        state = Mutex(State(results: results, remaining: requests))
    }

    /// Records one request's outcome for `part` (batch index, transfer); the batch's answer
    /// once every request has reported, else nil.
    func fill(_ part: [(Int, Transaction)], _ outcome: LeaderForwards.Outcome, leader: String) -> Done? {
        if requests == 1 {
            switch outcome {
            case .failed(let error): return .failed(error)
            case .answered(.refused(let code, let message, let hint)):
                return .refused(NodeAPI.refusal(code, message, hint: hint, leader: leader))
            case .answered(.results): break
            }
        }
        let answers: [JSON] = switch outcome {
        case .failed(let error): Array(repeating: error.json, count: part.count)
        case .answered(.refused(let code, let message, let hint)):
            Array(repeating: NodeAPI.refusal(code, message, hint: hint, leader: leader).json, count: part.count)
        case .answered(.results(let results)):
            zip(part, results).map { item, result in
                guard let code = result.code else { return ["hash": .string(item.1.hash.hex), "status": "pending"] }
                return APIError(status: NodeAPI.status(ofCode: code), code: code, message: result.message).json
            }
        }
        return state.withLock { s -> Done? in
            for ((i, _), answer) in zip(part, answers) { s.results[i] = answer }
            s.remaining -= 1
            return s.remaining == 0 ? .results(s.results) : nil
        }
    }
}
