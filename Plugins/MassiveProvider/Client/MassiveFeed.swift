import Logging
import MassiveWire
import NIOCore
import PluginAPI
import PluginKit
import ReplayEngine
import Synchronization
import WSClient

/// One vendor WebSocket connection (a cluster: stocks, options or indices).
///
/// `connected` → auth → `auth_success` → one subscribe message for everything wanted. Subscribe and
/// unsubscribe calls are gathered for `subscribeBatchMs` and sent as one message each (the difference between
/// what is wanted and what this connection has been sent, so nothing is ever sent twice). A lost connection is
/// re-established with exponential backoff and jitter, re-authenticated and re-subscribed, and the outage is
/// reported as a `LIVE` state carrying the gap so the host can backfill it. `auth_failed` and
/// `max_connections` are fatal: the feed reports `FAILED` with the vendor's message and stops trying.
public final class MassiveFeed: Sendable {
    public enum Phase: Sendable, Equatable {
        case idle
        case connecting
        case live
        case failed(String)
        case stopped
    }

    struct State {
        var phase: Phase = .idle
        /// Symbol → channels the host wants.
        var wanted: [String: Channels] = [:]
        /// Vendor items (`Q.SPY`) sent on the current connection.
        var sent: Set<String> = []
        /// Items the vendor acknowledged on the current connection.
        var acknowledged: Set<String> = []
        var outbound: AsyncStream<String>.Continuation?
        var authSent = false
        var authenticated = false
        var flushScheduled = false
        var task: Task<Void, Never>?
        /// When data may have started going missing (set on a drop, cleared when live again).
        var outageFrom: Int64?
        var lastMessageAt: Int64 = 0
        var connections = 0
        var malformedFrames = 0
        var subscribeMessages = 0
        var lastReason = ""
    }

    public let feed: MassiveConfiguration.Feed
    public let url: String
    let configuration: MassiveConfiguration
    let sink: any ReplaySink
    let clock: any StreamClock
    let logger: Logger
    let recorder: MassiveRecorder?
    let eventLoopGroup: any EventLoopGroup
    let observer: (any StreamObserver)?
    let state = Mutex(State())

    public init(
        feed: MassiveConfiguration.Feed, configuration: MassiveConfiguration, sink: any ReplaySink,
        clock: any StreamClock, eventLoopGroup: any EventLoopGroup, logger: Logger, recorder: MassiveRecorder? = nil,
        observer: (any StreamObserver)? = nil
    ) {
        self.feed = feed
        self.url = configuration.wsURL + "/" + feed.rawValue
        self.configuration = configuration
        self.sink = sink
        self.clock = clock
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.recorder = recorder
        self.observer = observer
    }

    // MARK: Public surface

    public var phase: Phase { state.withLock { $0.phase } }

    /// Vendor items the current connection has had acknowledged.
    public var acknowledgedItems: Set<String> { state.withLock { $0.acknowledged } }

    /// Symbol → channels currently wanted.
    public var wanted: [String: Channels] { state.withLock { $0.wanted } }

    public var statistics: (connections: Int, malformedFrames: Int, subscribeMessages: Int) {
        state.withLock { ($0.connections, $0.malformedFrames, $0.subscribeMessages) }
    }

    /// Adds subscriptions (idempotent). Returns the option symbols refused by the quote cap: they are reported
    /// through the sink's subscription_error and subscribed on their other channels only.
    @discardableResult
    public func subscribe(_ symbols: [String], channels: Channels) -> [String] {
        var refused: [String] = []
        var failure: String?
        let start = state.withLock { state -> Bool in
            guard state.phase != .stopped else { return false }
            if case .failed(let reason) = state.phase {
                failure = reason
                return false
            }
            var quoted = feed == .options ? state.wanted.values.filter { $0.contains(.quotes) }.count : 0
            for symbol in symbols {
                var add = channels
                let existing = state.wanted[symbol] ?? []
                if feed == .options, add.contains(.quotes), !existing.contains(.quotes) {
                    if symbol == "*" || quoted >= configuration.maxOptionQuoteSubscriptions {
                        add.remove(.quotes)
                        refused.append(symbol)
                    } else {
                        quoted += 1
                    }
                }
                if !add.isEmpty { state.wanted[symbol] = existing.union(add) }
            }
            return state.phase == .idle
        }
        if let failure {
            // The feed gave up (auth_failed, max_connections): say so instead of accepting silently.
            for symbol in symbols {
                sink.subscriptionError(
                    symbol: symbol, channels: channels, status: mh_status(MH_UNAVAILABLE),
                    message: "the \(feed.rawValue) feed failed: \(failure)")
            }
            return symbols
        }
        for symbol in refused {
            let reason =
                symbol == "*"
                ? "the vendor does not offer option quotes for all contracts (Q.*); subscribe contracts one by one"
                : "refused: the vendor allows quotes for at most \(configuration.maxOptionQuoteSubscriptions) option contracts per connection"
            sink.subscriptionError(
                symbol: symbol, channels: .quotes, status: mh_status(MH_LIMIT_EXCEEDED), message: reason)
        }
        if start { startConnecting() } else { scheduleFlush() }
        return refused
    }

