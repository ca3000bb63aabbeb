import Chain
import Dispatch
import Glibc

/// An address we keep dialling, and what we know about it.
struct DialTarget {
    enum State { case idle, waiting, connecting, connected }
    let address: SocketAddress
    /// Learned from the hello of a connection to this address (or from gossip).
    var nodeId: String?
    var backoff: Duration
    var state: State = .idle
    var timer: ScheduledTimer?
    /// The address reached ourselves: never dialled again.
    var isSelf = false
    /// Given at start or by the operator (never evicted), not learned from a peer.
    var isStatic = false
    /// The node and key last authenticated and admitted at this address (`givenPeers`).
    var admitted: (nodeId: String, nodeKey: PublicKey)?
}

/// Dialling, redialling with backoff, and address gossip.
extension PeerHost {
    /// Remembers `address` (bounded by maxKnownAddresses: when full, a learned address that is
    /// not connected is evicted, the one failing longest first) and dials it unless its node is
    /// connected.
    func addTarget(_ address: SocketAddress, nodeId: String?, isStatic: Bool = false) {
        loop.preconditionInEventLoop()
        guard !stopped, !isSuperseded else { return }
        if targets[address] != nil {
            if let nodeId, targets[address]?.nodeId == nil { targets[address]?.nodeId = nodeId }
            if isStatic { targets[address]?.isStatic = true }
            if targets[address]?.state == .idle { dial(address) }
            return
        }
        guard targets.count < settings.maxKnownAddresses || evictTarget() else {
            logger.debug("address not kept: maxKnownAddresses reached", ["node": identity.nodeId, "address": address.description])
            return
        }
        var target = DialTarget(address: address, nodeId: nodeId, backoff: settings.reconnectBackoffInitial)
        target.isStatic = isStatic
        targets[address] = target
        dial(address)
    }

    /// Forgets one learned address that is neither connected nor being dialled, preferring the
    /// one with the longest backoff (failing longest); false when there is none.
    func evictTarget() -> Bool {
        let candidates = targets.values.filter { t in
            !t.isStatic && t.state != .connecting && t.state != .connected && !(t.nodeId.map { established[$0] != nil } ?? false)
        }
        guard let victim = candidates.max(by: { $0.backoff < $1.backoff }) else { return false }
        victim.timer?.cancel()
        targets.removeValue(forKey: victim.address)
        shared.countEvictedAddress()
        logger.debug("address evicted: maxKnownAddresses reached", ["node": identity.nodeId, "address": victim.address.description])
        return true
    }

    func dial(_ address: SocketAddress) {
        guard !stopped, var target = targets[address], !target.isSelf else { return }
        guard target.state == .idle || target.state == .waiting else { return }
        target.timer = nil
        if let nodeId = target.nodeId, established[nodeId] != nil {
            target.state = .idle  // redialled when that node's connection ends
            targets[address] = target
            return
        }
        guard connections.count < settings.maxPeers else {
            targets[address] = target
            scheduleRedial(address)
            return
        }
        target.state = .connecting
        targets[address] = target
        TCPConnection.connect(to: address, on: loop, settings: tcpSettings, timeout: settings.connectTimeout) { [self] result in
            guard !stopped else {
                if case .success(let tcp) = result { tcp.close() }
                return
            }
            switch result {
            case .success(let tcp):
                targets[address]?.state = .connected
                adopt(tcp, direction: .outbound, dialAddress: address)
            case .failure(let error):
                logger.debug("dial failed", ["node": identity.nodeId, "address": address.description, "error": error.description])
                scheduleRedial(address)
            }
        }
    }

    /// Waits the target's backoff (with jitter), doubling it for next time, then dials.
    func scheduleRedial(_ address: SocketAddress) {
        guard !stopped, var target = targets[address], !target.isSelf else { return }
        let fraction = settings.reconnectJitterFraction
        let jitter = 1.0 + Double.random(in: -fraction...fraction)
        let delay = target.backoff * jitter
        target.backoff = min(target.backoff * 2, settings.reconnectBackoffMax)
        target.state = .waiting
        target.timer?.cancel()
        target.timer = later(delay) { $0.dial(address) }
        targets[address] = target
    }

