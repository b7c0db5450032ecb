// swift-tools-version:6.1
import PackageDescription

/// Every plugin library exports exactly one dynamic symbol; this linker version script enforces it.
let pluginLinkerSettings: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "--version-script=\(Context.packageDirectory)/Plugins/plugin.exports"])
]

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "MarketHub",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "markethub", targets: ["MarketHubCLI"]),
        .library(name: "Host", targets: ["Host"]),
        .library(name: "PluginKit", targets: ["PluginKit"]),
        .library(name: "PluginKitNIO", targets: ["PluginKitNIO"]),
        .library(name: "PluginConformance", targets: ["PluginConformance"]),
        .library(name: "MemoryCache", type: .dynamic, targets: ["MemoryCache"]),
        .library(name: "EmbeddedCache", type: .dynamic, targets: ["EmbeddedCache"]),
        .library(name: "MongoCache", type: .dynamic, targets: ["MongoCache"]),
        .library(name: "MarketCalendar", targets: ["MarketCalendar"]),
        .library(name: "RedisClient", targets: ["RedisClient"]),
        .library(name: "RecordedProvider", type: .dynamic, targets: ["RecordedProvider"]),
        .library(name: "SocketIOTransport", type: .dynamic, targets: ["SocketIOTransport"]),
        .executable(name: "socketio-conformance-server", targets: ["SocketIOConformanceServer"]),
        .executable(name: "socketio-fanout-bench", targets: ["SocketIOFanOutBenchmark"]),
        .library(name: "MassiveProvider", type: .dynamic, targets: ["MassiveProvider"]),
        .executable(name: "fake-massive", targets: ["FakeMassiveServer"]),
        .executable(name: "cache-bench", targets: ["CacheBenchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // The C ABI: the only thing host and plugins share.
        .target(name: "PluginAPI", path: "Sources/PluginAPI"),

        // Thin Swift helpers for plugin authors; statically linked into each plugin (no shared state).
        .target(
            name: "PluginKit",
            dependencies: ["PluginAPI", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        // PluginKit's event-loop helper, separate so plugins that do no networking do not link SwiftNIO.
        .target(
            name: "PluginKitNIO",
            dependencies: [
                "PluginKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // The boundary glue every asynchronous cache plugin shares: C vtable, task bridging, validation.
        .target(
            name: "CachePluginKit",
            dependencies: ["PluginAPI", "PluginKit"],
            swiftSettings: swiftSettings
        ),

        // The host: loader, config, plugin wrappers, services. All logic lives here; the CLI is thin.
        .target(
            name: "Host",
            dependencies: [
                "PluginAPI",
                "PluginKit",
                "MarketCalendar",
                "MassiveWire",
                "OptionMath",
                "RedisClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "MarketHubCLI",
            dependencies: [
                "Host",
                "MarketCalendar",
                "MarketSynth",
                "PluginKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // A RESP (Redis) client on SwiftNIO: commands, pub/sub that survives reconnects, a lease. Used by the
        // host's cluster mode (several hosts sharing live fan-out and ingestion through Redis).
        .target(
            name: "RedisClient",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RedisClientTests",
            dependencies: [
                "RedisClient", "Host", "PluginKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // Reusable conformance checks that any plugin must pass (run by the tests against real plugin files).
        .target(
            name: "PluginConformance",
            dependencies: ["Host", "PluginAPI"],
            swiftSettings: swiftSettings
        ),

        // Black-Scholes values, Greeks and implied volatility for the host's option chain (pure).
        .target(name: "OptionMath", swiftSettings: swiftSettings),
        .testTarget(name: "OptionMathTests", dependencies: ["OptionMath"], swiftSettings: swiftSettings),

        // America/New_York session calendar (pure; shared by the host's chart pipeline and replay).
        .target(name: "MarketCalendar", swiftSettings: swiftSettings),

        // The vendor's wire formats: WebSocket frames, REST bodies, OCC tickers (pure; no I/O).
        .target(
            name: "MassiveWire",
            dependencies: ["MarketCalendar", "PluginAPI", "PluginKit"],
            swiftSettings: swiftSettings
        ),

        // Plugins.

        // The system zlib, for gzip-compressed recordings.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),

        // RecordedProvider: the recording format, the synthetic session generator and the replay plugin.
        .target(
            name: "Recording",
            dependencies: ["MassiveWire", "PluginKit", "CZlib"],
            path: "Plugins/RecordedProvider/Recording",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MarketSynth",
            dependencies: ["Recording", "MassiveWire", "MarketCalendar", "PluginKit"],
            path: "Plugins/RecordedProvider/Synth",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ReplayEngine",
            dependencies: [
                "Recording", "MassiveWire", "MarketCalendar", "OptionMath", "PluginAPI", "PluginKit",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Plugins/RecordedProvider/Replay",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RecordedProvider",
            dependencies: [
                "ReplayEngine", "MarketSynth", "Recording", "MassiveWire", "MarketCalendar", "PluginAPI", "PluginKit",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Plugins/RecordedProvider/Plugin",
            swiftSettings: swiftSettings,
            linkerSettings: pluginLinkerSettings
        ),
        .target(
            name: "MemoryCache",
            dependencies: ["PluginAPI", "PluginKit", "CachePluginKit"],
            path: "Plugins/MemoryCache",
            swiftSettings: swiftSettings,
            linkerSettings: pluginLinkerSettings
        ),

        .target(
            name: "EmbeddedCache",
            dependencies: [
                "PluginAPI", "PluginKit", "PluginKitNIO", "CachePluginKit",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Plugins/EmbeddedCache",
            swiftSettings: swiftSettings,
            linkerSettings: pluginLinkerSettings
        ),

        // MongoCache: the system libmongoc (Debian libmongoc-dev), found through pkg-config.
        .systemLibrary(
            name: "CMongoc", path: "Sources/CMongoc", pkgConfig: "libmongoc-1.0", providers: [.apt(["libmongoc-dev"])]
        ),
        .target(
            name: "MongoCache",
            dependencies: [
                "CMongoc", "PluginAPI", "PluginKit", "CachePluginKit",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Plugins/MongoCache",
            exclude: ["README.md"],
            swiftSettings: swiftSettings,
            linkerSettings: pluginLinkerSettings
        ),

        // Prints as-fast-as-possible replay throughput: `swift run -c release ReplayBenchmark`.
        .executableTarget(
            name: "ReplayBenchmark",
            dependencies: [
                "ReplayEngine", "MarketSynth", "Recording", "MassiveWire", "MarketCalendar", "PluginKit",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/ReplayBenchmark",
            swiftSettings: swiftSettings
        ),

        // Bulk upsert and range-read throughput of every cache plugin: `scripts/bench-cache.sh`.
        .executableTarget(
            name: "CacheBenchmark",
            dependencies: ["Host", "PluginKit", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/CacheBenchmark",
            swiftSettings: swiftSettings
        ),

        // Prints quote-router throughput (quotes/s routed to rooms on one core): `swift run -c release RouterBenchmark`.
        .executableTarget(
            name: "RouterBenchmark",
            dependencies: ["Host", "PluginKit", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/RouterBenchmark",
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),

        // Prints candle folding throughput: `swift run -c release ChartBenchmark` (scripts/bench-chart.sh).
        .executableTarget(
            name: "ChartBenchmark",
            dependencies: ["Host", "MarketCalendar", "PluginKit"],
            path: "Benchmarks/ChartBenchmark",
            swiftSettings: swiftSettings
        ),

        .testTarget(name: "MarketCalendarTests", dependencies: ["MarketCalendar"], swiftSettings: swiftSettings),
        .testTarget(
            name: "MassiveWireTests",
            dependencies: ["MassiveWire", "MarketCalendar", "PluginKit"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RecordedProviderTests",
            dependencies: [
                "Recording", "ReplayEngine", "MarketSynth", "MassiveWire", "MarketCalendar", "PluginAPI", "PluginKit",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // SocketIOTransport: Engine.IO v4 / Socket.IO v5 on Hummingbird, split into a pure codec, the server and
        // the plugin boundary.
        .target(
            name: "SocketIOProtocol",
            path: "Plugins/SocketIOTransport/Protocol",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SocketIOServer",
            dependencies: [
                "SocketIOProtocol",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Plugins/SocketIOTransport/Server",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SocketIOTransport",
            dependencies: [
                "PluginAPI",
                "PluginKit",
                "SocketIOProtocol",
                "SocketIOServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Plugins/SocketIOTransport/Plugin",
            swiftSettings: swiftSettings,
            linkerSettings: pluginLinkerSettings
        ),
        .executableTarget(
            name: "SocketIOConformanceServer",
            dependencies: [
                "SocketIOProtocol",
                "SocketIOServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Plugins/SocketIOTransport/ConformanceServer",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SocketIOFanOutBenchmark",
            dependencies: [
                "SocketIOProtocol",
                "SocketIOServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Plugins/SocketIOTransport/Benchmark",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SocketIOTests",
            dependencies: [
                "PluginAPI",
                "PluginKit",
                "SocketIOProtocol",
                "SocketIOServer",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MassiveProvider: the vendor's REST and WebSocket clients, the provider plugin, and a fake vendor server.
        .target(
            name: "MassiveClient",
            dependencies: [
                "MassiveWire", "Recording", "ReplayEngine", "MarketCalendar", "PluginKit", "PluginAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Plugins/MassiveProvider/Client",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MassiveProvider",
            dependencies: [
                "MassiveClient", "MassiveWire", "Recording", "ReplayEngine", "PluginAPI", "PluginKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Plugins/MassiveProvider/Plugin",
            swiftSettings: swiftSettings,
            linkerSettings: pluginLinkerSettings
        ),
        .target(
            name: "FakeMassive",
            dependencies: [
                "MassiveWire", "MarketSynth", "Recording", "MarketCalendar", "PluginKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Plugins/MassiveProvider/Fake",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FakeMassiveServer",
            dependencies: [
                "FakeMassive",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Plugins/MassiveProvider/FakeServer",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MassiveProviderTests",
            dependencies: [
                "MassiveClient", "FakeMassive", "MassiveWire", "Recording", "ReplayEngine", "MarketSynth", "Host",
                "PluginAPI", "PluginKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),

        .testTarget(
            name: "HostTests",
            dependencies: [
                "Host", "PluginAPI", "PluginKit", "PluginKitNIO", "PluginConformance", "MassiveWire",
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