    public func unsubscribe(_ symbols: [String], channels: Channels) {
        state.withLock { state in
            for symbol in symbols {
                guard let existing = state.wanted[symbol] else { continue }
                let left = existing.subtracting(channels)
                state.wanted[symbol] = left.isEmpty ? nil : left
            }
        }
        scheduleFlush()
    }

    /// Stops for good: closes the connection and ends the run loop. Does not wait.
    public func stop() {
        let (task, outbound) = state.withLock { state -> (Task<Void, Never>?, AsyncStream<String>.Continuation?) in
            state.phase = .stopped
            defer {
                state.task = nil
                state.outbound = nil
            }
            return (state.task, state.outbound)
        }
        outbound?.finish()
        task?.cancel()
    }

    /// Waits for the run loop to end (after `stop`).
    public func join() async {
        let task = state.withLock { $0.task }
        await task?.value
    }

    // MARK: Subscriptions

    static func prefixes(_ channels: Channels) -> [String] {
        var out: [String] = []
        if channels.contains(.quotes) { out.append("Q") }
        if channels.contains(.trades) { out.append("T") }
        if channels.contains(.aggSecond) { out.append("A") }
        if channels.contains(.aggMinute) { out.append("AM") }
        return out
    }

    static func items(_ wanted: [String: Channels]) -> Set<String> {
        var items = Set<String>()
        for (symbol, channels) in wanted {
            for prefix in prefixes(channels) { items.insert(prefix + "." + symbol) }
        }
        return items
    }

    static func message(_ action: String, _ items: some Collection<String>) -> String {
        JSONValue.object([("action", .string(action)), ("params", .string(items.sorted().joined(separator: ",")))])
            .text
    }

    private func scheduleFlush() {
        let delay = configuration.subscribeBatchMilliseconds
        guard delay > 0 else {
            reconcile()
            return
        }
        let schedule = state.withLock { state -> Bool in
            guard !state.flushScheduled, state.phase != .stopped else { return false }
            state.flushScheduled = true
            return true
        }
        guard schedule else { return }
        Task {
            await self.clock.sleep(milliseconds: delay)
            self.state.withLock { $0.flushScheduled = false }
            self.reconcile()
        }
    }

    /// Sends what is wanted but not yet sent, and unsubscribes what was sent but is no longer wanted.
    func reconcile() {
        state.withLock { state in
            guard state.authenticated, let outbound = state.outbound else { return }
            let desired = Self.items(state.wanted)
            let add = desired.subtracting(state.sent)
            let remove = state.sent.subtracting(desired)
            if !remove.isEmpty {
                outbound.yield(Self.message("unsubscribe", remove))
                state.subscribeMessages += 1
            }
            if !add.isEmpty {
                outbound.yield(Self.message("subscribe", add))
                state.subscribeMessages += 1
            }
            state.sent = desired
        }
    }

    // MARK: Connection loop

    private func startConnecting() {
        state.withLock { state in
            guard state.phase == .idle, state.task == nil else { return }
            state.phase = .connecting
            state.task = Task { await self.run() }
        }
    }

    enum Outcome {
        case closed(String, wasLive: Bool)
        case fatal(String)
    }

    func report(_ kind: StreamStateEvent.Kind, _ reason: String, gapFrom: Int64 = 0, gapTo: Int64 = 0) {
        sink.state(
            StreamStateEvent(
                kind: kind, feed: feed.rawValue, reason: reason, gapFromMilliseconds: gapFrom, gapToMilliseconds: gapTo)
        )
    }

