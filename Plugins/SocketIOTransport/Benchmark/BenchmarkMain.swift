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

#if canImport(Glibc)
    import Glibc
#endif

/// `socketio-fanout-bench [--mode socketio|socketio-frames|bare|bare-frames|external] [--clients N] [--symbols S]
/// [--rate R] [--seconds D] [--port P]`: fans a quote stream (S symbols × R quotes/s) out to N WebSocket clients
/// in this process and prints deliveries/s, latency percentiles and the CPU time of the server and client
/// threads.
///
/// - `socketio`: this repository's SocketIOServer; every client joins every symbol's room.
/// - `socketio-frames`: the same with the server writing frame by frame (one flush each), as it did before
///   batched writes, to measure the difference in one run.
/// - `bare`: a plain WebSocket broadcast of the same bytes on the same Hummingbird server, frames gathered per
///   connection and flushed once per event-loop turn (the ceiling for this machine).
/// - `bare-frames`: the bare broadcast written frame by frame through Hummingbird's outbound writer.
/// - `http-bare --file F --port P --seconds D`: no fan-out; serves `GET /bare` with F's bytes, read once into
///   memory, from a Hummingbird server set up like the transport's (two event-loop threads, same server name),
///   for D seconds. The REST benchmark (Benchmarks/run.sh P3) compares host routes against it.
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
            case "--server-pid": parameters.serverPID = Int(value) ?? parameters.serverPID
            case "--emit": parameters.emits.append(value)
            case "--file": parameters.file = value
            default: print("unknown argument \(argument)")
            }
        }
        var logger = Logger(label: "fanout-bench")
        logger.logLevel = .critical
        let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: parameters.clientThreads)
        do {
            switch parameters.mode {
            case "socketio", "socketio-frames":
                try await runSocketIO(parameters, serverGroup: serverGroup, clientGroup: clientGroup, logger: logger)
            case "bare", "bare-frames":
                try await runBare(parameters, serverGroup: serverGroup, clientGroup: clientGroup, logger: logger)
            case "external": try await runExternal(parameters, clientGroup: clientGroup, logger: logger)
            case "clients": try await runConnectedClients(parameters, clientGroup: clientGroup)
            case "http-bare": try await runHTTPBare(parameters, logger: logger)
            default: print("unknown mode \(parameters.mode)")
            }
        } catch {
            print("\(parameters.mode): benchmark failed: \(error)")
        }
        try await clientGroup.shutdownGracefully()
        try await serverGroup.shutdownGracefully()
    }

    /// Serves one in-memory body on `GET /bare` until `seconds` have passed.
    static func runHTTPBare(_ parameters: Parameters, logger: Logger) async throws {
        let bytes = try readFile(parameters.file)
        let body = ByteBuffer(bytes: bytes)
        let router = Router()
        router.get("/bare") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: body))
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let application = Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname("127.0.0.1", port: parameters.port), serverName: "MarketHub"),
            onServerRunning: { channel in print("http-bare listening on \(channel.localAddress?.port ?? 0)") },
            eventLoopGroupProvider: .shared(group), logger: logger
        )
        await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await application.runService(gracefulShutdownSignals: []) }
            tasks.addTask {
                try await Task.sleep(for: .seconds(parameters.seconds))
                throw CancellationError()
            }
            _ = try? await tasks.next()
            tasks.cancelAll()
        }
        try await group.shutdownGracefully()
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        guard let handle = fopen(path, "rb") else { throw BenchmarkError("cannot open \(path)") }
        defer { fclose(handle) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&chunk, 1, chunk.count, handle)
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        return bytes
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
        configuration.coalesceWebSocketWrites = parameters.mode == "socketio"
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
            let meter = try await CPUMeter(clients: clientGroup, serverPID: nil)
            let (first, published) = try await publishStream(parameters) { index, payload in
                _ = try? server.publish(
                    room: "quotes:SYM\(index)", event: "quote", payloadJSON: payload, conflationKey: "SYM\(index)"
                )
            }
            _ = try server.publish(room: "all", event: "stop", payloadJSON: Array("1".utf8))
            let results = try await clients.value
            report(parameters.mode, parameters, published: published, first: first, results: results, cpu: meter.read())
            await services.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    static func runBare(
        _ parameters: Parameters, serverGroup: MultiThreadedEventLoopGroup, clientGroup: MultiThreadedEventLoopGroup,
        logger: Logger
    ) async throws {
        let broadcaster = Broadcaster()
        let coalesce = parameters.mode == "bare"
        let port = Counter()
        let app = Application(
            router: Router(),
            server: .http1WebSocketUpgrade { _, channel, _ in
                .upgrade([:]) { inbound, outbound, _ in
                    let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
                    let connection = BareConnection(channel: channel, frames: coalesce ? nil : continuation)
                    let id = broadcaster.add(connection)
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask { do { for try await _ in inbound {} } catch {} }
                        group.addTask {
                            for await buffer in stream {
                                try? await outbound.write(
                                    .custom(WebSocketFrame(fin: true, opcode: .text, data: buffer)))
                            }
                        }
                        await group.next()
                        group.cancelAll()
                    }
                    broadcaster.remove(id)
                    continuation.finish()
                }
            },
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
            let meter = try await CPUMeter(clients: clientGroup, serverPID: nil)
            let (first, published) = try await publishStream(parameters) { _, payload in
                broadcaster.send(ByteBuffer(bytes: payload))
            }
            broadcaster.send(ByteBuffer(string: "{\"stop\":true}"))
            let results = try await clients.value
            report(parameters.mode, parameters, published: published, first: first, results: results, cpu: meter.read())
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
        let meter = try await CPUMeter(clients: clientGroup, serverPID: parameters.serverPID)
        let results = try await runClients(
            port: parameters.port, path: "/socket.io/?EIO=4&transport=websocket", parameters: parameters,
            socketIO: true, group: clientGroup, connected: connected
        )
        let published = results.compactMap(\.published).max() ?? 0
        let first = results.compactMap(\.firstPublish).min() ?? 0
        report(
            "external socket.io", parameters, published: published, first: first, results: results, cpu: meter.read())
    }
}

