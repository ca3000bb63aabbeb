// swift-tools-version:6.0
// libFuzzer targets over autochain's decoders. Built only by scripts/fuzz.sh, with
// `-sanitize=fuzzer,address` (libFuzzer supplies `main`, so these executables cannot
// link without it); plain `swift build` in the repository root never sees this package.
import PackageDescription

let settings: [SwiftSetting] = [.unsafeFlags(["-warnings-as-errors"])]

/// Fuzz target name (as scripts/fuzz.sh and fuzz/corpus/ call it) → its Swift module.
let fuzzTargets: [(name: String, module: String, uses: [String])] = [
    ("http-request", "FuzzHTTPRequest", ["P2P"]),
    ("chunked", "FuzzChunked", ["P2P"]),
    ("json", "FuzzJSON", ["Chain"]),
    ("toml", "FuzzTOML", ["Chain"]),
    ("transaction", "FuzzTransaction", ["Chain"]),
    ("block", "FuzzBlock", ["Chain"]),
    ("peer-message", "FuzzPeerMessage", ["P2P", "Chain", "Consensus"]),
    ("registry-body", "FuzzRegistryBody", ["Membership", "P2P", "Chain"]),
]

let package = Package(
    name: "autochain-fuzz",
    platforms: [.macOS(.v15)],
    products: fuzzTargets.map { .executable(name: "fuzz-\($0.name)", targets: [$0.module]) },
    dependencies: [.package(name: "autochain", path: "..")],
    targets: [
        .target(name: "FuzzSupport", swiftSettings: settings),
    ] + fuzzTargets.map { target in
        .executableTarget(
            name: target.module,
            dependencies: ["FuzzSupport"] + target.uses.map { .product(name: $0, package: "autochain") },
            swiftSettings: settings)
    },
    swiftLanguageModes: [.v6]
)
