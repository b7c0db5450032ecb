import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SocketIOProtocol
import Synchronization

/// An Engine.IO v4 / Socket.IO v5 server on Hummingbird, plus the HTTP routes MarketHub needs (forwarded REST,
/// static files). Run it as a `Service`; talk to clients through `publish`, `send`, `join`, `leave`,
/// `disconnect` and `ack`; hear from them through the `SocketIOServerDelegate`.
///
/// ```swift
/// let server = SocketIOServer(configuration: config, delegate: myDelegate, eventLoopGroup: group, logger: logger)
/// try await ServiceGroup(services: [server], logger: logger).run()
/// ```
///
/// ### Threading
/// Every public method is thread-safe and non-blocking. Registries sit behind one mutex, each client's outbound
/// queue behind its own; delegate callbacks are made with no lock held.
public final class SocketIOServer: Service, Sendable {
    public let configuration: SocketIOServerConfiguration
    let delegate: any SocketIOServerDelegate
    let clock: ServerClock
    let logger: Logger
    let eventLoopGroup: any EventLoopGroup

    struct ClientRecord {
        let id: UInt64
        let namespace: String
        let session: EngineSession
        var rooms: Set<String> = []
        var bucket: TokenBucket
    }

    struct PendingAck {
        let clientID: UInt64
        let namespace: String
        let ackID: UInt64
        let session: EngineSession
    }

    struct Registry {
        var sessions: [String: EngineSession] = [:]
        var clients: [UInt64: ClientRecord] = [:]
        /// namespace → room → members.
        var rooms: [String: [String: [UInt64: EngineSession]]] = [:]
        var acks: [UInt64: PendingAck] = [:]
        var stopping = false
    }

    struct ListenState {
        var port: Int?
        var failure: String?
        var waiters: [CheckedContinuation<Int, any Error>] = []
    }

    let registry = Mutex(Registry())
    let counters = StatisticsCounters()
    let responseCache: SharedResponseCache
    private let identifiers = Atomic<UInt64>(0)
    private let listenState = Mutex(ListenState())

    var pingIntervalNanoseconds: Int64 { Int64(configuration.pingInterval) * 1_000_000 }
    var pingTimeoutNanoseconds: Int64 { Int64(configuration.pingTimeout) * 1_000_000 }

    /// - Parameters:
    ///   - configuration: validated options (call `validate()` first for a readable error).
    ///   - delegate: receives client lifecycle, events and forwarded HTTP requests.
    ///   - clock: monotonic time for heartbeats, timeouts and rate limits.
    ///   - eventLoopGroup: the NIO group to serve on (a plugin passes its own, never the singleton).
    ///   - logger: where the server logs (info level or below).
    public init(
        configuration: SocketIOServerConfiguration, delegate: any SocketIOServerDelegate, clock: ServerClock = .system,
        eventLoopGroup: any EventLoopGroup, logger: Logger
    ) {
        self.configuration = configuration
        self.delegate = delegate
        self.clock = clock
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        responseCache = SharedResponseCache(
            maximumEntries: configuration.responseCacheEntries, maximumBytes: configuration.responseCacheBytes,
            maximumAgeMilliseconds: configuration.responseCacheMaxAge)
    }

    // MARK: - Service

