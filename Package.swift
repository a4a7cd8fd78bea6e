// swift-tools-version: 6.1
// Mnemo: a retrieval-augmented memory service. See README.md for the module map.
import PackageDescription

/// Tests/Scripts/fuzz.sh sets MNEMO_FUZZ=1 (in its own build directory): Mnemo's own modules get
/// coverage and AddressSanitizer, and mnemo-fuzz links libFuzzer's driver. Dependencies stay plain.
let fuzzing = Context.environment["MNEMO_FUZZ"] == "1"
let instrumented: [SwiftSetting] = fuzzing
    ? [.unsafeFlags(["-sanitize=address", "-sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table"])] : []
let fuzzLinkerSettings: [LinkerSetting] = fuzzing
    ? [.unsafeFlags(["-sanitize=address", "-Xlinker", "--undefined=LLVMFuzzerRunDriver",
                     "-Xlinker", Context.environment["MNEMO_LIBFUZZER"] ?? "libclang_rt.fuzzer_no_main-x86_64.a",
                     "-lstdc++"])] : []

/// Optimised even in debug builds: the tensor and model code is far too slow unoptimised for the
/// tests that run the real models.
let fast: [SwiftSetting] = [.unsafeFlags(["-O", "-enforce-exclusivity=unchecked"])] + instrumented

