import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SocketIOProtocol
import SocketIOServer
import Synchronization
import Testing

/// Something a test delegate observed.
enum Observed: Sendable, Equatable {
    case connected(UInt64, namespace: String, auth: JSONValue)
    case disconnected(UInt64, reason: String)
    case event(UInt64, name: String, arguments: [JSONValue])
    case request(method: String, path: String, query: String, body: String, subject: String)
}

/// A delegate that records everything and behaves like the conformance server (greets with `auth`, echoes
/// `message` as `message-back`, acks `message-with-ack`), and answers forwarded requests with a JSON echo
/// numbered in arrival order (`n`); a `cc` query parameter becomes the answer's `Cache-Control`.
final class RecordingDelegate: SocketIOServerDelegate {
    let stream: AsyncStream<Observed>
    private let continuation: AsyncStream<Observed>.Continuation
    /// Forwarded requests answered so far.
    let requests = Atomic<Int>(0)

    init() { (stream, continuation) = AsyncStream<Observed>.makeStream() }

    func server(_ server: SocketIOServer, clientConnected client: ConnectedClient) {
        continuation.yield(.connected(client.id, namespace: client.namespace, auth: client.auth))
        try? server.send(to: client.id, event: "auth", arguments: [client.auth])
    }

    func server(_ server: SocketIOServer, clientDisconnected clientID: UInt64, reason: String) {
        continuation.yield(.disconnected(clientID, reason: reason))
    }

    func server(
        _ server: SocketIOServer, client clientID: UInt64, emitted event: String, arguments: EventArguments,
        ackToken: UInt64?
    ) {
        continuation.yield(.event(clientID, name: event, arguments: arguments.values))
        switch event {
        case "message":
            try? server.send(
                to: clientID, event: "message-back", arguments: arguments.values, attachments: arguments.attachments
            )
        case "message-with-ack":
            if let ackToken {
                try? server.ack(ackToken, arguments: arguments.values, attachments: arguments.attachments)
            }
        case "join":
            if let room = arguments.values.first?.stringValue { try? server.join(clientID, room: room) }
            if let ackToken { try? server.ack(ackToken, arguments: []) }
        default:
            break
        }
    }

    func server(_ server: SocketIOServer, handle request: ForwardedRequest) async -> ForwardedResponse {
        continuation.yield(
            .request(
                method: request.method, path: request.path, query: request.query,
                body: String(decoding: request.body, as: UTF8.self), subject: request.authSubject
            )
        )
        let number = requests.add(1, ordering: .relaxed).newValue
        let body = JSONValue.object([
            JSONMember("path", .string(request.path)), JSONMember("method", .string(request.method)),
            JSONMember("n", .number(String(number))),
        ])
        var headers = [(name: "Content-Type", value: "application/json")]
        for item in request.query.split(separator: "&") where item.hasPrefix("cc=") {
            headers.append(("Cache-Control", item.dropFirst(3).split(separator: "%20").joined(separator: " ")))
        }
        return ForwardedResponse(status: 200, headers: headers, body: body.jsonBytes)
    }

    /// The next observation matching `predicate`, failing after `timeout`.
    func next(
        timeout: Duration = .seconds(5), where predicate: @escaping @Sendable (Observed) -> Bool = { _ in true }
    ) async throws -> Observed {
        try await withThrowingTaskGroup(of: Observed?.self) { group in
            group.addTask { [stream] in
                for await item in stream where predicate(item) { return item }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let item = first else {
                throw TestFailure("timed out waiting for an observation")
            }
            return item
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Test defaults (free port; heartbeats slow enough that a busy machine cannot time a test client out, tests of
/// the heartbeat itself shorten them) with `configure` applied.
func config(_ configure: (inout SocketIOServerConfiguration) -> Void) -> SocketIOServerConfiguration {
    var configuration = SocketIOServerConfiguration()
    configuration.port = 0
    configuration.pingInterval = 5_000
    configuration.pingTimeout = 5_000
    configuration.connectTimeout = 1_000
    configure(&configuration)
    return configuration
}

/// Runs a real server on 127.0.0.1 with a free port for the duration of `body`.
func withServer(
    _ configuration: SocketIOServerConfiguration = config { _ in },
    _ body: (SocketIOServer, Int, RecordingDelegate) async throws -> Void
) async throws {
    try configuration.validate()
    let delegate = RecordingDelegate()
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var logger = Logger(label: "socketio-test")
    logger.logLevel = .critical
    let server = SocketIOServer(configuration: configuration, delegate: delegate, eventLoopGroup: group, logger: logger)
    let services = ServiceGroup(configuration: .init(services: [server], logger: logger))
    do {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            let port = try await server.waitUntilListening()
            try await body(server, port, delegate)
            await services.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
    try await group.shutdownGracefully()
}

/// One HTTP request on a fresh connection.
func http(
    _ port: Int, _ method: HTTPRequest.Method, _ uri: String, body: String? = nil, headers: HTTPFields = [:]
) async throws -> (status: Int, headers: HTTPFields, body: String) {
    let client = TestClient(
        host: "127.0.0.1", port: port, eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton))
    client.connect()
    do {
        let response = try await client.execute(
            TestClient.Request(uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        )
        try await client.shutdown()
        return (response.status.code, response.headers, response.body.map { String(buffer: $0) } ?? "")
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// Opens an Engine.IO polling session and returns its sid.
func pollingHandshake(_ port: Int, path: String = "/socket.io/") async throws -> String {
    let response = try await http(port, .get, "\(path)?EIO=4&transport=polling")
    #expect(response.status == 200)
    #expect(response.body.hasPrefix("0{"))
    let open = try JSONValue.parse(String(response.body.dropFirst()))
    return try #require(open["sid"]?.stringValue)
}
