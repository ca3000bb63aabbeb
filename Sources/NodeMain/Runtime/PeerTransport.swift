import Chain
import Consensus
import Dispatch
import Foundation
import P2P
import Synchronization

/// Connects the runtime to the peer network both ways: it is the network's delegate (who may
/// talk to us, where messages go) and the runtime's transport (what it sends).
final class PeerTransport: ClusterTransport, PeerDelegate {
    let runtime: NodeRuntime
    let state: NodeState
    let reader: ChainReader
    let identity: PeerIdentity
    private let network = Mutex<PeerNetwork?>(nil)
    private let serving = DispatchQueue(label: "p2p-serve", qos: .utility)
    /// Bounds what waits on `serving` (`p2p.max_pending_peer_requests`): a peer flooding
    /// getBlocks or join cannot grow it.
    let servingGate: WorkGate
    /// Bounds each peer's share of `serving` (`p2p.max_pending_requests_per_peer`) and drops the
    /// share of a peer that disconnected.
    let perPeer: PeerRequestBudget
    /// Raft messages are checked here (an append's entries against their term's leader) before
    /// the runtime sees them.
    let door: EntryDoor
    /// When each (reason, peer) refusal was last logged: one line per pair per `refusalLogIntervalNs`.
    private let refusalLogged = Mutex<[String: UInt64]>([:])
    static let refusalLogIntervalNs: UInt64 = 5_000_000_000
    private let log = Logger(component: "p2p")
    /// Bytes of blocks in one `blocks` answer, at most (the peer line limit is 16 MiB; hex doubles).
    static let maxBlocksReplyBytes = 6 << 20

    init(runtime: NodeRuntime, state: NodeState, reader: ChainReader, identity: PeerIdentity, maxPendingRequests: Int,
         maxPendingRequestsPerPeer: Int, maxQueuedRaftPerPeer: Int) {
        self.servingGate = WorkGate(limit: maxPendingRequests)
        self.perPeer = PeerRequestBudget(limitPerPeer: maxPendingRequestsPerPeer)
        self.door = EntryDoor(checks: runtime.entryChecks, maxQueuedPerPeer: maxQueuedRaftPerPeer)
        self.runtime = runtime
        self.state = state
        self.reader = reader
        self.identity = identity
    }

    func attach(_ n: PeerNetwork) { network.withLock { $0 = n } }
    private var net: PeerNetwork? { network.withLock { $0 } }

    // MARK: PeerDelegate

    func authorize(nodeId: String, nodeKey: PublicKey) -> PeerAccess {
        let m = state.membership
        if m.retired.contains(nodeId) { return .refuse(reason: "node ID \(nodeId) was removed from the cluster and is retired") }
        if m.contains(nodeId) {
            guard let known = m.keys[nodeId] else { return .member }
            return known == nodeKey ? .member : .refuse(reason: "\(nodeId) is a member with another key")
        }
        // Before the bootstrap block is known (a fresh node) nobody is a member yet: talk to the
        // cluster, and check everything it sends block by block.
        if m.voters.isEmpty { return .member }
        return .joinOnly
    }

    func peerConnected(_ peer: PeerInfo) {
        log.info("peer connected", ["peer": peer.nodeId, "addr": peer.p2pAddr, "member": peer.isMember, "height": peer.height])
        // Only a member's height counts: a stranger's claim would send a follower into block
        // sync (asking the stranger) and make it report not ready.
        if peer.isMember { runtime.post(.peerHeight(peer.nodeId, peer.height)) }
    }

    func peerDisconnected(nodeId: String, reason: String) {
        log.info("peer disconnected", ["peer": nodeId, "reason": reason])
        door.forget(peer: nodeId)
        perPeer.disconnected(nodeId)
    }

    func received(_ message: PeerMessage, from peer: PeerInfo) {
        switch message {
        case .raft(let m):
            guard m.to == identity.nodeId, m.from == peer.nodeId else { return }
            _ = door.submit(m, senderKey: peer.nodeKey, admit: { [runtime] m in _ = runtime.post(.raft(m)) },
                            refuse: { [self] refusal, detail in refused(refusal.rawValue, peer: peer.nodeId, detail) })
        case .getBlocks(let from, let count):
            serve(for: peer.nodeId) { [self] in serveBlocks(from: from, count: count, to: peer.nodeId) }
        case .blocks(let blocks):
            // Signatures are checked once the runtime knows the blocks were asked of this peer.
            runtime.post(.blocks(blocks, from: peer.nodeId))
        case .join(let id, let key, _, _):
            guard id == peer.nodeId, key == peer.nodeKey else { return }
            let st = runtime.status
            if st.role != "leader", let leader = st.leader, let api = peers.first(where: { $0.nodeId == leader })?.apiAddr {
                // Not the leader: ask the leader on the newcomer's behalf (it may know only us).
                serve(for: peer.nodeId) { [self] in forwardJoin(id: id, key: key, to: leader, api: api, answer: peer.nodeId) }
                return
            }
            runtime.post(.join(nodeId: id, nodeKey: key, from: peer.nodeId))
        case .joinResult(let accepted, let reason, let leaderHint):
            log.info("join answer", ["from": peer.nodeId, "accepted": accepted, "reason": reason, "leader": leaderHint ?? "-"])
        case .txs, .hello, .auth, .ping, .pong, .peers, .bye:
            break
        }
    }