let package = Package(
    name: "Mnemo",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mnemo", targets: ["mnemo"]),
        .executable(name: "mnemo-fuzz", targets: ["mnemo-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Arbitrary-size integers for the calculator's exact rationals.
        .package(url: "https://github.com/attaswift/BigInt", from: "6.0.1"),
        // The HTTP server (`mnemo serve`). Its tests run a real server on loopback with a small HTTP client
        // of their own: HummingbirdTesting would bring AsyncHTTPClient and BoringSSL into every cold build.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // The Model Context Protocol over stdio (`mnemo mcp`).
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
        // Already in the graph through Hummingbird; named for the server tests (a service group, a logger).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // Already in the graph through Hummingbird; named for the server's connection deadlines (a channel
        // handler over HTTP request parts).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        // Already in the graph through Hummingbird; named for the web page's response headers.
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.20.0"),
    ],
    targets: [
        // Native libraries from Debian.
        .systemLibrary(name: "CSQLite", path: "Sources/Native/CSQLite", pkgConfig: "sqlite3"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/Native/COpenBLAS"),
        // libpq (Debian's libpq-dev), for the shared store only.
        .systemLibrary(name: "CPostgres", path: "Sources/Native/CPostgres", pkgConfig: "libpq"),
        // FAISS's C API over Debian's static C++ libfaiss (Debian ships no libfaiss_c).
        .target(
            name: "CFaiss",
            path: "Sources/Native/CFaiss",
            cxxSettings: [.define("NDEBUG"), .unsafeFlags(["-O2", "-fopenmp"])],
            linkerSettings: [
                .linkedLibrary("faiss"), .linkedLibrary("openblas"), .linkedLibrary("gomp"),
                .linkedLibrary("m"), .linkedLibrary("stdc++"),
            ]
        ),

        // Hot float kernels in C, AVX2+FMA chosen at run time.
        .target(name: "CKernels", path: "Sources/Native/CKernels", exclude: ["kernels_impl.h"],
                cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),

        // Dense math: buffers, BLAS calls, normalisation and activation kernels, parallel loops.
        .target(name: "MnemoTensor", dependencies: ["COpenBLAS", "CKernels"], swiftSettings: fast),
        // Model files, tokenizers and model forward passes.
        .target(name: "MnemoModels", dependencies: ["MnemoErrors", "MnemoTensor"], swiftSettings: fast),
        // Mnemo's one error type (StoreError, ModelError and ToolError are its names in their layers).
        .target(name: "MnemoErrors", swiftSettings: instrumented),
        .target(name: "MnemoIngest", dependencies: ["MnemoErrors"], swiftSettings: instrumented),
        // The memory store: SQLite (source of truth) + a FAISS index derived from it.
        .target(name: "MnemoStore", dependencies: ["MnemoErrors", "MnemoSQLite", "CSQLite", "CFaiss"], swiftSettings: instrumented),
        // The shared store: PostgreSQL as the durable record and change log, each node's store directory a
        // replica that follows it. Only the edges that open a store by URL depend on it.
        .target(name: "MnemoPostgres", dependencies: ["CPostgres", "MnemoErrors", "MnemoStore"], swiftSettings: instrumented),
        // The one SQLite layer: connections, statements, values (under the store and the read-only tool).
        .target(name: "MnemoSQLite", dependencies: ["CSQLite"], swiftSettings: instrumented),
        // The memory service: encoder + ingest + store, and everything built on them.
        .target(name: "MnemoCore", dependencies: ["MnemoErrors", "MnemoModels", "MnemoIngest", "MnemoStore", "MnemoTensor", "MnemoTools"], swiftSettings: fast),
        // The evaluations behind the figures in docs/ (retrieval, QA, tools, long chat), apart from the product.
        .target(name: "MnemoEvaluation", dependencies: ["MnemoCore", "MnemoErrors", "MnemoIngest", "MnemoModels", "MnemoStore", "MnemoTools"],
                swiftSettings: fast),
        // Tools beside the LLM: an exact calculator and read-only SQL over a user's SQLite database.
        .target(name: "MnemoTools", dependencies: ["MnemoErrors", "MnemoSQLite", "CSQLite", .product(name: "BigInt", package: "BigInt")], swiftSettings: fast),
        // The network edges: the OpenAI-compatible HTTP API and the MCP server.
        .target(
            name: "MnemoServer",
            dependencies: [
                "MnemoCore", "MnemoErrors", "MnemoIngest", "MnemoModels", "MnemoPostgres", "MnemoStore", "MnemoTools",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: instrumented
        ),
        // The command-line edge.
        .executableTarget(
            name: "mnemo",
            dependencies: [
                "MnemoCore", "MnemoEvaluation", "MnemoIngest", "MnemoModels", "MnemoPostgres", "MnemoServer", "MnemoStore", "MnemoTensor", "MnemoTools",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Fuzz targets for the parsers (Tests/Scripts/fuzz.sh); a plain build replays Tests/Fuzz/.
        .target(name: "CFuzzDriver", path: "Sources/Native/CFuzzDriver"),
        .executableTarget(
            name: "mnemo-fuzz",
            dependencies: ["CFuzzDriver", "CSQLite", "MnemoIngest", "MnemoModels", "MnemoServer", "MnemoTools"],
            swiftSettings: instrumented,
            linkerSettings: fuzzLinkerSettings
        ),

        .testTarget(name: "NativeTests", dependencies: ["CFaiss", "CSQLite", "COpenBLAS", "CKernels"]),
        .testTarget(
            name: "MnemoModelsTests",
            dependencies: ["MnemoModels", "MnemoTensor"],
            exclude: ["Resources/generate_fixtures.py"],
            resources: [.copy("Resources/encoder_fixtures.json"), .copy("Resources/llama-vocab"), .copy("Resources/llama-reference")]
        ),
        .testTarget(name: "MnemoStoreTests", dependencies: ["MnemoStore", "MnemoSQLite"]),
        .testTarget(name: "MnemoPostgresTests", dependencies: ["MnemoPostgres", "MnemoStore", "MnemoCore"]),
        .testTarget(name: "CLITests", dependencies: ["mnemo", "mnemo-fuzz"]),
        .testTarget(
            name: "MnemoServerTests",
            dependencies: [
                "MnemoServer", "MnemoCore", "MnemoModels", "MnemoStore", "MnemoTools",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "MnemoIngestTests", dependencies: ["MnemoIngest"]),
        .testTarget(name: "MnemoCoreTests", dependencies: ["MnemoCore", "MnemoEvaluation", "MnemoModels", "MnemoStore", "MnemoTools"]),
        .testTarget(name: "MnemoToolsTests", dependencies: ["MnemoTools", "MnemoSQLite", .product(name: "BigInt", package: "BigInt")]),
    ],
    swiftLanguageModes: [.v6]
)
