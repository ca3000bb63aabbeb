import Chain
import FoundationEssentials

/// `autochain recover --force-new-cluster`: the operator's last resort when a majority of voters
/// lost their data. This node's committed chain is kept; every other voter and learner is
/// removed from the configuration by membership blocks this node writes and commits alone, so it
/// restarts as the single voter of a cluster that others must join afresh. Uncommitted blocks are
/// dropped. Refuses unless told explicitly: blocks committed only by the lost majority are gone.
enum RecoverCommand {
    static let spec = CommandSpec(name: "recover", summary: "Force a new single-voter cluster from this node's data (last resort).", options: [
        .init(name: "force-new-cluster", valueName: nil, help: "required: make this node the only voter"),
        .init(name: "data-dir", valueName: "DIR", help: "the stopped node's data directory"),
        .init(name: "node-id", valueName: "ID", help: "the node's ID"),
        .init(name: "config", valueName: "FILE", help: "the configuration the node runs with (its genesis)"),
        .init(name: "yes", valueName: nil, help: "confirm: blocks committed only by the lost voters are lost"),
    ])

    @Sendable static func run(_ args: [String]) throws(CLIError) {
        let parsed = try spec.parse(args)
        guard parsed.flag("force-new-cluster") else { throw .usage("recover: only --force-new-cluster recovery exists; say it explicitly") }
        let dir = try parsed.required("data-dir")
        let id = try parsed.required("node-id")
        let settings = try ConfigLoader.load(file: parsed.string("config"), environment: [:], flags: try NodeCommand.spec.parse([]))
        let key = try KeyFile.read(dir + "/node.key")
        let store: ChainStore
        do { store = try ChainStore(path: dir + "/chain.db", genesis: settings.genesis) } catch { throw .failed("\(error)") }
        let m = store.membership
        guard m.contains(id), m.keys[id] == key.publicKey else {
            throw .failed("\(id) with this data directory's key is not a member of its chain (members: \(m.members.joined(separator: ", ")))")
        }
        let others = m.members.filter { $0 != id }
        print("this node: \(id), committed height \(store.headHeight); voters \(m.voters), learners \(m.learners)")
        print("will: drop uncommitted blocks, \(m.learners.contains(id) ? "promote \(id), " : "")remove \(others.isEmpty ? "nobody" : others.joined(separator: ", ")), and start a new term")
        guard parsed.flag("yes") else {
            throw .failed("refusing without --yes: blocks committed by the lost voters but not held here are lost for good; stop every other node first")
        }
        do {
            try rewrite(store, id: id, key: key, others: others, promote: m.learners.contains(id))
        } catch {
            throw .failed("recovery failed, nothing committed past the last good block: \(error)")
        }
        print("done: \(id) is the only voter at height \(store.headHeight). Start it without --join; wipe the other nodes' data and start them with --join.")
    }

    static func rewrite(_ store: ChainStore, id: String, key: KeyPair, others: [String], promote: Bool) throws {
        let hs = try store.loadHardState()
        let term = hs.term + 1
        var membership = store.membership
        var head = try store.block(at: store.headHeight)!
        var changes: [MembershipChange] = []
        if promote { changes.append(MembershipChange(kind: .promote, nodeId: id)) }
        changes += others.map { MembershipChange(kind: .remove, nodeId: $0) }
        var batch: [CommittedBlock] = []
        for change in changes {
            membership = membership.applying(change)
            let block = Block.make(height: head.header.height + 1, prevHash: head.hash,
                                   stateRoot: StateRoot.next(previous: head.header.stateRoot, membership: change),
                                   timestamp: max(wallClockMs(), head.header.timestamp), term: term, txs: [], membership: change, proposerKey: key)
            batch.append(CommittedBlock(block: block, delta: .empty))
            head = block
        }
        precondition(membership.voters == [id], "recovery must leave exactly this voter")
        try store.dropLogTail()
        try store.persist(StoreBatch(hardState: (term: term, vote: id, commit: head.header.height), logEntries: [],
                                     committed: batch, membership: membership))
    }
}