extension FanOutBenchmarkMain {
    /// `clients` mode: connects `--clients` Socket.IO clients to a server on `--port`, has each send its
    /// `--emit` packets, prints `connected N` once all are in, keeps them for `--seconds`, then prints how many
    /// frames they received and closes them. Used for memory per idle client, subscription de-duplication and
    /// the drift run.
    static func runConnectedClients(_ parameters: Parameters, clientGroup: MultiThreadedEventLoopGroup) async throws {
        let connected = Counter()
        let channels = ChannelRegistry()
        var futures: [EventLoopFuture<ClientResult>] = []
        for _ in 0..<parameters.clients {
            futures.append(
                RawWebSocketClient.run(
                    host: "127.0.0.1", port: parameters.port, path: "/socket.io/?EIO=4&transport=websocket",
                    socketIO: true, group: clientGroup, connected: connected, emits: parameters.emits,
                    channels: channels
                )
            )
            // Pace the handshakes a little so a small listen backlog is not overrun.
            if futures.count % 100 == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        let deadline = ContinuousClock.now + .seconds(120)
        while connected.value < parameters.clients, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        print("connected \(connected.value)")
        fflush(nil)
        try await Task.sleep(for: .seconds(parameters.seconds))
        channels.closeAll()
        var frames = 0
        for future in futures { frames += (try? await future.get())?.frames ?? 0 }
        print("clients: connected=\(connected.value) frames=\(frames)")
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

/// One bare-baseline connection: either frames gathered and flushed once per event-loop turn, or (with
/// `frames`) an unbounded stream the connection's task writes frame by frame through Hummingbird.
final class BareConnection: Sendable {
    let channel: any Channel
    let frames: AsyncStream<ByteBuffer>.Continuation?
    private let pending = Mutex<(buffers: [ByteBuffer], scheduled: Bool)>(([], false))

    init(channel: any Channel, frames: AsyncStream<ByteBuffer>.Continuation?) {
        self.channel = channel
        self.frames = frames
    }

    func send(_ buffer: ByteBuffer) {
        if let frames {
            frames.yield(buffer)
            return
        }
        let schedule = pending.withLock { state -> Bool in
            state.buffers.append(buffer)
            defer { state.scheduled = true }
            return !state.scheduled
        }
        guard schedule else { return }
        channel.eventLoop.execute {
            let buffers = self.pending.withLock { state in
                state.scheduled = false
                defer { state.buffers = [] }
                return state.buffers
            }
            let pipeline = self.channel.pipeline.syncOperations
            for buffer in buffers {
                pipeline.write(NIOAny(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
            }
            pipeline.flush()
        }
    }
}

/// The bare baseline's connections; the same buffer goes to each.
final class Broadcaster: Sendable {
    private let connections = Mutex<[Int: BareConnection]>([:])
    private let identifiers = Atomic<Int>(0)

    var count: Int { connections.withLock { $0.count } }

    func add(_ connection: BareConnection) -> Int {
        let id = identifiers.add(1, ordering: .relaxed).newValue
        connections.withLock { $0[id] = connection }
        return id
    }

    func remove(_ id: Int) { _ = connections.withLock { $0.removeValue(forKey: id) } }

    func send(_ buffer: ByteBuffer) {
        for connection in connections.withLock({ Array($0.values) }) { connection.send(buffer) }
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
