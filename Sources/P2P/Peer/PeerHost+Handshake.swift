import Chain

/// Message handling by handshake stage: channel authenticated → peers (acceptance) → established.
extension PeerHost {
    func handle(_ message: PeerMessage, on connection: PeerConnection) {
        if case .superseded(let proof) = message { return receivedSupersededNotice(proof, on: connection) }
        if case .bye(let reason) = message {
            if connection.stage != .established { connection.refusedUs = true }
            logger.warn("peer said bye", ["node": identity.nodeId, "peer": connection.peerLabel, "reason": reason])
            delegate.peerRefusedIfHandshaking(connection, reason: "peer said bye: \(reason)")
            ended(connection, reason: "peer said bye: \(reason)", closedByPeer: true)
            connection.tcp.close()
            return
        }
        switch connection.stage {
        case .handshaking:  // unreachable: the channel hands out messages only after auth
            violation(message, connection)
        case .awaitingAccept:
            guard case .peers(let list) = message else { return violation(message, connection) }
            establish(connection)
            if connection.stage == .established { learn(list, from: connection) }
        case .established:
            receivedEstablished(message, on: connection)
        case .ended:
            return
        }
    }

    private func violation(_ message: PeerMessage, _ connection: PeerConnection) {
        refuse(connection, reason: "unexpected '\(message.typeName)' during \(connection.stage)")
    }

    /// Refuses during the handshake: tells the delegate, then bye and close.
    func refuse(_ connection: PeerConnection, reason: String) {
        if connection.stage != .established {
            delegate.peerRefused(remote: connection.tcp.remoteAddress?.description ?? "?",
                                 nodeId: connection.hello?.nodeId, reason: reason)
        }
        drop(connection, reason: reason)
    }

    /// The channel verified the peer's auth frame (credential, chain, signature over this
    /// connection's transcript and role): now the self-dial check and the membership decision.
    func receivedAuth(_ auth: ChannelAuth, on connection: PeerConnection) {
        guard connection.stage == .handshaking else { preconditionFailure("auth twice") }
        let hello = PeerHello(
            chainId: auth.chainId, genesisHash: auth.genesisHash, nodeId: auth.nodeId, nodeKey: auth.nodeKey,
            p2pAddr: auth.p2pAddr, apiAddr: auth.apiAddr, height: auth.height, incarnation: auth.incarnation,
            proof: proof(of: auth, on: connection))
        connection.hello = hello
        if isSuperseded { return refuse(connection, reason: "this copy of \(identity.nodeId) is superseded and stopping") }
        switch fenceDecision(for: connection) {
        case .superseded(let proof):
            return stopAsSuperseded(proof, peer: connection.peerLabel)
        case .ownId:
            if let address = connection.dialAddress { targets[address]?.isSelf = true }
            connection.refusedUs = true
            return refuse(connection, reason: "self-dial: peer has our own nodeId \(identity.nodeId)")
        case .refuse(let reason, let newer):
            return refuseOlderCopy(connection, reason: reason, newer: newer)
        case .accept:
            dropOlderCopies(of: hello.nodeId)
        }
        switch delegate.authorize(nodeId: auth.nodeId, nodeKey: auth.nodeKey) {
        case .refuse(let reason):
            return refuse(connection, reason: "not authorized: \(reason)")
        case .joinOnly:
            connection.isMember = false
        case .member:
            connection.isMember = true
        }
        noteGivenPeer(connection, nodeId: auth.nodeId, nodeKey: auth.nodeKey)
        connection.stage = .awaitingAccept
        // Our peers list doubles as "your auth is accepted"; a join-only peer learns no topology.
        let list = connection.isMember ? memberAddresses(except: auth.nodeId) : []
        connection.send(PeerMessage.peers(list).encodedLine())
    }

