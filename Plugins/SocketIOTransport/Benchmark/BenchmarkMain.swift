import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOPosix
import NIOWebSocket
import ServiceLifecycle
import SocketIOProtocol
import SocketIOServer
import Synchronization

/// `socketio-fanout-bench [--mode socketio|bare|external] [--clients N] [--symbols S] [--rate R] [--seconds D]
/// [--port P]`: fans a quote stream (S symbols × R quotes/s) out to N WebSocket clients in this process and
/// prints deliveries/s and latency percentiles.
///
/// - `socketio`: this repository's SocketIOServer; every client joins every symbol's room.
/// - `bare`: a plain Hummingbird WebSocket broadcast of the same bytes (the ceiling for this machine).
/// - `external`: Socket.IO clients against a server on `--port` that publishes the stream itself and ends it
///   with a `stop` event carrying `{"published":N,"first":<ns>}` (scripts/bench/python_socketio_server.py).
@main
struct FanOutBenchmarkMain {
    static func main() async throws {
        var parameters = Parameters()
        var arguments = CommandLine.arguments.dropFirst()
        while let argument = arguments.popFirst() {
            let value = arguments.popFirst() ?? ""
            switch argument {
            case "--mode": parameters.mode = value
            case "--clients": parameters.clients = Int(value) ?? parameters.clients
            case "--symbols": parameters.symbols = Int(value) ?? parameters.symbols
            case "--rate": parameters.rate = Int(value) ?? parameters.rate
            case "--seconds": parameters.seconds = Int(value) ?? parameters.seconds
            case "--port": parameters.port = Int(value) ?? parameters.port
            case "--client-threads": parameters.clientThreads = Int(value) ?? parameters.clientThreads
            default: print("unknown argument \(argument)")
            }
        }
        var logger = Logger(label: "fanout-bench")
        logger.logLevel = .critical
        let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: parameters.clientThreads)
        do {
            switch parameters.mode {
            case "socketio":
                try await runSocketIO(parameters, serverGroup: serverGroup, clientGroup: clientGroup, logger: logger)
            case "bare":
                try await runBare(parameters, serverGroup: serverGroup, clientGroup: clientGroup, logger: logger)
            case "external": try await runExternal(parameters, clientGroup: clientGroup, logger: logger)
            default: print("unknown mode \(parameters.mode)")
            }
        } catch {
            print("\(parameters.mode): benchmark failed: \(error)")
        }
        try await clientGroup.shutdownGracefully()
        try await serverGroup.shutdownGracefully()
    }

    static func waitFor(_ counter: Counter, _ target: Int) async throws {
        while counter.value < target { try await Task.sleep(for: .milliseconds(20)) }
    }

    static func runSocketIO(
        _ parameters: Parameters, serverGroup: MultiThreadedEventLoopGroup, clientGroup: MultiThreadedEventLoopGroup,
        logger: Logger
    ) async throws {
        var configuration = SocketIOServerConfiguration()
        configuration.port = 0
        configuration.maxClients = parameters.clients + 10
        configuration.maxRoomsPerClient = parameters.symbols + 10
        let server = SocketIOServer(
            configuration: configuration, delegate: JoinEverything(symbols: parameters.symbols),
            eventLoopGroup: serverGroup, logger: logger
        )
        let services = ServiceGroup(configuration: .init(services: [server], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            let port = try await server.waitUntilListening()
            let connected = Counter()
            let clients = Task {
                try await runClients(
                    port: port, path: "/socket.io/?EIO=4&transport=websocket", parameters: parameters,
                    socketIO: true, group: clientGroup, connected: connected
                )
            }
            try await waitFor(connected, parameters.clients)
            while server.clientCount < parameters.clients { try await Task.sleep(for: .milliseconds(20)) }
            let (first, published) = try await publishStream(parameters) { index, payload in
                _ = try? server.publish(
                    room: "quotes:SYM\(index)", event: "quote", payloadJSON: payload, conflationKey: "SYM\(index)"
                )
            }
            _ = try server.publish(room: "all", event: "stop", payloadJSON: Array("1".utf8))
            let results = try await clients.value
            report("socketio", parameters, published: published, first: first, results: results)
            await services.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    static func runBare(
        _ parameters: Parameters, serverGroup: MultiThreadedEventLoopGroup, clientGroup: MultiThreadedEventLoopGroup,
        logger: Logger
    ) async throws {
        let broadcaster = Broadcaster()
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("/bare") { inbound, outbound, _ in
            let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
            let id = broadcaster.add(continuation)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for try await _ in inbound {} }
                group.addTask {
                    for await buffer in stream {
                        try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: buffer)))
                    }
                }
                try await group.next()
                group.cancelAll()
            }
            broadcaster.remove(id)
        }
        let port = Counter()
        let app = Application(
            router: Router(),
            server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                for _ in 0..<(channel.localAddress?.port ?? 0) { port.increment() }
            },
            eventLoopGroupProvider: .shared(serverGroup), logger: logger
        )
        let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            while port.value == 0 { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(50))
            let connected = Counter()
            let clients = Task {
                try await runClients(
                    port: port.value, path: "/bare", parameters: parameters, socketIO: false, group: clientGroup,
                    connected: connected
                )
            }
            try await waitFor(connected, parameters.clients)
            while broadcaster.count < parameters.clients { try await Task.sleep(for: .milliseconds(20)) }
            let (first, published) = try await publishStream(parameters) { _, payload in
                broadcaster.send(ByteBuffer(bytes: payload))
            }
            broadcaster.send(ByteBuffer(string: "{\"stop\":true}"))
            let results = try await clients.value
            report("bare websocket", parameters, published: published, first: first, results: results)
            await services.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    static func runExternal(
        _ parameters: Parameters, clientGroup: MultiThreadedEventLoopGroup, logger: Logger
    )
        async throws
    {
        let connected = Counter()
        let results = try await runClients(
            port: parameters.port, path: "/socket.io/?EIO=4&transport=websocket", parameters: parameters,
            socketIO: true, group: clientGroup, connected: connected
        )
        let published = results.compactMap(\.published).max() ?? 0
        let first = results.compactMap(\.firstPublish).min() ?? 0
        report("external socket.io", parameters, published: published, first: first, results: results)
    }
}

