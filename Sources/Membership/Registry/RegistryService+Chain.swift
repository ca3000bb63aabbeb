import Chain
import FoundationEssentials
import Glibc
import P2P

/// Following the chain: the registry reads headers from the nodes it knows by key and verifies
/// them (`VerifiedChain`); membership, retired IDs and the term it acts on come from there.
extension RegistryService {
    /// Headers asked for per request (the node serves at most 256).
    static let headersPerRequest = 256
    /// Requests per round at most, so catching up on a long chain never holds up a round long.
    static let headerRequestsPerRound = 16
    /// Nodes tried per round when one serves headers that do not verify.
    static let chainSourcesPerRound = 3

    func chainLoop() {
        let interval = Double(settings.decideIntervalMs) / 1000
        while !isStopping {
            let started = Self.now()
            followChainOnce()
            let rest = interval - (Self.now() - started)
            if rest > 0 { usleep(UInt32(rest * 1e6)) }
        }
        chainDone.signal()
    }

    /// Reads and verifies new headers from the node(s) that report the highest height.
    func followChainOnce() {
        let now = Self.now()
        let (chain, sources, ours) = state.withLock { s -> (VerifiedChain, [(String, String)], Bool) in
            let alive = s.core.nodes.values.filter { s.core.detector.health(node: $0.id, now: now) != .dead && $0.height > s.chain.height }
            // The provider's own nodes are asked first and, when there are any, only they: a node
            // that merely registered (with a key of its own) never gets to tell the registry the chain.
            let own = alive.filter { provider.isRunning($0.id) || provider.hasData($0.id) }
            let candidates = (own.isEmpty ? alive : own).sorted { ($0.height, $1.id) > ($1.height, $0.id) }
                .map { ($0.id, provider.apiURL($0.id) ?? $0.apiUrl) }
            return (s.chain, Array(candidates.prefix(Self.chainSourcesPerRound)), !own.isEmpty)
        }
        for (id, url) in sources {
            do {
                let verified = try fetchAndVerify(from: url, starting: chain, source: id, sourceIsOurs: ours)
                guard verified.height > chain.height else { continue }
                let changed = verified.membership != chain.membership
                state.withLock { s in if s.chain.height == chain.height { s.adopt(verified) } }
                metrics.verifiedHeight.set(Double(verified.height))
                if changed || !chain.isVerified {
                    wakeDecide()
                    let m = verified.membership
                    record(.membershipVerified, nil, "chain verified to block \(verified.height) (term \(verified.term)): voters "
                           + "\(m.voters.joined(separator: ",")), learners \(m.learners.isEmpty ? "none" : m.learners.joined(separator: ","))")
                }
                return
            } catch {
                metrics.chainRefused.inc(1)
                record(.chainUnverified, id, "headers from \(id) not accepted: \(error)", atMostEvery: settings.unverifiedChainEventIntervalS)
            }
        }
    }

    /// Follows `chain` with headers from the node at `url` until it has no more (or the round's
    /// budget is spent); throws when what it serves does not verify (nothing of it is kept).
    /// Block 1 is anchored on the key pinned for the node it bootstraps, or, when none is (that
    /// node is long gone and the registry restarted since), on the node that serves it. Either
    /// way a chain read from scratch is believed only if its source is a member of it under its
    /// pinned key and, when the source is not the registry's own node, a majority of the chain's
    /// voters registered here with the keys the chain gives them.
    func fetchAndVerify(from url: String, starting chain: VerifiedChain, source: String, sourceIsOurs: Bool) throws -> VerifiedChain {
        var verified = chain
        let client = try HTTPClient(baseURL: url)
        defer { client.close() }
        for _ in 0..<Self.headerRequestsPerRound {
            let from = verified.height + 1
            let r = try client.request(method: "GET", path: "/chain/headers?from=\(from)&count=\(Self.headersPerRequest)",
                                       timeout: .milliseconds(settings.chainFetchTimeoutMs))
            guard r.status == 200 else { throw RegistryActionError.refused(status: r.status, body: r.bodyText) }
            let items = try JSON.parse(r.body)["headers"]?.arrayValue ?? []
            guard items.count <= Self.headersPerRequest else { throw ChainVerificationError.wrongHeight(expected: from, got: 0) }
            let entries = try items.map { try VerifiedChain.Entry(json: $0) }
            let bootstrapKey = verified.isVerified ? nil : entries.first?.membership?.nodeKey
            try verified.apply(entries) { id in provider.nodeKey(id) ?? state.withLock { $0.pins.keyOf[id] } ?? bootstrapKey }
            if entries.count < Self.headersPerRequest { break }
        }
        if !chain.isVerified, verified.isVerified {
            let pins = state.withLock { $0.pins.keyOf }
            let m = verified.membership
            guard let sourceKey = pins[source], m.keys[source] == sourceKey else { throw ChainVerificationError.sourceNotAMember(source) }
            let vouching = m.voters.filter { v in pins[v] != nil && pins[v] == m.keys[v] }.count
            guard sourceIsOurs || vouching * 2 > m.voters.count else {
                throw ChainVerificationError.votersNotRegistered(registered: vouching, voters: m.voters.count)
            }
        }
        return verified
    }
}
