import Hummingbird
import HummingbirdWebSocket
import Logging
import MarketCalendar
import NIOCore
import NIOPosix
import NIOWebSocket
import PluginKit
import ServiceLifecycle
import Synchronization

/// A fake of the vendor (Massive, formerly Polygon.io) on loopback: REST and WebSocket in the vendor's wire
/// formats as `/work/shared/reference/massive-api.md` describes them, fed from a recording or a synthetic
/// session, with switches for the failures a client must survive. Faithful to the reference, not to any client.
public final class FakeMassiveServer: Service, Sendable {
    /// Runtime switches. Change them with `update` while the server runs.
    public struct Behaviour: Sendable {
        /// The next `requests` REST calls get 429 (`retryAfterSeconds` as a Retry-After header when set).
        public var rateLimitedRequests = 0
        /// REST calls get 429 until this monotonic instant (a rate-limit window).
        public var rateLimitedUntil: ContinuousClock.Instant?
        public var retryAfterSeconds: Int?
        /// The next `failingRequests` REST calls get `failureStatus` (5xx).
        public var failingRequests = 0
        public var failureStatus = 503
        /// Every key is refused: REST 401, WebSocket `auth_failed`.
        public var authFailure = false
        /// Every REST data call answers 403 `NOT_AUTHORIZED` (a plan without this data).
        public var notEntitled = false
        /// One authenticated connection per key and cluster; a second one gets `max_connections` and is closed.
        public var enforceConnectionLimit = true
        /// Results per page for every paginated endpoint (nil: the vendor's defaults and the caller's `limit`).
        public var pageSize: Int?
        /// Leave out `greeks`, `last_quote`, `last_trade` (options) and `lastQuote`, `lastTrade` (stocks).
        public var omitOptionalFields = false
        /// Delay before every REST answer and every pushed frame, in milliseconds.
        public var restDelayMilliseconds = 0
        public var frameDelayMilliseconds = 0
        /// Every n-th pushed frame is replaced by a malformed one (0: never).
        public var malformedEvery = 0
        /// While this is set, a connection stops reading once it is authenticated and subscribed: its pings go
        /// unanswered (a half-dead peer or a stuck proxy). The connection stays open on the server's side
        /// (it still counts towards the connection limit) until the client closes it or the server stops.
        public var unresponsiveAfterAuth = false

        public init() {}
    }

    /// One REST call as the fake saw it (the key is never kept: only whether and how it was sent).
    public struct LoggedRequest: Sendable {
        public var path: String
        public var query: String
        public var authorization: String
        public var status: Int
    }

    struct Connection: Sendable {
        var feed: String
        var key: String?
        var items: Set<String> = []
        var outbound: AsyncStream<String>.Continuation
        var closer: AsyncStream<Void>.Continuation
    }

    struct State {
        var behaviour = Behaviour()
        var connections: [Int: Connection] = [:]
        var nextConnection = 1
        var requests: [LoggedRequest] = []
        var clientMessages: [String: [String]] = [:]
        var connectionsOpened: [String: Int] = [:]
        var pushedFrames = 0
        /// The session time of the last frame the stream replayed (nil: not streaming).
        var streamClock: Int64?
        var port: Int?
        var portWaiters: [CheckedContinuation<Int, Never>] = []
    }

    public let host: String
    public let requestedPort: Int
    public let apiKeys: Set<String>
    let data: FakeMarketData
    let logger: Logger
    let state = Mutex(State())

    public init(
        data: FakeMarketData, apiKeys: Set<String>, host: String = "127.0.0.1", port: Int = 0,
        behaviour: Behaviour = Behaviour(), logger: Logger
    ) {
        self.data = data
        self.apiKeys = apiKeys
        self.host = host
        self.requestedPort = port
        self.logger = logger
        state.withLock { $0.behaviour = behaviour }
    }

    // MARK: Control

    public func update(_ change: (inout Behaviour) -> Void) { state.withLock { change(&$0.behaviour) } }

    public var behaviour: Behaviour { state.withLock { $0.behaviour } }

    /// The bound port, once listening.
    public func port() async -> Int {
        await withCheckedContinuation { continuation in
            let port = state.withLock { state -> Int? in
                if let port = state.port { return port }
                state.portWaiters.append(continuation)
                return nil
            }
            if let port { continuation.resume(returning: port) }
        }
    }

    public var requests: [LoggedRequest] { state.withLock { $0.requests } }

    /// Messages clients sent on `feed`, in order; auth messages have their key replaced by `<key>`.
    public func clientMessages(_ feed: String) -> [String] { state.withLock { $0.clientMessages[feed] ?? [] } }

    /// How many WebSocket connections were opened on `feed` so far.
    public func connectionsOpened(_ feed: String) -> Int { state.withLock { $0.connectionsOpened[feed] ?? 0 } }

    /// The items each open, authenticated connection on `feed` is subscribed to.
    public func subscriptions(_ feed: String) -> [Set<String>] {
        state.withLock { state in
            state.connections.sorted { $0.key < $1.key }.filter { $0.value.feed == feed && $0.value.key != nil }.map(
                \.value.items)
        }
    }