    private func receivedEstablished(_ message: PeerMessage, on connection: PeerConnection) {
        switch message {
        case .ping(let height):
            updateHeight(height, of: connection)
            connection.send(PeerMessage.pong(height: delegate.localHeight()).encodedLine())
        case .pong(let height):
            updateHeight(height, of: connection)
        case .peers(let list):
            learn(list, from: connection)
        case .bye, .superseded:  // (handled before the stage: never here)
            refuse(connection, reason: "unexpected '\(message.typeName)' after the handshake")
        case .raft, .getBlocks, .blocks, .txs, .txsResult, .join, .joinResult:
            if !connection.isMember {
                // A join-only peer may ask to join and read committed blocks (to sync before it is
                // admitted). Anything else: it may have been admitted since the handshake, so ask
                // again before refusing.
                let readOnly = message.typeName == "join" || message.typeName == "getBlocks"
                if !readOnly, !admitIfMember(connection) {
                    return refuse(connection, reason: "join-only peer sent '\(message.typeName)'")
                }
            }
            guard let info = connection.info else { preconditionFailure("established without info") }
            // A newcomer's own asks are throttled; a member's are relays of newcomers' asks
            // (bounded where they are relayed).
            if case .join = message, !connection.isMember, !joinAllowed(on: connection) {
                return delegate.peerRuleHit(nodeId: info.nodeId, reason: "join_throttled",
                                            detail: "join again within \(settings.minJoinInterval)")
            }
            guard let info = connection.info else { preconditionFailure("established without info") }
            // A Raft message speaks for its sender: only the link that sender authenticated may
            // carry it, and only to us (etcd/raft drops what it cannot place before acting on it).
            if case .raft(let m) = message, m.from != info.nodeId || m.to != identity.nodeId {
                return refuse(connection, reason: "raft message from '\(m.from.prefix(64))' to '\(m.to.prefix(64))' "
                              + "on the link of '\(info.nodeId)' to '\(identity.nodeId)'")
            }
            var given = info
            given.isGivenPeer = isGivenPeer(info)
            delegate.received(message, from: given)
        }
    }

    /// Records who answered at a given address this node dialled (a fresh node trusts only these
    /// peers' join answers: see docs/SECURITY.md, "A fresh node").
    private func noteGivenPeer(_ connection: PeerConnection, nodeId: String, nodeKey: PublicKey) {
        guard let address = connection.dialAddress, targets[address]?.isStatic == true else { return }
        targets[address]?.admitted = (nodeId, nodeKey)
        givenPeers = [:]
        for target in targets.values {
            if let admitted = target.admitted, target.isStatic { givenPeers[admitted.nodeId] = admitted.nodeKey }
        }
    }

    func isGivenPeer(_ info: PeerInfo) -> Bool { givenPeers[info.nodeId] == info.nodeKey }

    // MARK: - Fencing

    /// The peer's signed word on its incarnation (version 3 only: a version-2 peer signs none).
    private func proof(of auth: ChannelAuth, on connection: PeerConnection) -> IncarnationProof? {
        guard connection.channel.version >= 3, let transcript = connection.channel.transcript else { return nil }
        return IncarnationProof(nodeId: auth.nodeId, nodeKey: auth.nodeKey, incarnation: auth.incarnation,
                                transcript: transcript, role: connection.channel.role.other.rawValue, signature: auth.signature)
    }

    /// The fence's verdict on `connection`'s peer. The other live links of its node ID are shown
    /// to the fence first: one accepted before its node was a member (join-only, or before this
    /// node knew the membership) was not recorded then, and an older copy must not pass it now.
    private func fenceDecision(for connection: PeerConnection) -> IncarnationFence.Verdict {
        guard let hello = connection.hello else { preconditionFailure("fenced before its auth") }
        let members = delegate.memberIds()
        for other in connections.values where other !== connection && other.stage != .ended && other.hello?.nodeId == hello.nodeId {
            if let claim = other.hello?.claim, claim.nodeId != identity.nodeId { _ = fence.admit(claim, members: members) }
        }
        return fence.admit(hello.claim, members: members)
    }

