/// The node API's routes, matched from method and path. Pure, so it is tested without sockets.
enum Route: Equatable, Sendable {
    case chainHead, chainHeaders, block(String), blockByHash(String), tx(String), balance(String)
    case submitTx, submitTxs, status, peers, healthLive, healthReady, metrics
    case members, membersAddLearner, membersPromote, membersRemove, leadershipTransfer
    case notFound
    case methodNotAllowed(allowed: String)

    /// Routes that change something: POST only, JSON bodies only (a web page cannot send them
    /// with a form), and the membership ones only with the cluster credential.
    var isWrite: Bool {
        switch self {
        case .submitTx, .submitTxs, .membersAddLearner, .membersPromote, .membersRemove, .leadershipTransfer: true
        default: false
        }
    }

    /// The route's name in metrics (never the raw path: that would let clients create series).
    var label: String {
        switch self {
        case .chainHead: "/chain/head"
        case .chainHeaders: "/chain/headers"
        case .block: "/block/{height}"
        case .blockByHash: "/block/hash/{hash}"
        case .tx: "/tx/{hash}"
        case .balance: "/balance/{address}"
        case .submitTx: "/submit-tx"
        case .submitTxs: "/submit-txs"
        case .status: "/status"
        case .peers: "/peers"
        case .healthLive: "/health/live"
        case .healthReady: "/health/ready"
        case .metrics: "/metrics"
        case .members: "/members"
        case .membersAddLearner: "/members/add-learner"
        case .membersPromote: "/members/promote"
        case .membersRemove: "/members/remove"
        case .leadershipTransfer: "/leadership/transfer"
        case .notFound: "unmatched"
        case .methodNotAllowed: "method_not_allowed"
        }
    }

    static func match(method: String, path: String) -> Route {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        guard path.hasPrefix("/"), parts.count <= 3 else { return .notFound }
        let (route, write): (Route, Bool)
        switch parts.count {
        case 1:
            switch parts[0] {
            case "submit-tx": (route, write) = (.submitTx, true)
            case "submit-txs": (route, write) = (.submitTxs, true)
            case "status": (route, write) = (.status, false)
            case "peers": (route, write) = (.peers, false)
            case "metrics": (route, write) = (.metrics, false)
            case "members": (route, write) = (.members, false)
            default: return .notFound
            }
        case 2:
            switch (parts[0], parts[1]) {
            case ("chain", "head"): (route, write) = (.chainHead, false)
            case ("chain", "headers"): (route, write) = (.chainHeaders, false)
            case ("health", "live"): (route, write) = (.healthLive, false)
            case ("health", "ready"): (route, write) = (.healthReady, false)
            case ("members", "add-learner"): (route, write) = (.membersAddLearner, true)
            case ("members", "promote"): (route, write) = (.membersPromote, true)
            case ("members", "remove"): (route, write) = (.membersRemove, true)
            case ("leadership", "transfer"): (route, write) = (.leadershipTransfer, true)
            case ("block", let h) where !h.isEmpty && h != "hash": (route, write) = (.block(h), false)
            case ("tx", let h) where !h.isEmpty: (route, write) = (.tx(h), false)
            case ("balance", let a) where !a.isEmpty: (route, write) = (.balance(a), false)
            default: return .notFound
            }
        default:
            guard parts[0] == "block", parts[1] == "hash", !parts[2].isEmpty else { return .notFound }
            (route, write) = (.blockByHash(parts[2]), false)
        }
        if write {
            return method == "POST" ? route : .methodNotAllowed(allowed: "POST")
        }
        return method == "GET" || method == "HEAD" ? route : .methodNotAllowed(allowed: "GET, HEAD")
    }
}