/// Joins every client to every symbol's room and to `all`.
struct JoinEverything: SocketIOServerDelegate {
    let symbols: Int

    func server(_ server: SocketIOServer, clientConnected client: ConnectedClient) {
        try? server.join(client.id, room: "all")
        for index in 0..<symbols { try? server.join(client.id, room: "quotes:SYM\(index)") }
    }

    func server(_ server: SocketIOServer, clientDisconnected clientID: UInt64, reason: String) {}

    func server(
        _ server: SocketIOServer, client clientID: UInt64, emitted event: String, arguments: EventArguments,
        ackToken: UInt64?
    ) {}

    func server(_ server: SocketIOServer, handle request: ForwardedRequest) async -> ForwardedResponse {
        ForwardedResponse(status: 404)
    }
}

/// The bare baseline: one unbounded stream per connection, the same buffer yielded to each.
final class Broadcaster: Sendable {
    private let streams = Mutex<[Int: AsyncStream<ByteBuffer>.Continuation]>([:])
    private let identifiers = Atomic<Int>(0)

    var count: Int { streams.withLock { $0.count } }

    func add(_ continuation: AsyncStream<ByteBuffer>.Continuation) -> Int {
        let id = identifiers.add(1, ordering: .relaxed).newValue
        streams.withLock { $0[id] = continuation }
        return id
    }

    func remove(_ id: Int) { _ = streams.withLock { $0.removeValue(forKey: id) } }

    func send(_ buffer: ByteBuffer) {
        for continuation in streams.withLock({ Array($0.values) }) { continuation.yield(buffer) }
    }
}