    /// Closes every WebSocket connection (optionally only on `feed`), as a network drop would.
    public func dropConnections(feed: String? = nil) {
        let closers = state.withLock { state in
            state.connections.filter { feed == nil || $0.value.feed == feed }.map(\.value.closer)
        }
        for closer in closers { closer.yield() }
    }

    /// Pushes vendor events (JSON objects with `ev` and `sym`) on `feed` to every connection subscribed to them,
    /// one frame per connection.
    public func publish(feed: String, events: [JSONValue]) {
        let targets = state.withLock { state -> [(AsyncStream<String>.Continuation, [JSONValue])] in
            state.connections.values.filter { $0.feed == feed && $0.key != nil }.compactMap { connection in
                let wanted = events.filter { Self.matches($0, connection.items) }
                return wanted.isEmpty ? nil : (connection.outbound, wanted)
            }
        }
        for (outbound, wanted) in targets { outbound.yield(JSONValue.array(wanted).text) }
    }

    /// Pushes raw text (a malformed frame, say) to every authenticated connection on `feed`.
    public func publishRaw(feed: String, text: String) {
        let targets = state.withLock { state in
            state.connections.values.filter { $0.feed == feed && $0.key != nil }.map(\.outbound)
        }
        for outbound in targets { outbound.yield(text) }
    }

    static func matches(_ event: JSONValue, _ items: Set<String>) -> Bool {
        guard let ev = event["ev"]?.string, let symbol = event["sym"]?.string ?? event["T"]?.string else {
            return false
        }
        return items.contains(ev + "." + symbol) || items.contains(ev + ".*")
    }

    /// Replays the data's frames at `speed` times real time, in a loop, to whoever is subscribed.
    public func streamFrames(speed: Double) async {
        guard !data.frames.isEmpty, speed > 0 else { return }
        while !Task.isCancelled {
            var previous = data.frames[0].at
            for frame in data.frames {
                let wait = Double(frame.at - previous) / speed
                previous = frame.at
                if wait >= 1 { try? await Task.sleep(for: .milliseconds(Int64(wait))) }
                if Task.isCancelled { return }
                guard let events = try? JSONValue.parse(frame.text).array else { continue }
                state.withLock { $0.streamClock = frame.at }
                publish(feed: frame.feed, events: events)
            }
        }
    }

    // MARK: Service