    /// An older copy of a member: counted, shown the proof of the newer one (so it stops), refused.
    private func refuseOlderCopy(_ connection: PeerConnection, reason: String, newer: IncarnationProof?) {
        delegate.peerRuleHit(nodeId: connection.peerLabel, reason: "superseded_incarnation", detail: reason)
        if let newer, connection.channel.version >= 3 { connection.send(PeerMessage.superseded(newer).encodedLine()) }
        connection.refusedUs = true  // redial it slowly: it is going away
        refuse(connection, reason: "superseded: \(reason)")
    }

    /// Links of `nodeId` accepted before a newer copy of it connected: closed, with the proof.
    private func dropOlderCopies(of nodeId: String) {
        for other in Array(connections.values) where other.stage != .ended && other.hello?.nodeId == nodeId {
            guard let hello = other.hello, case .refuse(let reason, let newer)? = fence.refusal(of: nodeId, incarnation: hello.incarnation) else {
                continue
            }
            refuseOlderCopy(other, reason: reason, newer: newer)
        }
    }

    /// A peer passed on a newer copy's proof: stop if it is our key's over a higher incarnation.
    private func receivedSupersededNotice(_ proof: IncarnationProof, on connection: PeerConnection) {
        guard case .superseded(let valid)? = fence.learned(proof) else {
            // Counted and logged by the delegate at its rate: a peer repeating it cannot flood the log.
            return delegate.peerRuleHit(nodeId: connection.peerLabel, reason: "invalid_superseded_notice",
                                        detail: "a superseded notice (incarnation \(proof.incarnation)) that is not a valid proof against this copy")
        }
        stopAsSuperseded(valid, peer: connection.peerLabel)
    }

    /// This copy is an old one: it takes part no more (every link closed, none accepted) and the
    /// delegate stops the node.
    func stopAsSuperseded(_ proof: IncarnationProof, peer: String) {
        guard !isSuperseded else { return }
        isSuperseded = true
        for target in targets.values { target.timer?.cancel() }
        targets.removeAll()
        logger.error("superseded: a newer copy of this node runs (peer link); stopping",
                     ["node": identity.nodeId, "incarnation": identity.incarnation, "newer": proof.incarnation, "peer": peer])
        for connection in Array(connections.values) {
            drop(connection, reason: "this copy (incarnation \(identity.incarnation)) is superseded by incarnation \(proof.incarnation)")
        }
        delegate.superseded(by: proof)
    }

    /// Whether a join-only connection's node is a member now; if so the connection becomes a
    /// member's: it learns the topology, and the members learn of it, as a member connecting
    /// afresh would (else, joined through one node, it knows only that node and loses every
    /// other one when it dies).
    func admitIfMember(_ connection: PeerConnection) -> Bool {
        guard let hello = connection.hello, case .member = delegate.authorize(nodeId: hello.nodeId, nodeKey: hello.nodeKey) else {
            return false
        }
        // A member now: its incarnation is fenced from now on, as if it had connected as one.
        switch fenceDecision(for: connection) {
        case .refuse(let reason, let newer):
            refuseOlderCopy(connection, reason: reason, newer: newer)
            return false
        case .accept:
            dropOlderCopies(of: hello.nodeId)
        case .ownId, .superseded:
            break  // decided at its handshake
        }
        connection.isMember = true
        if var info = connection.info {
            info.isMember = true
            connection.info = info
            if established[info.nodeId] === connection {
                shared.set(info)
                connection.send(PeerMessage.peers(memberAddresses(except: info.nodeId)).encodedLine())
                announce(info)
            }
        }
        return true
    }

    /// Takes a join-only peer's `join` at most once per `minJoinInterval` per connection.
    private func joinAllowed(on connection: PeerConnection) -> Bool {
        let now = LinuxSyscalls.monotonicNanos()
        if let last = connection.lastJoinNanos, now &- last < settings.minJoinInterval.nanoseconds { return false }
        connection.lastJoinNanos = now
        return true
    }

