import Chain
import Consensus
import Dispatch
import FoundationEssentials
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
    private let serving = DispatchQueue(label: "p2p-serve", qos: WorkPriority.bulk)
    /// Bounds what waits on `serving` (`p2p.max_pending_peer_requests`): a peer flooding
    /// getBlocks cannot grow it.
    let servingGate: WorkGate
    /// Bounds each peer's share of `serving` (`p2p.max_pending_requests_per_peer`) and drops the
    /// share of a peer that disconnected.
    let perPeer: PeerRequestBudget
    /// Raft messages are checked here (an append's entries against their term's leader) before
    /// the runtime sees them.
    let door: EntryDoor
    /// When each (reason, peer) refusal was last logged: one line per pair per `refusalLogIntervalNs`.
    private let refusalLogged = Mutex<[String: UInt64]>([:])
    static let refusalLogIntervalNs = UInt64(NodeSettings.PeerNetwork.refusalLogIntervalMs) * 1_000_000
    private let log = Logger(component: "p2p")
    /// Where forwarded transfers and their answers go (the API).
    private let forwarding = Mutex<(any ForwardingEndpoint)?>(nil)
    /// Told when a peer link proves a newer copy of this node runs (fencing): the node stops.
    private let onSuperseded = Mutex<(@Sendable (String) -> Void)?>(nil)
    /// Newcomers' joins relayed to the leader, waiting for its answer.
    let joinRelays: JoinRelays
    /// Bytes of blocks in one `blocks` answer, at most (the peer line limit is 16 MiB; hex doubles).
    static let maxBlocksReplyBytes = 6 << 20

    init(runtime: NodeRuntime, state: NodeState, reader: ChainReader, identity: PeerIdentity, maxPendingRequests: Int,
         maxPendingRequestsPerPeer: Int, maxQueuedRaftPerPeer: Int) {
        self.servingGate = WorkGate(limit: maxPendingRequests)
        self.perPeer = PeerRequestBudget(limitPerPeer: maxPendingRequestsPerPeer)
        self.door = EntryDoor(checks: runtime.entryChecks, maxQueuedPerPeer: maxQueuedRaftPerPeer)
        self.joinRelays = JoinRelays(limit: maxPendingRequests)
        self.runtime = runtime
        self.state = state
        self.reader = reader
        self.identity = identity
    }

    func attach(_ n: PeerNetwork) { network.withLock { $0 = n } }
    func attachForwarding(_ endpoint: any ForwardingEndpoint) { forwarding.withLock { $0 = endpoint } }
    func attachSupersession(_ handler: @escaping @Sendable (String) -> Void) { onSuperseded.withLock { $0 = handler } }
    private var forwarder: (any ForwardingEndpoint)? { forwarding.withLock { $0 } }
    private var net: PeerNetwork? { network.withLock { $0 } }

    // MARK: PeerDelegate

    func authorize(nodeId: String, nodeKey: PublicKey) -> PeerAccess { Self.access(state.membership, nodeId: nodeId, nodeKey: nodeKey) }

    /// What an authenticated key may do, given the membership this node applied.
    static func access(_ m: ClusterMembership, nodeId: String, nodeKey: PublicKey) -> PeerAccess {
        if m.retired.contains(nodeId) { return .refuse(reason: "node ID \(nodeId) was removed from the cluster and is retired") }
        if let owner = m.retiredOwner(of: nodeKey) { return .refuse(reason: "the node key of retired node \(owner) is never admitted again") }
        if m.contains(nodeId) {
            guard let known = m.keys[nodeId] else { return .member }
            return known == nodeKey ? .member : .refuse(reason: "\(nodeId) is a member with another key")
        }
        // Before the bootstrap block is known (a fresh node) nobody is a member yet: talk to the
        // cluster, and check everything it sends block by block.
        if m.voters.isEmpty { return .member }
        return .joinOnly
    }

    func memberIds() -> Set<String> { Set(state.membership.members) }

    func superseded(by proof: IncarnationProof) {
        let handler = onSuperseded.withLock { $0 }
        handler?("a peer link showed incarnation \(proof.incarnation) of \(proof.nodeId), signed with this node's key")
    }

    func peerConnected(_ peer: PeerInfo) {
        log.info("peer connected", ["peer": peer.nodeId, "addr": peer.p2pAddr, "member": peer.isMember, "height": peer.height])
        // Only a member's height counts: a stranger's claim would send a follower into block
        // sync (asking the stranger) and make it report not ready.
        if peer.isMember {
            runtime.post(.peerLinkOpened(peer.nodeId))
            runtime.post(.peerHeight(peer.nodeId, peer.height))
        }
    }

    func peerDisconnected(nodeId: String, reason: String, closedByPeer: Bool) {
        log.info("peer disconnected", ["peer": nodeId, "reason": reason, "closed_by_peer": closedByPeer])
        // A member's link closed by its other end: if it was our leader, it is most likely gone.
        if closedByPeer, state.membership.contains(nodeId) { runtime.post(.peerLinkClosed(nodeId)) }
        door.forget(peer: nodeId)
        perPeer.disconnected(nodeId)
        forwarder?.forwardLinkClosed(peer: nodeId)
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
        case .txs(let id, let txs):
            // Members only (the network delivers nothing else from a join-only link).
            forwarder?.serveForwarded(id: id, txs: txs, from: peer.nodeId)
        case .txsResult(let id, let answer):
            forwarder?.forwardAnswered(id: id, answer: answer, from: peer.nodeId)
        case .join(let id, let key, let p2p, let api):
            receivedJoin(id: id, key: key, p2pAddr: p2p, apiAddr: api, from: peer)
        case .joinResult(let id, let accepted, let reason, let leaderHint):
            guard id != identity.nodeId else {
                log.info("join answer", ["from": peer.nodeId, "accepted": accepted, "reason": reason, "leader": leaderHint ?? "-"])
                // Before it knows a member, a fresh node follows only whom the peers it was told to
                // join name: anyone else holding the credential could name itself.
                guard peer.isGivenPeer else {
                    return refused("join_answer_not_given_peer", peer: peer.nodeId, "a join answer from a peer this node was not told to join")
                }
                runtime.post(.joinAnswered(from: peer.nodeId, accepted: accepted, leaderHint: leaderHint))
                return
            }
            // The leader's answer to a join we relayed: back to the newcomer that asked us.
            guard peer.isMember, let newcomer = joinRelays.take(id, now: monotonicNs()) else { return }
            _ = net?.send(.joinResult(nodeId: id, accepted: accepted, reason: reason, leaderHint: leaderHint ?? peer.nodeId), to: newcomer)
        case .ping, .pong, .peers, .bye, .superseded:
            break
        }
    }

    /// A newcomer asks for itself; a member relays a newcomer's request (only the leader acts
    /// on it). A follower asked by a newcomer relays it to the leader over their link and the
    /// answer back, so a newcomer that knows one member only can join.
    private func receivedJoin(id: String, key: PublicKey, p2pAddr: String, apiAddr: String, from peer: PeerInfo) {
        guard id == peer.nodeId else {
            guard peer.isMember else { return }
            runtime.post(.join(nodeId: id, nodeKey: key, from: peer.nodeId))
            return
        }
        guard key == peer.nodeKey else { return }
        let st = runtime.status
        guard st.role != .leader, let leader = st.leader, leader != identity.nodeId else {
            runtime.post(.join(nodeId: id, nodeKey: key, from: peer.nodeId))
            return
        }
        guard joinRelays.add(id, newcomerLink: peer.nodeId, now: monotonicNs()) else { return }  // it asks again in a second
        if net?.send(.join(nodeId: id, nodeKey: key, p2pAddr: p2pAddr, apiAddr: apiAddr), to: leader) != true {
            _ = joinRelays.take(id, now: monotonicNs())
            _ = net?.send(.joinResult(nodeId: id, accepted: false, reason: "no link to the leader \(leader) right now", leaderHint: leader),
                          to: peer.nodeId)
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

    private func serveBlocks(from: UInt64, count: Int, to peer: String) {
        let head = state.head.header.height
        guard from >= 1, from <= head else { _ = net?.send(.blocks([]), to: peer); return }
        do {
            // As stored, not decoded and encoded again: the asker decodes and checks every block.
            let blocks = try reader.encodedBlocks(from: from, count: min(count, PeerLimits.maxBlocksPerMessage),
                                                  maxBytes: Self.maxBlocksReplyBytes)
            _ = net?.send(encoded: PeerMessage.blocksLine(encoded: blocks), type: "blocks", to: peer)
        } catch {
            log.warn("cannot serve blocks", ["from": from, "reason": "\(error)"])
        }
    }

    // MARK: ClusterTransport

    func send(raft message: Message) { _ = net?.send(.raft(message), to: message.to) }

    func requestBlocks(from: UInt64, count: Int, peer: String) -> Bool {
        net?.send(.getBlocks(from: from, count: count), to: peer) ?? false
    }

    func answerJoin(to peer: String, nodeId: String, accepted: Bool, reason: String, leaderHint: String?) {
        _ = net?.send(.joinResult(nodeId: nodeId, accepted: accepted, reason: reason, leaderHint: leaderHint), to: peer)
    }

    /// Queues `message` for `peer`; false when it is not connected (or the send budget is spent).
    func send(_ message: PeerMessage, to peer: String) -> Bool { net?.send(message, to: peer) ?? false }

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

    /// Peers learned from the registry: dialled unless already connected. Called on the registry
    /// client's heartbeat thread: names are looked up on the peer network's resolver thread, so a
    /// name that does not resolve (a peer whose host is down) never holds a heartbeat back.
    func learn(_ peers: [(id: String, p2pAddr: String)]) {
        guard let n = net else { return }
        let connected = Set(n.peers.map(\.nodeId))
        for p in peers where !connected.contains(p.id) { n.addPeerAddress(named: p.p2pAddr) }
    }

    func stop() { net?.stop() }
}