    public func run() async throws {
        let router = Router(context: BasicRequestContext.self)
        router.get("**") { request, _ in await self.rest(request) }
        let ws = WebSocketServerConfiguration(maxFrameSize: 1 << 20, autoPing: .disabled, closeTimeout: .seconds(1))
        let application = Application(
            router: router,
            server: .http1WebSocketUpgrade(configuration: .init(ws: ws)) { head, _, _ in
                let path = head.path.map { String($0.prefix { $0 != "?" }) } ?? ""
                let feed = path.split(separator: "/").last.map(String.init) ?? ""
                guard ["stocks", "options", "indices"].contains(feed) else { return .dontUpgrade }
                return .upgrade([:]) { inbound, outbound, _ in
                    await self.serveSocket(feed: feed, inbound: inbound, outbound: outbound)
                }
            },
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: requestedPort), serverName: "FakeMassive"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let waiters = self.state.withLock { state in
                    state.port = port
                    defer { state.portWaiters = [] }
                    return state.portWaiters
                }
                for waiter in waiters { waiter.resume(returning: port) }
            },
            logger: logger
        )
        try await application.runService()
    }

    // MARK: WebSocket

    func serveSocket(feed: String, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        let (messages, continuation) = AsyncStream<String>.makeStream()
        let (closes, closer) = AsyncStream<Void>.makeStream()
        let id = state.withLock { state -> Int in
            let id = state.nextConnection
            state.nextConnection += 1
            state.connections[id] = Connection(feed: feed, outbound: continuation, closer: closer)
            state.connectionsOpened[feed, default: 0] += 1
            return id
        }
        continuation.yield(Self.status("connected", "Connected Successfully"))
        enum Part { case writer, reader, closer }
        let closeCode = CloseCode()
        await withTaskGroup(of: Part.self) { group in
            group.addTask {
                var count = 0
                for await text in messages {
                    let (delay, every) = self.state.withLock {
                        ($0.behaviour.frameDelayMilliseconds, $0.behaviour.malformedEvery)
                    }
                    if delay > 0 { try? await Task.sleep(for: .milliseconds(delay)) }
                    var out = text
                    if every > 0, !text.contains("\"status\"") {
                        count += 1
                        if count % every == 0 { out = "[{\"ev\":\"Q\",\"sym\":" }
                    }
                    do { try await outbound.writeTextMessage(out) } catch { break }
                    self.state.withLock { $0.pushedFrames += 1 }
                }
                return .writer
            }
            group.addTask {
                do {
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .text(let text) = message else { continue }
                        switch self.receive(text, connection: id, feed: feed) {
                        case .keep:
                            if self.goesQuiet(connection: id) {
                                // Reading nothing more leaves the client's pings unanswered. Ends when the
                                // connection is dropped (the group is cancelled) or the server shuts down.
                                while !Task.isCancelled, !Task.isShuttingDownGracefully {
                                    try? await Task.sleep(for: .milliseconds(50))
                                }
                                return .reader
                            }
                            continue
                        case .close(let code):
                            closeCode.value.withLock { $0 = code }
                            return .reader
                        }
                    }
                } catch {
                    // The client went away.
                }
                return .reader
            }
            group.addTask {
                for await _ in closes { break }
                return .closer
            }
            var ending = false
            while let part = await group.next() {
                if part == .writer { break }
                if !ending {
                    ending = true
                    self.state.withLock { _ = $0.connections.removeValue(forKey: id) }
                    continuation.finish()
                    closer.finish()
                }
            }
            try? await outbound.close(closeCode.value.withLock { $0 }, reason: nil)
            group.cancelAll()
        }
    }

    /// Whether this connection is authenticated and subscribed while `unresponsiveAfterAuth` is set.
    private func goesQuiet(connection id: Int) -> Bool {
        state.withLock { state in
            guard state.behaviour.unresponsiveAfterAuth, let connection = state.connections[id] else { return false }
            return connection.key != nil && !connection.items.isEmpty
        }
    }

    enum Verdict {
        case keep
        case close(WebSocketErrorCode)
    }

    static func status(_ status: String, _ message: String) -> String {
        "[" + statusObject(status, message).text + "]"
    }

    static func statusObject(_ status: String, _ message: String) -> JSONValue {
        .object([("ev", .string("status")), ("status", .string(status)), ("message", .string(message))])
    }

    /// One client message: auth, subscribe or unsubscribe.
    func receive(_ text: String, connection id: Int, feed: String) -> Verdict {
        guard let json = try? JSONValue.parse(text), let action = json["action"]?.string else {
            send(id, Self.status("error", "Invalid message: could not parse JSON"))
            return .keep
        }
        let params = json["params"]?.string ?? ""
        state.withLock { state in
            state.clientMessages[feed, default: []].append(
                action == "auth" ? #"{"action":"auth","params":"<key>"}"# : text)
        }
        switch action {
        case "auth":
            let (accepted, evicted) = state.withLock { state -> (Bool, Bool) in
                guard !state.behaviour.authFailure, apiKeys.contains(params) else { return (false, false) }
                let taken =
                    state.behaviour.enforceConnectionLimit
                    && state.connections.contains { $0.key != id && $0.value.feed == feed && $0.value.key == params }
                state.connections[id]?.key = params
                return (true, taken)
            }
            guard accepted else {
                send(id, Self.status("auth_failed", "authentication failed"))
                return .close(.policyViolation)
            }
            send(id, Self.status("auth_success", "authenticated"))
            if evicted {
                send(
                    id,
                    Self.status(
                        "max_connections",
                        "Maximum number of websocket connections exceeded. You have reached the connection limit for your account. Please contact support at https://massive.com/contact to increase your limit."
                    ))
                return .close(.policyViolation)
            }
        case "subscribe", "unsubscribe":
            let authenticated = state.withLock { $0.connections[id]?.key != nil }
            guard authenticated else {
                send(id, Self.status("auth_required", "authentication required"))
                return .keep
            }
            var replies: [JSONValue] = []
            let items = params.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
            state.withLock { state in
                guard var connection = state.connections[id] else { return }
                var quoted = connection.items.filter { $0.hasPrefix("Q.O:") }.count
                for item in items {
                    guard let dot = item.firstIndex(of: "."), dot != item.startIndex,
                        item.index(after: dot) != item.endIndex
                    else {
                        replies.append(Self.statusObject("error", "invalid subscription: \(item)"))
                        continue
                    }
                    if action == "unsubscribe" {
                        if connection.items.remove(item) != nil {
                            replies.append(Self.statusObject("success", "unsubscribed to: \(item)"))
                        }
                        continue
                    }
                    if connection.items.contains(item) { continue }  // the vendor does not answer re-subscriptions
                    if feed == "options", item == "Q.*" {
                        replies.append(Self.statusObject("error", "Q.* is not supported on options: \(item)"))
                        continue
                    }
                    if feed == "options", item.hasPrefix("Q.O:") {
                        guard quoted < 1_000 else {
                            replies.append(
                                Self.statusObject(
                                    "error", "maximum of 1000 option quote subscriptions exceeded: \(item)"))
                            continue
                        }
                        quoted += 1
                    }
                    connection.items.insert(item)
                    replies.append(Self.statusObject("success", "subscribed to: \(item)"))
                }
                state.connections[id] = connection
            }
            if !replies.isEmpty { send(id, JSONValue.array(replies).text) }
        default:
            send(id, Self.status("error", "unknown action: \(action)"))
        }
        return .keep
    }

    private func send(_ id: Int, _ text: String) {
        let outbound = state.withLock { $0.connections[id]?.outbound }
        outbound?.yield(text)
    }
}

/// The close code a connection ends with, shared between its tasks.
final class CloseCode: Sendable {
    let value = Mutex<WebSocketErrorCode>(.goingAway)
}

extension String {
    func trimmingSpaces() -> String {
        var text = Substring(self)
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return String(text)
    }
}
