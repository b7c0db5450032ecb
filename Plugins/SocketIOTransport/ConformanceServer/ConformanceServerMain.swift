import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SocketIOServer
import UnixSignals

/// `socketio-conformance-server [--port N] [--host H]`: the transport configured the way the official
/// Engine.IO and Socket.IO protocol suites expect (echo on `/engine.io/`, Socket.IO on `/socket.io/` with a
/// `/custom` namespace, pingInterval 300 ms, pingTimeout 200 ms, connect timeout 1 s, port 3000).
@main
struct ConformanceServerMain {
    static func main() async {
        var configuration = SocketIOServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 3_000
        configuration.path = "/socket.io/"
        configuration.echoPath = "/engine.io/"
        configuration.pingInterval = 300
        configuration.pingTimeout = 200
        configuration.maxPayload = 1_000_000
        configuration.connectTimeout = 1_000
        configuration.namespaces = ["/", "/custom"]
        configuration.eventsPerSecond = 10_000
        configuration.eventBurst = 10_000

        var arguments = CommandLine.arguments.dropFirst()
        while let argument = arguments.popFirst() {
            switch argument {
            case "--port":
                guard let value = arguments.popFirst().flatMap(Int.init) else { return usage("--port needs a number") }
                configuration.port = value
            case "--host":
                guard let value = arguments.popFirst() else { return usage("--host needs a value") }
                configuration.host = value
            case "--token":
                guard let value = arguments.popFirst() else { return usage("--token needs a value") }
                configuration.token = value
            default:
                return usage("unknown argument \(argument)")
            }
        }
        do {
            try configuration.validate()
        } catch {
            return usage(error.message)
        }

        var logger = Logger(label: "socketio-conformance-server")
        logger.logLevel = .info
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let server = SocketIOServer(
            configuration: configuration, delegate: ConformanceDelegate(), eventLoopGroup: group, logger: logger
        )
        let services = ServiceGroup(
            configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        let host = configuration.host
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await services.run() }
                tasks.addTask {
                    let port = try await server.waitUntilListening()
                    // The interop tests wait for this line.
                    printFlushed("listening on \(host):\(port)")
                }
                try await tasks.waitForAll()
            }
        } catch {
            logger.error("server failed", metadata: ["error": "\(error)"])
            try? await group.shutdownGracefully()
            exitProcess(1)
        }
        try? await group.shutdownGracefully()
    }

    static func usage(_ message: String) {
        print("error: \(message)\nusage: socketio-conformance-server [--host H] [--port N] [--token T]")
        exitProcess(2)
    }
}