    func run() async {
        var attempt = 0
        report(.connecting, "connecting to the vendor's \(feed.rawValue) feed")
        while !Task.isCancelled, isActive {
            let outcome = await connectOnce()
            guard isActive, !Task.isCancelled else { break }
            switch outcome {
            case .fatal(let reason):
                state.withLock {
                    $0.phase = .failed(reason)
                    $0.lastReason = reason
                }
                logger.error("massive \(feed.rawValue) feed failed: \(reason)")
                report(.failed, reason)
                return
            case .closed(let reason, let wasLive):
                if wasLive { attempt = 0 }
                let delay = Backoff.delay(
                    attempt: attempt, initial: configuration.initialBackoffMilliseconds,
                    maximum: configuration.maxBackoffMilliseconds, random: clock.random())
                attempt += 1
                let now = clock.wallMilliseconds
                state.withLock { state in
                    state.phase = .connecting
                    state.lastReason = reason
                    if state.outageFrom == nil {
                        state.outageFrom = state.lastMessageAt > 0 ? min(state.lastMessageAt, now) : now
                    }
                }
                logger.warning(
                    "massive \(feed.rawValue) feed disconnected: \(reason); reconnecting in \(delay) ms (attempt \(attempt))"
                )
                observer?.reconnect(feed: feed.rawValue)
                report(.connecting, "disconnected (\(reason)); reconnecting in \(delay) ms")
                await clock.sleep(milliseconds: delay)
            }
        }
    }

    private var isActive: Bool {
        state.withLock {
            switch $0.phase {
            case .stopped, .failed: false
            default: true
            }
        }
    }