    /// Serves until graceful shutdown or cancellation, then disconnects every client.
    public func run() async throws {
        let threadPool = NIOThreadPool(numberOfThreads: 1)
        threadPool.start()
        let made = Result { try makeApplication(threadPool: threadPool) }
        if case .failure(let error) = made {
            try? await threadPool.shutdownGracefully()
            failListening("\(error)")
            throw error
        }
        let application = try made.get()
        var failure: (any Error)?
        do {
            // Long-lived connections (WebSockets, pending polls) would hold up the HTTP server's graceful
            // shutdown, so every session is closed as soon as shutdown begins.
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await application.run() }
                    group.addTask { await self.runHeartbeats() }
                    // The application returns on graceful shutdown; the heartbeat loop then has nothing to serve.
                    try await group.next()
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                self.shutDownSessions()
            }
        } catch {
            failure = error
        }
        shutDownSessions()
        try? await threadPool.shutdownGracefully()
        failListening(failure.map { "\($0)" } ?? "server stopped")
        if let failure { throw failure }
    }

    /// Waits until the listener is bound and returns its port (useful with port 0).
    public func waitUntilListening() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<Int, any Error>? = listenState.withLock { state in
                if let port = state.port { return .success(port) }
                if let failure = state.failure { return .failure(SocketIOServerError(.unavailable, failure)) }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    func didStartListening(port: Int) {
        let waiters = listenState.withLock { state in
            state.port = port
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    private func failListening(_ message: String) {
        let waiters = listenState.withLock { state in
            if state.port == nil && state.failure == nil { state.failure = message }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(throwing: SocketIOServerError(.unavailable, message)) }
    }

    private func runHeartbeats() async {
        let tick = max(5, min(configuration.pingInterval, configuration.pingTimeout) / 10)
        while !Task.isCancelled {
            do { try await Task.sleep(for: .milliseconds(tick)) } catch { return }
            let now = clock.now()
            let sessions = registry.withLock { Array($0.sessions.values) }
            for session in sessions {
                switch session.tick(
                    now: now, pingInterval: pingIntervalNanoseconds, pingTimeout: pingTimeoutNanoseconds)
                {
                case .none:
                    if session.queue.isOverdue(now: now) {
                        counters.add(.slowConsumerDisconnects)
                        closeSession(session, reason: "slow consumer: outbound queue stayed over its limit")
                    }
                case .sendPing:
                    // Ahead of any backlog: the client's ping timeout must not count the data queued before it.
                    enqueue(OutboundMessage(.text("2")), to: session, urgent: true)
                case .close(let reason):
                    closeSession(session, reason: reason)
                }
            }
        }
    }

    private func shutDownSessions() {
        let sessions = registry.withLock { registry in
            registry.stopping = true
            return Array(registry.sessions.values)
        }
        // A noop (not a close packet) ends pending polls, so clients treat the shutdown as a lost connection and
        // reconnect when the server is back, as they do when a WebSocket simply closes.
        for session in sessions { closeSession(session, reason: "server shutting down", final: .text("6")) }
    }

    // MARK: - Public API

    /// The number of connected Socket.IO clients (namespace connections).
    public var clientCount: Int { registry.withLock { $0.clients.count } }

    /// The number of open Engine.IO sessions.
    public var sessionCount: Int { registry.withLock { $0.sessions.count } }

    /// A snapshot of the server's counters and gauges.
    public var statistics: SocketIOServerStatistics {
        let (clients, sessions) = registry.withLock { ($0.clients.count, $0.sessions.count) }
        return SocketIOServerStatistics(
            clients: clients, sessions: sessions, messagesQueued: counters.load(.messagesQueued),
            messagesConflated: counters.load(.messagesConflated),
            slowConsumerDisconnects: counters.load(.slowConsumerDisconnects),
            eventsRateLimited: counters.load(.eventsRateLimited), protocolErrors: counters.load(.protocolErrors),
            httpCacheHits: responseCache.hits
        )
    }

    /// Sends `event` with one JSON argument to every member of `room`. The frame is encoded once and the same
    /// bytes are queued for every member. With a `conflationKey`, a member's unsent message with the same key
    /// is replaced. Returns the number of members.
    @discardableResult
    public func publish(
        room: String, event: String, payloadJSON: [UInt8], conflationKey: String? = nil, namespace: String = "/"
    ) throws(SocketIOServerError) -> Int {
        let payload = try parseJSON(payloadJSON, what: "payload")
        let message = encode(SocketIOPacket.event(event, [payload], namespace: namespace))
        let members = registry.withLock { registry in
            registry.rooms[namespace]?[room].map { Array($0.values) } ?? []
        }
        let key = conflationKey.flatMap { $0.isEmpty ? nil : "\(namespace)\u{0}\($0)" }
        for session in members { enqueue(message, to: session, key: key) }
        return members.count
    }

    /// Sends `event` to one client with `arguments` (binary data as placeholders into `attachments`).
    public func send(
        to clientID: UInt64, event: String, arguments: [JSONValue], attachments: [[UInt8]] = []
    ) throws(SocketIOServerError) {
        let (session, namespace) = try lookUp(clientID)
        enqueue(encode(.event(event, arguments, namespace: namespace, attachments: attachments)), to: session)
    }

    /// Sends `event` to one client with a single JSON argument given as text.
    public func send(to clientID: UInt64, event: String, payloadJSON: [UInt8]) throws(SocketIOServerError) {
        try send(to: clientID, event: event, arguments: [try parseJSON(payloadJSON, what: "payload")])
    }

    /// Adds a client to a room of its namespace.
    public func join(_ clientID: UInt64, room: String) throws(SocketIOServerError) {
        let limit = configuration.maxRoomsPerClient
        let result: SocketIOServerError? = registry.withLock { registry in
            guard var client = registry.clients[clientID] else {
                return SocketIOServerError(.notFound, "no client \(clientID)")
            }
            if client.rooms.contains(room) { return nil }
            guard client.rooms.count < limit else {
                return SocketIOServerError(.limitExceeded, "client \(clientID) is already in \(limit) rooms")
            }
            client.rooms.insert(room)
            registry.clients[clientID] = client
            registry.rooms[client.namespace, default: [:]][room, default: [:]][clientID] = client.session
            return nil
        }
        if let result { throw result }
    }

    /// Removes a client from a room.
    public func leave(_ clientID: UInt64, room: String) throws(SocketIOServerError) {
        let found = registry.withLock { registry -> Bool in
            guard var client = registry.clients[clientID] else { return false }
            client.rooms.remove(room)
            registry.clients[clientID] = client
            Self.removeMember(clientID, namespace: client.namespace, room: room, from: &registry)
            return true
        }
        if !found { throw SocketIOServerError(.notFound, "no client \(clientID)") }
    }

    /// The rooms a client is in.
    public func rooms(of clientID: UInt64) -> Set<String> {
        registry.withLock { $0.clients[clientID]?.rooms ?? [] }
    }

    /// Disconnects a client from its namespace (sends DISCONNECT). The delegate hears `reason`.
    public func disconnect(_ clientID: UInt64, reason: String) throws(SocketIOServerError) {
        let removed = registry.withLock { Self.removeClient(clientID, from: &$0) }
        guard let removed else { throw SocketIOServerError(.notFound, "no client \(clientID)") }
        let remaining = removed.session.state.withLock { state in
            state.sockets.removeValue(forKey: removed.namespace)
            return state.sockets.count
        }
        enqueue(encode(SocketIOPacket(.disconnect, namespace: removed.namespace)), to: removed.session)
        if remaining == 0 {
            // The client closes the connection when it gets the DISCONNECT; one that neither does so nor connects
            // again is closed by the connect timeout.
            let deadline = clock.now() + Int64(configuration.connectTimeout) * 1_000_000
            removed.session.state.withLock { $0.connectDeadline = deadline }
        }
        delegate.server(self, clientDisconnected: clientID, reason: reason)
    }

    /// Answers a client event that asked for an acknowledgement. `arguments` is the ack's argument list.
    public func ack(_ token: UInt64, arguments: [JSONValue], attachments: [[UInt8]] = []) throws(SocketIOServerError) {
        guard let pending = registry.withLock({ $0.acks.removeValue(forKey: token) }) else {
            throw SocketIOServerError(.notFound, "no pending acknowledgement \(token)")
        }
        let packet = SocketIOPacket(
            attachments.isEmpty ? .ack : .binaryAck, namespace: pending.namespace, ackId: pending.ackID,
            data: .array(arguments), attachments: attachments
        )
        enqueue(encode(packet), to: pending.session)
    }

    /// Answers an acknowledgement with a JSON array given as text.
    public func ack(_ token: UInt64, argumentsJSON: [UInt8]) throws(SocketIOServerError) {
        guard case .array(let arguments) = try parseJSON(argumentsJSON, what: "ack arguments") else {
            throw SocketIOServerError(.invalid, "ack arguments must be a JSON array")
        }
        try ack(token, arguments: arguments)
    }

    // MARK: - Internals shared by the transports

    func makeIdentifier() -> UInt64 { identifiers.add(1, ordering: .relaxed).newValue }

    private func parseJSON(_ bytes: [UInt8], what: String) throws(SocketIOServerError) -> JSONValue {
        do {
            return try JSONValue.parse(bytes)
        } catch {
            throw SocketIOServerError(.invalid, "\(what) is not valid JSON: \(error.message)")
        }
    }

    private func lookUp(_ clientID: UInt64) throws(SocketIOServerError) -> (EngineSession, String) {
        guard let client = registry.withLock({ $0.clients[clientID] }) else {
            throw SocketIOServerError(.notFound, "no client \(clientID)")
        }
        return (client.session, client.namespace)
    }

    /// Encodes a Socket.IO packet as the Engine.IO message frames that carry it.
    func encode(_ packet: SocketIOPacket) -> OutboundMessage {
        let text = packet.encodedText()
        var buffer = ByteBuffer()
        buffer.reserveCapacity(text.count + 1)
        buffer.writeInteger(EnginePacketType.message.character)
        buffer.writeBytes(text)
        var frames = [OutboundFrame.text(buffer)]
        for attachment in packet.attachments { frames.append(.binary(ByteBuffer(bytes: attachment))) }
        return OutboundMessage(frames: frames)
    }

    func enqueue(_ message: OutboundMessage, to session: EngineSession, key: String? = nil, urgent: Bool = false) {
        switch session.queue.enqueue(message, key: key, urgent: urgent, now: clock.now()) {
        case .queued: counters.add(.messagesQueued)
        case .conflated: counters.add(.messagesConflated)
        case .overflow:
            counters.add(.slowConsumerDisconnects)
            closeSession(session, reason: "slow consumer: outbound queue overflow")
        case .closed: break
        }
    }

    /// Creates and registers a session, or returns nil when the server is full or stopping.
    func openSession(transport: EngineSession.Transport, remoteAddress: String, echo: Bool) -> EngineSession? {
        let session = EngineSession(
            sid: Self.randomID(), echo: echo, transport: transport, remoteAddress: remoteAddress,
            queue: OutboundQueue(
                limit: configuration.maxQueuedMessages,
                graceNanoseconds: Int64(configuration.slowClientGrace) * 1_000_000
            ),
            now: clock.now(), pingInterval: pingIntervalNanoseconds,
            connectTimeout: Int64(configuration.connectTimeout) * 1_000_000
        )
        let limit = configuration.maxClients
        let accepted = registry.withLock { registry -> Bool in
            guard !registry.stopping, registry.sessions.count < limit else { return false }
            registry.sessions[session.sid] = session
            return true
        }
        return accepted ? session : nil
    }

    func session(_ sid: String) -> EngineSession? { registry.withLock { $0.sessions[sid] } }

    /// The handshake packet for a new session.
    func handshake(for session: EngineSession, upgrades: [String]) -> EngineHandshake {
        EngineHandshake(
            sid: session.sid, upgrades: upgrades, pingInterval: configuration.pingInterval,
            pingTimeout: configuration.pingTimeout, maxPayload: configuration.maxPayload
        )
    }

    /// Closes a session: its queue (a waiting consumer gets `final`), its clients (the delegate hears `reason`).
    func closeSession(_ session: EngineSession, reason: String, final: OutboundFrame? = nil) {
        guard session.markClosed() else { return }
        let namespaces = session.state.withLock { $0.sockets }
        let removed = registry.withLock { registry -> [UInt64] in
            registry.sessions[session.sid] = nil
            return namespaces.values.filter { Self.removeClient($0, from: &registry) != nil }
        }
        session.queue.close(final: final.map { OutboundMessage($0) })
        logger.debug("engine session closed", metadata: ["sio.sid": "\(session.sid)", "sio.reason": "\(reason)"])
        for id in removed { delegate.server(self, clientDisconnected: id, reason: reason) }
    }

    private static func removeClient(_ clientID: UInt64, from registry: inout Registry) -> ClientRecord? {
        guard let client = registry.clients[clientID] else { return nil }
        _ = removeClientRecord(clientID, from: &registry)
        return client
    }

    private static func removeMember(_ clientID: UInt64, namespace: String, room: String, from registry: inout Registry)
    {
        registry.rooms[namespace]?[room]?[clientID] = nil
        if registry.rooms[namespace]?[room]?.isEmpty == true { registry.rooms[namespace]?[room] = nil }
    }

    static func randomID() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var generator = SystemRandomNumberGenerator()
        return String(decoding: (0..<20).map { _ in alphabet[Int(generator.next() % 64)] }, as: UTF8.self)
    }
}