    func localHeight() -> UInt64 { state.head.header.height }

    func peerRuleHit(nodeId: String, reason: String, detail: String) { refused(reason, peer: nodeId, detail) }

    /// A peer's message or request refused by a rule: counted by reason, logged (at most one line
    /// per reason and peer every few seconds: a peer repeating itself cannot flood the log).
    func refused(_ reason: String, peer: String, _ detail: String) {
        runtime.metrics.peerRefused.inc(1, reason)
        let now = monotonicNs()
        let key = reason + "/" + peer
        let due = refusalLogged.withLock { logged -> Bool in
            if let last = logged[key], now &- last < Self.refusalLogIntervalNs { return false }
            if logged.count >= 4_096 { logged.removeAll() }
            logged[key] = now
            return true
        }
        if due { log.warn("peer message refused", ["peer": peer, "reason": reason, "detail": String(detail.prefix(300))]) }
    }

    /// Runs a peer's request on `serving` when both the peer's budget and the gate admit it, and
    /// skips it if the peer disconnected meanwhile; a dropped request is what a lost message
    /// would be (the asker retries).
    private func serve(for peer: String, _ work: @escaping @Sendable () -> Void) {
        guard let ticket = perPeer.enter(peer) else {
            refused("peer_request_limit", peer: peer, "more than \(perPeer.limitPerPeer) requests of this peer wait")
            return
        }
        guard servingGate.enter() else { perPeer.leave(ticket); return }
        let gate = servingGate
        let budget = perPeer
        serving.async { [self] in
            defer { gate.leave(); budget.leave(ticket) }
            guard budget.isCurrent(ticket) else { return runtime.metrics.peerRefused.inc(1, "peer_gone") }
            work()
        }
    }

    /// Asks the leader's membership API to add a newcomer that asked us, and tells it the outcome.
    private func forwardJoin(id: String, key: PublicKey, to leader: String, api: String, answer peer: String) {
        var accepted = false
        var reason = "forwarded to the leader \(leader)"
        do {
            let client = try HTTPClient(baseURL: "http://\(api)")
            defer { client.close() }
            var headers = HTTPHeaders([("Content-Type", "application/json")])
            if let token = identity.clusterToken { headers.add("Authorization", "Bearer \(token)") }
            let body = JSON.object(JSONObject([("nodeId", .string(id)), ("nodeKey", .string(key.hex))])).serialized()
            let r = try client.request(method: "POST", path: "/members/add-learner", headers: headers, body: body, timeout: .seconds(5))
            accepted = r.status == 202 || (r.status == 409 && r.bodyText.contains("already a member"))
            if !accepted { reason = "leader \(leader) answered \(r.status): \(r.bodyText.prefix(200))" }
        } catch {
            reason = "cannot reach the leader \(leader): \(error)"
        }
        _ = net?.send(.joinResult(accepted: accepted, reason: reason, leaderHint: leader), to: peer)
    }

    private func serveBlocks(from: UInt64, count: Int, to peer: String) {
        let head = state.head.header.height
        guard from >= 1, from <= head else { _ = net?.send(.blocks([]), to: peer); return }
        do {
            let blocks = try reader.blocks(from: from, count: min(count, PeerLimits.maxBlocksPerMessage),
                                           maxBytes: Self.maxBlocksReplyBytes)
            _ = net?.send(.blocks(blocks), to: peer)
        } catch {
            log.warn("cannot serve blocks", ["from": from, "reason": "\(error)"])
        }
    }

    // MARK: ClusterTransport

    func send(raft message: Message) { _ = net?.send(.raft(message), to: message.to) }

    func requestBlocks(from: UInt64, count: Int, peer: String) -> Bool {
        net?.send(.getBlocks(from: from, count: count), to: peer) ?? false
    }

    func answerJoin(to peer: String, accepted: Bool, reason: String, leaderHint: String?) {
        _ = net?.send(.joinResult(accepted: accepted, reason: reason, leaderHint: leaderHint), to: peer)
    }

    func peerHeights() -> [(id: String, height: UInt64)] {
        (net?.peers ?? []).filter(\.isMember).map { ($0.nodeId, $0.height) }
    }

    /// Asks every connected peer to add this node (only the leader acts on it).
    func requestJoin() {
        guard let n = net else { return }
        for p in n.peers {
            _ = n.send(.join(nodeId: identity.nodeId, nodeKey: identity.key.publicKey, p2pAddr: identity.advertisedP2PAddr,
                             apiAddr: identity.apiAddr), to: p.nodeId)
        }
    }

    var peers: [PeerInfo] { net?.peers ?? [] }

    /// Peers learned from the registry: dialled unless already connected.
    func learn(_ peers: [(id: String, p2pAddr: String)]) {
        guard let n = net else { return }
        let connected = Set(n.peers.map(\.nodeId))
        for p in peers where !connected.contains(p.id) {
            if let a = try? SocketAddress(parsing: p.p2pAddr) { n.addPeerAddress(a) }
        }
    }

    func stop() { net?.stop() }
}