    func connectOnce() async -> Outcome {
        let (messages, continuation) = AsyncStream<String>.makeStream()
        let proceed = state.withLock { state -> Bool in
            guard state.phase != .stopped else { return false }
            state.outbound = continuation
            state.sent = []
            state.acknowledged = []
            state.authSent = false
            state.authenticated = false
            state.connections += 1
            return true
        }
        guard proceed else { return .closed("stopped", wasLive: false) }
        let session = Session()
        var configuration = WebSocketClientConfiguration(
            maxFrameSize: self.configuration.maxFrameBytes, closeTimeout: .seconds(2))
        if self.configuration.pingIntervalMilliseconds > 0 {
            configuration.autoPing = .enabled(timePeriod: .milliseconds(self.configuration.pingIntervalMilliseconds))
        }
        var quiet = logger
        quiet.logLevel = .warning
        do {
            let close = try await WebSocketClient.connect(
                url: url, configuration: configuration, eventLoopGroup: eventLoopGroup, logger: quiet
            ) { inbound, outbound, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await text in messages { try await outbound.writeTextMessage(text) }
                    }
                    var scratch = FrameScratch()
                    for try await message in inbound.messages(maxSize: self.configuration.maxFrameBytes) {
                        guard case .text(let text) = message else { continue }
                        if let fatal = self.handle(text, scratch: &scratch, session: session) {
                            session.fatal.withLock { $0 = fatal }
                            break
                        }
                    }
                    continuation.finish()
                    group.cancelAll()
                }
            }
            continuation.finish()
            if let fatal = session.fatal.withLock({ $0 }) { return .fatal(fatal) }
            let code = close.map { " (close code \($0.closeCode))" } ?? ""
            return .closed("the server closed the connection\(code)", wasLive: session.wasLive.withLock { $0 })
        } catch {
            continuation.finish()
            if let fatal = session.fatal.withLock({ $0 }) { return .fatal(fatal) }
            return .closed(
                Redactor(self.configuration.apiKey).clean("\(error)"), wasLive: session.wasLive.withLock { $0 })
        }
    }

    /// What one connection reuses from frame to frame: the interned symbols (one shared string per symbol)
    /// and the batches handed to the sink, emptied but kept at capacity, so a frame costs no array allocation
    /// once the connection has seen its largest one.
    struct FrameScratch {
        var symbols = SymbolTable()
        var quotes: [Quote] = []
        var trades: [Trade] = []
        var bars: [Bar] = []
        var statuses: [StatusEvent] = []

        mutating func clear() {
            quotes.removeAll(keepingCapacity: true)
            trades.removeAll(keepingCapacity: true)
            bars.removeAll(keepingCapacity: true)
            statuses.removeAll(keepingCapacity: true)
        }
    }

    /// Handles one text frame; returns a fatal reason when the session must end for good.
    func handle(_ text: String, scratch: inout FrameScratch, session: Session) -> String? {
        let now = clock.wallMilliseconds
        if let recorder { recorder.frame(atMilliseconds: now, feed: feed.rawValue, bytes: Array(text.utf8)) }
        scratch.clear()
        var utf8 = text
        let issues = utf8.withUTF8 { buffer in
            FrameDecoder().decode(buffer, symbols: &scratch.symbols) { event, _ in
                switch event {
                case .quote(let quote): scratch.quotes.append(quote)
                case .trade(let trade): scratch.trades.append(trade)
                case .aggregate(let bar): scratch.bars.append(bar)
                case .status(let status): scratch.statuses.append(status)
                }
            }
        }
        if !issues.isEmpty {
            state.withLock { $0.malformedFrames += 1 }
            observer?.malformedFrame(feed: feed.rawValue)
            logger.warning(
                "massive \(feed.rawValue) frame skipped in part: \(issues.prefix(3).map(\.description).joined(separator: "; "))"
            )
        }
        if !scratch.quotes.isEmpty || !scratch.trades.isEmpty || !scratch.bars.isEmpty {
            state.withLock { $0.lastMessageAt = now }
            if !scratch.quotes.isEmpty { sink.quotes(scratch.quotes) }
            if !scratch.trades.isEmpty { sink.trades(scratch.trades) }
            if !scratch.bars.isEmpty { sink.bars(scratch.bars) }
        }
        for status in scratch.statuses {
            if let fatal = handleStatus(status, now: now, session: session) { return fatal }
        }
        return nil
    }

    func handleStatus(_ status: StatusEvent, now: Int64, session: Session) -> String? {
        let message = Redactor(configuration.apiKey).clean(status.message)
        switch status.status {
        case "connected":
            sendAuth()
        case "auth_success":
            let gap = state.withLock { state -> (Int64, Int64)? in
                state.authenticated = true
                state.phase = .live
                defer { state.outageFrom = nil }
                return state.outageFrom.map { ($0, now) }
            }
            session.wasLive.withLock { $0 = true }
            reconcile()
            if let (from, to) = gap {
                logger.notice("massive \(feed.rawValue) feed is back; data from \(from) to \(to) ms may be missing")
                report(.live, "reconnected; backfill the gap", gapFrom: from, gapTo: to)
            } else {
                logger.info("massive \(feed.rawValue) feed authenticated")
                report(.live, "authenticated")
            }
        case "auth_failed":
            return "auth_failed: \(message)"
        case "max_connections":
            return "max_connections: \(message) (another client is using this key on the \(feed.rawValue) cluster)"
        case "auth_timeout":
            logger.warning("massive \(feed.rawValue): \(message)")
        case "auth_required":
            logger.warning("massive \(feed.rawValue) asked for authentication: \(message)")
            sendAuth(force: true)
        case "success":
            if let item = Self.item(after: "unsubscribed to:", in: message) {
                state.withLock { _ = $0.acknowledged.remove(item) }
            } else if let item = Self.item(after: "subscribed to:", in: message) {
                state.withLock { _ = $0.acknowledged.insert(item) }
            } else if !state.withLock({ $0.authSent }) {
                // Some of the vendor's specs announce the connection as `success`.
                sendAuth()
            }
        case "error":
            logger.warning("massive \(feed.rawValue) error: \(message)")
            let refused = state.withLock { state in state.sent.filter { message.contains($0) } }
            for item in refused {
                let parts = item.split(separator: ".", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let channel: Channels =
                    switch parts[0] {
                    case "Q": .quotes
                    case "T": .trades
                    case "A": .aggSecond
                    default: .aggMinute
                    }
                sink.subscriptionError(
                    symbol: String(parts[1]), channels: channel, status: mh_status(MH_UNAVAILABLE), message: message)
            }
        default:
            logger.notice("massive \(feed.rawValue) status \(status.status): \(message)")
        }
        return nil
    }

    static func item(after prefix: String, in message: String) -> String? {
        guard message.hasPrefix(prefix) else { return nil }
        let item = message.dropFirst(prefix.count).trimmingPrefix(" ")
        return item.isEmpty ? nil : String(item)
    }

    private func sendAuth(force: Bool = false) {
        state.withLock { state in
            guard force || !state.authSent, let outbound = state.outbound else { return }
            state.authSent = true
            outbound.yield(
                JSONValue.object([("action", .string("auth")), ("params", .string(configuration.apiKey))]).text)
        }
    }
}

/// What one connection attempt learned, shared with its handler.
final class Session: Sendable {
    let fatal = Mutex<String?>(nil)
    let wasLive = Mutex(false)
}

/// Stream observations for metrics (bounded labels).
public protocol StreamObserver: Sendable {
    func reconnect(feed: String)
    func malformedFrame(feed: String)
}
