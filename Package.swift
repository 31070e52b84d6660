// swift-tools-version:6.1
import PackageDescription
import class Foundation.ProcessInfo

// Benchmarks (package-benchmark) are added only when SLUICE_BENCHMARKS is set, so that
// `swift build` and `swift test` do not build the benchmark toolchain. bench/*.sh set it and
// use their own scratch path (.build-bench).
let withBenchmarks = ProcessInfo.processInfo.environment["SLUICE_BENCHMARKS"] != nil
// Dynamic exclusivity checks stay on in every build unless SLUICE_EXCLUSIVITY=unchecked is set
// for a release build of this package itself (bench/exclusivity.sh measures what they cost);
// debug builds and tests always keep them. By default no target carries unsafe flags, so the
// package can be used as a dependency.
let exclusivityUnchecked = ProcessInfo.processInfo.environment["SLUICE_EXCLUSIVITY"] == "unchecked"
/// What a benchmark build gives the datapath and the virtual NIC's frontend (both ends of the rings).
let unchecked: [SwiftSetting] = exclusivityUnchecked
    ? [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))] : []

let package = Package(
    name: "Sluice",
    products: [
        .library(name: "Sluice", targets: ["Sluice"]),
        .executable(name: "sluice", targets: ["SluiceCLI"]),
        // LD_PRELOAD'ed by `sluice exec` into Debian's ip/tc/bridge (C: it lives inside C programs).
        .library(name: "SluicePreload", type: .dynamic, targets: ["CSluicePreload"]),
        // A virtual NIC's frontend, for applications (depends on the shared ABI only).
        .library(name: "SluiceFrontend", targets: ["SluiceFrontend"]),
        .executable(name: "sluice-vnic", targets: ["SluiceVNIC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // Glue only: constants, ioctl numbers and struct layouts Swift cannot import cleanly.
        .target(name: "CSluiceLinux"),
        .target(name: "CSluicePreload"),
        // The virtual NIC's shared-memory ABI (rings, grants, layout) and its fd-passing glue,
        // used by the backend (in the datapath) and the frontend alike.
        .target(name: "CSluiceVIF"),
        .target(name: "SluiceVIF", dependencies: [.product(name: "Atomics", package: "swift-atomics")], swiftSettings: unchecked),
        .target(name: "SluiceFrontend", dependencies: ["SluiceVIF", "CSluiceVIF"], swiftSettings: unchecked),
        .executableTarget(name: "SluiceVNIC", dependencies: ["SluiceFrontend", "SluiceVIF", "CSluiceLinux"], path: "Sources/sluice-vnic",
                          swiftSettings: unchecked),
        // The datapath: one module so whole-module optimisation sees the whole fast path.
        .target(
            name: "Sluice",
            dependencies: [
                "CSluiceLinux", "CSluiceVIF", "SluiceVIF",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: unchecked
        ),
        .executableTarget(
            name: "SluiceCLI",
            dependencies: [
                "Sluice",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/sluice"
        ),
        .testTarget(name: "SluiceTests", dependencies: ["Sluice", "SluiceVIF", "SluiceFrontend"]),
        .testTarget(name: "IntegrationTests", dependencies: ["Sluice", "SluiceCLI", "SluiceFrontend", "SluiceVIF", "SluiceVNIC"]),
    ],
    swiftLanguageModes: [.v6]
)

if withBenchmarks {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]))
    for name in ["ForwardingBenchmark", "QdiscBenchmark", "FIBBenchmark"] {
        package.targets.append(
            .executableTarget(
                name: name,
                dependencies: ["Sluice", "SluiceVIF", "CSluiceVIF", .product(name: "Benchmark", package: "benchmark")],
                path: "Benchmarks/\(name)",
                plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
            ))
    }
}
