// swift-tools-version:6.0
// autochain: a permissioned ledger node with auto-scaling membership.
// No third-party packages: Foundation, Dispatch, Synchronization, libsqlite3 and libsodium only.
import PackageDescription

let strict: [SwiftSetting] = [
    .unsafeFlags(["-warnings-as-errors"], .when(configuration: .debug)),
    // Swift 6.3.1's SIL loop-invariant code motion spins for many minutes on the Membership
    // module in release builds; the pass is skipped there until the compiler is fixed.
    .unsafeFlags(["-Xllvm", "-sil-disable-pass=loop-invariant-code-motion"], .when(configuration: .release)),
]

let package = Package(
    name: "autochain",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "autochain", targets: ["NodeMain"]),
        // The modules as libraries, for the fuzz targets in fuzz/ (a package of its own that
        // depends on this one by path, so plain `swift build` never links a fuzzer entry point).
        .library(name: "Chain", targets: ["Chain"]),
        .library(name: "Consensus", targets: ["Consensus"]),
        .library(name: "P2P", targets: ["P2P"]),
        .library(name: "Membership", targets: ["Membership"]),
        .library(name: "NodeCore", targets: ["NodeCore"]),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CSodium", path: "Sources/CSodium", pkgConfig: "libsodium",
                       providers: [.apt(["libsodium-dev"])]),
        .target(name: "Chain", dependencies: ["CSQLite", "CSodium"], swiftSettings: strict),
        .target(name: "Consensus", dependencies: [], swiftSettings: strict),
        .target(name: "NodeCore", dependencies: ["Chain", "Consensus"], swiftSettings: strict),
        .target(name: "P2P", dependencies: ["Chain", "Consensus"], swiftSettings: strict),
        .target(name: "Membership", dependencies: ["Chain", "Consensus", "P2P"], swiftSettings: strict),
        .executableTarget(name: "NodeMain", dependencies: ["Chain", "Consensus", "NodeCore", "P2P", "Membership"],
                          swiftSettings: strict),
        .testTarget(name: "ChainTests", dependencies: ["Chain"], swiftSettings: strict),
        // Simulation support shared by the simulator test targets: seeds and replay, the simulated
        // network, the real-core cluster harness (a plain target: test targets depend on it).
        .target(name: "SimulationSupport", dependencies: ["Chain", "Consensus", "NodeCore"], path: "Tests/SimulationSupport",
                swiftSettings: strict),
        .testTarget(name: "ConsensusTests", dependencies: ["Consensus", "Chain", "NodeCore", "SimulationSupport"], swiftSettings: strict),
        .testTarget(name: "HealingSimulatorTests", dependencies: ["Chain", "Consensus", "Membership", "NodeCore", "SimulationSupport"],
                    swiftSettings: strict),
        .testTarget(name: "NodeCoreTests", dependencies: ["NodeCore", "Chain", "Consensus"], swiftSettings: strict),
        .testTarget(name: "P2PTests", dependencies: ["P2P", "Chain", "Consensus"], swiftSettings: strict),
        .testTarget(name: "MembershipTests", dependencies: ["Membership", "Chain", "P2P"], swiftSettings: strict),
        .testTarget(name: "NodeMainTests", dependencies: ["NodeMain", "Chain", "P2P", "Consensus", "Membership", "NodeCore"],
                    swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