    private func updateHeight(_ height: UInt64, of connection: PeerConnection) {
        guard var info = connection.info, info.height != height else { return }
        info.height = height
        connection.info = info
        if established[info.nodeId] === connection { shared.set(info) }
    }

    /// Both sides are authenticated. Applies one-connection-per-pair: the connection dialled by the
    /// smaller nodeId wins; between two dialled by the same node, the newer (the older is stale).
    private func establish(_ connection: PeerConnection) {
        guard let hello = connection.hello else { preconditionFailure("established without a hello") }
        connection.handshakeTimer?.cancel()
        let preferred = min(identity.nodeId, hello.nodeId)
        let info = PeerInfo(nodeId: hello.nodeId, nodeKey: hello.nodeKey, p2pAddr: hello.p2pAddr, apiAddr: hello.apiAddr,
                            height: hello.height, direction: connection.direction, isMember: connection.isMember,
                            connectedSinceUnixMillis: unixMillisNow(), isGivenPeer: givenPeers[hello.nodeId] == hello.nodeKey,
                            incarnation: hello.proof?.incarnation)
        if let existing = established[hello.nodeId] {
            let existingDialler = existing.dialler(localNodeId: identity.nodeId)
            let newDialler = connection.dialler(localNodeId: identity.nodeId)
            let keepNew = existingDialler == newDialler || newDialler == preferred
            let loser = keepNew ? existing : connection
            if keepNew {
                var carried = info
                carried.connectedSinceUnixMillis = existing.info?.connectedSinceUnixMillis ?? info.connectedSinceUnixMillis
                connection.info = carried
                connection.stage = .established
                connection.establishedNanos = LinuxSyscalls.monotonicNanos()
                established[hello.nodeId] = connection
                shared.set(carried)
            }
            // Not in `established` any more (or never): closing it fires no disconnect callback.
            drop(loser, reason: "duplicate connection to \(hello.nodeId)")
            peerReachable(connection, nodeId: hello.nodeId)
            return
        }
        connection.info = info
        connection.stage = .established
        connection.establishedNanos = LinuxSyscalls.monotonicNanos()
        established[hello.nodeId] = connection
        shared.set(info)
        logger.info("peer connected", ["node": identity.nodeId, "peer": hello.nodeId, "direction": connection.direction.rawValue])
        peerReachable(connection, nodeId: hello.nodeId)
        delegate.peerConnected(info)
        if connection.isMember, connection.stage == .established { announce(info) }
    }

    /// Gossips a newly connected member to the other members.
    private func announce(_ info: PeerInfo) {
        let line = PeerMessage.peers([PeerAddress(nodeId: info.nodeId, p2pAddr: info.p2pAddr, apiAddr: info.apiAddr)]).encodedLine()
        for other in Array(established.values) where other.isMember && other.hello?.nodeId != info.nodeId {
            other.send(line)
        }
    }

    func memberAddresses(except nodeId: String) -> [PeerAddress] {
        var list: [PeerAddress] = []
        for (id, connection) in established where id != nodeId && connection.isMember {
            guard let info = connection.info else { continue }
            list.append(PeerAddress(nodeId: id, p2pAddr: info.p2pAddr, apiAddr: info.apiAddr))
            if list.count == PeerLimits.maxPeersPerGossip { break }
        }
        return list
    }
}

extension PeerDelegate {
    /// Called when a handshake is refused, by either side, with the reason. Default: nothing.
    public func peerRefused(remote: String, nodeId: String?, reason: String) {}

    /// Called when an established peer hits a rule. Default: nothing.
    public func peerRuleHit(nodeId: String, reason: String, detail: String) {}

    func peerRefusedIfHandshaking(_ connection: PeerConnection, reason: String) {
        guard connection.stage != .established else { return }
        peerRefused(remote: connection.tcp.remoteAddress?.description ?? "?", nodeId: connection.hello?.nodeId, reason: reason)
    }
}