    /// Bookkeeping after a connection ended: its dial target and any target of a node now lost.
    func connectionEnded(_ connection: PeerConnection, wasEstablished: Bool, lostNode: String?) {
        if let address = connection.dialAddress, var target = targets[address] {
            if let nodeId = connection.hello?.nodeId { target.nodeId = nodeId }
            if connection.refusedUs {
                target.backoff = settings.reconnectBackoffMax
            } else if wasEstablished {
                target.backoff = settings.reconnectBackoffInitial
            }
            target.state = .waiting
            targets[address] = target
            scheduleRedial(address)
        }
        guard let lostNode else { return }
        for (address, target) in targets where target.nodeId == lostNode && target.state == .idle {
            targets[address]?.backoff = settings.reconnectBackoffInitial
            scheduleRedial(address)
        }
    }

    /// A node is connected: remember its advertised address so we redial it if it goes away.
    func peerReachable(_ connection: PeerConnection, nodeId: String) {
        if let address = connection.dialAddress {
            targets[address]?.nodeId = nodeId
            targets[address]?.backoff = settings.reconnectBackoffInitial
        }
        guard connection.isMember, let advertised = connection.hello?.p2pAddr else { return }
        whenDialable(advertised) { host, address in
            guard host.targets[address] == nil, host.targets.count < host.settings.maxKnownAddresses else { return }
            host.targets[address] = DialTarget(address: address, nodeId: nodeId, backoff: host.settings.reconnectBackoffInitial)
        }
    }

    /// Dials addresses a member gossiped, for nodes we are not connected to.
    func learn(_ list: [PeerAddress], from connection: PeerConnection) {
        guard connection.isMember else { return }  // topology from a non-member is not trusted
        for entry in list where entry.nodeId != identity.nodeId && established[entry.nodeId] == nil {
            let nodeId = entry.nodeId
            whenDialable(entry.p2pAddr) { host, address in
                guard host.established[nodeId] == nil else { return }
                host.addTarget(address, nodeId: nodeId)
            }
        }
    }

    /// Concurrent: one name whose DNS does not answer (a peer whose host is down: about ten
    /// seconds in `getaddrinfo`) must not hold up the lookups of the others behind it, as it did
    /// on a serial queue (a node restarted after its registry's host was lost dialled its live
    /// peers only after the dead one's lookup gave up, and voted again 11.6 s after its kill).
    private static let resolver = DispatchQueue(label: "p2p-resolve", attributes: .concurrent)
    /// Lookups in flight at most (each holds a thread while `getaddrinfo` blocks).
    static let maxConcurrentLookups = 32

    /// Runs `body` on the loop with `text` as a dialable address: at once for an IP literal, else
    /// after a name lookup on a separate thread. `getaddrinfo` can block for seconds (a container
    /// name that is missing while its task restarts, an upstream DNS that cannot be reached); on
    /// the loop that would stall consensus past an election timeout. A name already being
    /// resolved, or beyond `maxKnownAddresses` or `maxConcurrentLookups` names in flight (each
    /// would become a dial target, which the first bounds too), is skipped: gossip brings it
    /// again. `unresolved` runs on the loop when the text does not parse or its name does not
    /// resolve.
    func whenDialable(_ text: String, unresolved: ((PeerHost) -> Void)? = nil, _ body: @escaping (PeerHost, SocketAddress) -> Void) {
        if Self.isLiteral(text) {
            if let address = Self.dialable(text) { body(self, address) } else { unresolved?(self) }
            return
        }
        guard !resolving.contains(text), resolving.count < min(settings.maxKnownAddresses, Self.maxConcurrentLookups) else { return }
        resolving.insert(text)
        let bound = LoopBound((host: self, body: body, unresolved: unresolved), eventLoop: loop)
        let loop = self.loop
        Self.resolver.async {
            let address = Self.dialable(text)
            loop.execute {
                let (host, body, unresolved) = bound.value
                host.resolving.remove(text)
                guard !host.stopped else { return }
                if let address { body(host, address) } else { unresolved?(host) }
            }
        }
    }

    /// `host:port` whose host is an IP literal or localhost: parsing it needs no lookup.
    static func isLiteral(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":") else { return true }  // not an address: parsing fails fast
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" { return true }
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// An address worth dialling: parses, and is not a wildcard.
    static func dialable(_ text: String) -> SocketAddress? {
        guard let address = try? SocketAddress(parsing: text), let port = address.port, port != 0 else { return nil }
        let host = address.description
        if host.hasPrefix("0.0.0.0:") || host.hasPrefix("[::]:") { return nil }
        return address
    }
}
