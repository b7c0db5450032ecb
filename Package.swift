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
        .library(name: "PluginConformance", targets: ["PluginConformance"]),
        .library(name: "MemoryCache", type: .dynamic, targets: ["MemoryCache"]),
        .library(name: "SocketIOTransport", type: .dynamic, targets: ["SocketIOTransport"]),
        .executable(name: "socketio-conformance-server", targets: ["SocketIOConformanceServer"]),
        .executable(name: "socketio-fanout-bench", targets: ["SocketIOFanOutBenchmark"]),
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

        // The host: loader, config, plugin wrappers, services. All logic lives here; the CLI is thin.
        .target(
            name: "Host",
            dependencies: [
                "PluginAPI",
                "PluginKit",
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
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // Reusable conformance checks that any plugin must pass (run by the tests against real plugin files).
        .target(
            name: "PluginConformance",
            dependencies: ["Host", "PluginAPI"],
            swiftSettings: swiftSettings
        ),

        // Plugins.
        .target(
            name: "MemoryCache",
            dependencies: ["PluginAPI", "PluginKit"],
            path: "Plugins/MemoryCache",
            swiftSettings: swiftSettings,
            linkerSettings: pluginLinkerSettings
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

        .testTarget(
            name: "HostTests",
            dependencies: ["Host", "PluginAPI", "PluginKit", "PluginConformance"],
            swiftSettings: swiftSettings
        ),
    ]
)
