// What a registry event is about, as one closed list. The name is stable: it is the `kind` of
// `GET /events`, the `kind` label of autochain_registry_events_total, and what docs/OPERATIONS.md
// lists.

/// The kind of a `RegistryEvent`: a scaling action the autoscaler decided, or something the
/// registry observed or was told.
public enum RegistryEventKind: Hashable, Sendable {
    /// The autoscaler decided this action (named by the action's kind).
    case action(ScalingActionKind)
    case actionFailed
    case registryStarted
    case dataPurged
    case nodeCallRefused
    case membershipVerified
    case chainUnverified
    case nodeSpawned
    case nodeRegistered
    case nodeRetired
    case nodeExited
    case nodeStorageDegraded
    case nodeStorageRecovered
    case consensusEvidence
    case consensusFailure
    case scaleRequested
    case retireRequested
    /// A copy with a higher incarnation reported (fencing).
    case nodeSuperseded
    /// An older copy's report was answered `superseded`.
    case supersededCopyRefused

    /// Every kind but the actions, in the order docs/OPERATIONS.md lists them.
    static let observed: [RegistryEventKind] = [
        .actionFailed, .registryStarted, .dataPurged, .nodeCallRefused, .membershipVerified, .chainUnverified, .nodeSpawned,
        .nodeRegistered, .nodeRetired, .nodeExited, .nodeStorageDegraded, .nodeStorageRecovered, .consensusEvidence,
        .consensusFailure, .scaleRequested, .retireRequested, .nodeSuperseded, .supersededCopyRefused,
    ]

    /// Every kind there is.
    public static var allCases: [RegistryEventKind] { ScalingActionKind.allCases.map { .action($0) } + observed }

    /// The stable name (`snake_case`; an action's is its `ScalingActionKind` raw value).
    public var name: String {
        switch self {
        case .action(let kind): kind.rawValue
        case .actionFailed: "action_failed"
        case .registryStarted: "registry_started"
        case .dataPurged: "data_purged"
        case .nodeCallRefused: "node_call_refused"
        case .membershipVerified: "membership_verified"
        case .chainUnverified: "chain_unverified"
        case .nodeSpawned: "node_spawned"
        case .nodeRegistered: "node_registered"
        case .nodeRetired: "node_retired"
        case .nodeExited: "node_exited"
        case .nodeStorageDegraded: "node_storage_degraded"
        case .nodeStorageRecovered: "node_storage_recovered"
        case .consensusEvidence: "consensus_evidence"
        case .consensusFailure: "consensus_failure"
        case .scaleRequested: "scale_requested"
        case .retireRequested: "retire_requested"
        case .nodeSuperseded: "node_superseded"
        case .supersededCopyRefused: "superseded_copy_refused"
        }
    }
}
