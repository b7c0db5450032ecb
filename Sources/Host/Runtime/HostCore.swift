import Logging
import PluginKit
import Synchronization

/// The host's side of every plugin callback: it receives the provider's stream and the transports' client
/// events and HTTP requests, and hands them to the host's services (quote router, chart hub, REST routes).
public final class HostCore: MarketDataSink, TransportEventHandler, Sendable {
    /// Handles one client event. Return the ack arguments (a JSON array) when the client asked for an ack.
    public typealias EventHandler =
        @Sendable (_ transport: TransportPlugin, _ clientID: UInt64, _ arguments: JSONValue) async -> JSONValue

    private struct State {
        var streamObservers: [any MarketDataSink] = []
        var eventHandlers: [String: EventHandler] = [:]
        var connectionObservers: [@Sendable (TransportPlugin, UInt64, Bool) -> Void] = []
        var router: HTTPRouter?
        var connectedClients = 0
    }

    private let state = Mutex(State())
    let logger: Logger
    let metrics: MetricsRegistry

    public init(logger: Logger, metrics: MetricsRegistry) {
        self.logger = logger
        self.metrics = metrics
    }

    // MARK: Registration (before plugins start)

    /// Adds a receiver of the provider's stream (quote router, chart hub...).
    public func addStreamObserver(_ observer: any MarketDataSink) {
        state.withLock { $0.streamObservers.append(observer) }
    }

    /// Handles client event `name` (e.g. "live:subscribe").
    public func onEvent(_ name: String, _ handler: @escaping EventHandler) {
        state.withLock { $0.eventHandlers[name] = handler }
    }

    /// Observes client connections (true) and disconnections (false).
    public func onConnection(_ observer: @escaping @Sendable (TransportPlugin, UInt64, Bool) -> Void) {
        state.withLock { $0.connectionObservers.append(observer) }
    }

    public func setRouter(_ router: HTTPRouter) {
        state.withLock { $0.router = router }
    }

    public var connectedClients: Int { state.withLock { $0.connectedClients } }

    /// Answers an HTTP request with the host's routes (what a transport's request ends up calling).
    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let router = state.withLock { $0.router }
        return await router?.handle(request) ?? .error(503, "starting", "the host is starting")
    }

    // MARK: MarketDataSink

    public func receive(quotes: [Quote]) {
        metrics.increment(
            "markethub_stream_quotes_total", by: Double(quotes.count), help: "Quotes received from the provider")
        for observer in state.withLock({ $0.streamObservers }) { observer.receive(quotes: quotes) }
    }

    public func receive(trades: [Trade]) {
        metrics.increment(
            "markethub_stream_trades_total", by: Double(trades.count), help: "Trades received from the provider")
        for observer in state.withLock({ $0.streamObservers }) { observer.receive(trades: trades) }
    }

    public func receive(bars: [Bar]) {
        metrics.increment(
            "markethub_stream_bars_total", by: Double(bars.count), help: "Aggregates received from the provider")
        for observer in state.withLock({ $0.streamObservers }) { observer.receive(bars: bars) }
    }

    public func receive(state streamState: StreamState) {
        let level: Logger.Level = streamState.kind == .live ? .info : .warning
        logger.log(
            level: level, "provider stream \(streamState.kind)",
            metadata: ["feed": "\(streamState.feed)", "reason": "\(streamState.reason)"]
        )
        for observer in state.withLock({ $0.streamObservers }) { observer.receive(state: streamState) }
    }

    public func subscriptionFailed(symbol: String, channels: Channels, error: PluginError) {
        logger.warning("upstream refused a subscription", metadata: ["symbol": "\(symbol)", "error": "\(error)"])
        for observer in state.withLock({ $0.streamObservers }) {
            observer.subscriptionFailed(symbol: symbol, channels: channels, error: error)
        }
    }

    // MARK: TransportEventHandler

    public func clientConnected(_ transport: TransportPlugin, clientID: UInt64, meta: JSONValue) {
        let observers = state.withLock { state in
            state.connectedClients += 1
            return state.connectionObservers
        }
        metrics.set("markethub_clients", to: Double(connectedClients), help: "Connected clients")
        for observer in observers { observer(transport, clientID, true) }
    }

    public func clientDisconnected(_ transport: TransportPlugin, clientID: UInt64, reason: String) {
        let observers = state.withLock { state in
            state.connectedClients = max(0, state.connectedClients - 1)
            return state.connectionObservers
        }
        metrics.set("markethub_clients", to: Double(connectedClients), help: "Connected clients")
        // A transport that cuts a client off for not reading says so in the reason (SocketIOTransport does).
        if reason.hasPrefix("slow consumer") {
            logger.notice(
                "client disconnected as a slow consumer", metadata: ["client": "\(clientID)", "reason": "\(reason)"])
        }
        for observer in observers { observer(transport, clientID, false) }
    }

    public func clientEvent(
        _ transport: TransportPlugin, clientID: UInt64, event: String, arguments: JSONValue, ackID: UInt64
    ) {
        let handler = state.withLock { $0.eventHandlers[event] }
        metrics.increment("markethub_client_events_total", labels: [("known", handler == nil ? "false" : "true")])
        guard let handler else {
            if ackID != 0 {
                let error = JSONValue.object([
                    ("error", .string("unknown_event")), ("message", .string("unknown event '\(event)'")),
                ])
                transport.ack(ackID, arguments: JSONValue.array([error]).bytes)
            }
            return
        }
        Task {
            let reply = await handler(transport, clientID, arguments)
            if ackID != 0 { transport.ack(ackID, arguments: reply.bytes) }
        }
    }

    public func httpRequest(_ transport: TransportPlugin, requestID: UInt64, request: HTTPRequest) {
        let started = ContinuousClock.now
        // Answers that need no waiting (a reused /aggs body, a parameter error) go back on the transport's
        // thread; creating a task and hopping threads cost more than the answer itself.
        if let response = state.withLock({ $0.router })?.immediateAnswer(request) {
            transport.respond(requestID, response)
            observeRequest(status: response.status, since: started)
            return
        }
        Task {
            let response = await handle(request)
            transport.respond(requestID, response)
            observeRequest(status: response.status, since: started)
        }
    }

    private func observeRequest(status: Int, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        metrics.observe(
            "markethub_http_request_seconds",
            Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            labels: [("status", String(status))], help: "Host HTTP request handling time"
        )
    }
}
