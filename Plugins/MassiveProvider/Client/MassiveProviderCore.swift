import Logging
import NIOCore
import NIOPosix
import PluginAPI
import PluginKit
import ReplayEngine
import Synchronization

/// The whole provider behind the C boundary: REST look-ups, one WebSocket feed per cluster, and the optional
/// recorder. The plugin wraps it in the vtable; tests drive it directly as well as through the loaded plugin.
public final class MassiveProviderCore: Sendable {
    public let configuration: MassiveConfiguration
    public let lookups: MassiveLookups
    public let recorder: MassiveRecorder?
    let feeds: [MassiveConfiguration.Feed: MassiveFeed]
    let sink: GatedSink
    let gate: SinkGate
    let group: MultiThreadedEventLoopGroup
    let logger: Logger
    let pending = Mutex<
        (next: UInt64, completions: [UInt64: @Sendable (OperationResult) -> Void], tasks: [UInt64: Task<Void, Never>])
    >(
        (1, [:], [:]))
    let stopped = Mutex(false)

    public init(
        configuration: MassiveConfiguration, sink: any ReplaySink, clock: any StreamClock, logger: Logger,
        restObserver: (any RESTObserver)? = nil, streamObserver: (any StreamObserver)? = nil,
        recordingSymbols: [String] = [], recordingEnd: Int64? = nil, gate: SinkGate = SinkGate()
    ) {
        self.configuration = configuration
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // The plugin shares this gate with its host clock, logger and metrics, so nothing reaches the host
        // after `stop` returns (the host's tables are freed at destroy).
        self.gate = gate
        self.sink = GatedSink(sink: sink, gate: gate)
        let redactor = Redactor(configuration.apiKey)
        recorder = configuration.recordTo.map {
            MassiveRecorder(
                path: $0, redactor: redactor, startMilliseconds: clock.wallMilliseconds, endMilliseconds: recordingEnd,
                symbols: recordingSymbols, logger: logger)
        }
        let rest = MassiveRESTClient(
            configuration: configuration, eventLoopGroup: group, logger: logger, recorder: recorder,
            observer: restObserver, now: { clock.wallMilliseconds })
        lookups = MassiveLookups(rest: rest, now: { clock.wallMilliseconds })
        var feeds: [MassiveConfiguration.Feed: MassiveFeed] = [:]
        for feed in configuration.feeds {
            feeds[feed] = MassiveFeed(
                feed: feed, configuration: configuration, sink: self.sink, clock: clock, eventLoopGroup: group,
                logger: logger, recorder: recorder, observer: streamObserver)
        }
        self.feeds = feeds
    }

    public func feed(_ feed: MassiveConfiguration.Feed) -> MassiveFeed? { feeds[feed] }

    /// Which cluster serves a symbol: `O:` options, `I:` indices, everything else stocks.
    public static func feed(for symbol: String) -> MassiveConfiguration.Feed {
        if symbol.hasPrefix("O:") { return .options }
        if symbol.hasPrefix("I:") { return .indices }
        return .stocks
    }

    // MARK: Look-ups

    /// Starts a look-up; `complete` runs exactly once (also when the provider stops first: MH_CANCELLED).
    public func request(_ request: LookupRequest, _ complete: @escaping @Sendable (OperationResult) -> Void) {
        // A recording covers the tickers it looked up as well as the ones it streamed; noting them now puts
        // them in the header even when a timed flush writes it before any subscription.
        if !request.ticker.isEmpty { recorder?.noteSymbols([request.ticker.uppercased()]) }
        let id = pending.withLock { state -> UInt64? in
            guard !stopped.withLock({ $0 }) else { return nil }
            let id = state.next
            state.next += 1
            state.completions[id] = complete
            return id
        }
        guard let id else {
            complete(OperationResult(error: .cancelled("the massive provider is stopped")))
            return
        }
        let task = Task {
            let result = await self.lookups.answer(request)
            self.finish(id, result)
        }
        pending.withLock { state in
            if state.completions[id] != nil { state.tasks[id] = task }
        }
    }

    private func finish(_ id: UInt64, _ result: OperationResult) {
        let completion = pending.withLock { state -> (@Sendable (OperationResult) -> Void)? in
            state.tasks[id] = nil
            return state.completions.removeValue(forKey: id)
        }
        guard let completion else { return }
        gate.run { completion(result) }
    }

    // MARK: Streaming

    public func subscribe(_ symbols: [String], channels: Channels) throws(PluginError) {
        guard !stopped.withLock({ $0 }) else { throw .cancelled("the massive provider is stopped") }
        var byFeed: [MassiveConfiguration.Feed: [String]] = [:]
        for symbol in symbols {
            guard MassiveRESTClient.validTicker(symbol) else {
                throw .invalid("\"\(symbol.prefix(80))\" is not a vendor ticker")
            }
            byFeed[Self.feed(for: symbol), default: []].append(symbol)
        }
        for (feed, list) in byFeed where feeds[feed] == nil {
            throw .unsupported(
                "the \(feed.rawValue) feed is not configured (feeds: \(configuration.feeds.map(\.rawValue).joined(separator: ", "))); cannot subscribe \(list.prefix(3).joined(separator: ", "))"
            )
        }
        recorder?.noteSymbols(symbols)
        for (feed, list) in byFeed { feeds[feed]?.subscribe(list, channels: channels) }
    }

    public func unsubscribe(_ symbols: [String], channels: Channels) {
        var byFeed: [MassiveConfiguration.Feed: [String]] = [:]
        for symbol in symbols { byFeed[Self.feed(for: symbol), default: []].append(symbol) }
        for (feed, list) in byFeed { feeds[feed]?.unsubscribe(list, channels: channels) }
    }

    // MARK: Lifecycle

    /// Health and a short detail.
    public func health() -> (mh_health_state, String) {
        if stopped.withLock({ $0 }) { return (mh_health_state(MH_HEALTH_DOWN), "stopped") }
        var failed: [String] = []
        var connecting: [String] = []
        var live: [String] = []
        for (name, feed) in feeds.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            switch feed.phase {
            case .failed(let reason): failed.append("\(name.rawValue): \(reason)")
            case .connecting: connecting.append(name.rawValue)
            case .live: live.append(name.rawValue)
            case .idle, .stopped: break
            }
        }
        if !failed.isEmpty {
            return (mh_health_state(MH_HEALTH_DOWN), "feed failed: " + failed.joined(separator: "; "))
        }
        if !connecting.isEmpty {
            return (mh_health_state(MH_HEALTH_DEGRADED), "reconnecting: " + connecting.joined(separator: ", "))
        }
        return (
            mh_health_state(MH_HEALTH_OK),
            live.isEmpty ? "ready (no stream yet)" : "live: " + live.joined(separator: ", ")
        )
    }

    /// Stops everything: feeds close, pending look-ups complete with MH_CANCELLED, and after this returns no
    /// sink or completion call happens. Blocking; call from a control thread (never the cooperative pool).
    public func stop() {
        guard
            stopped.withLock({ state -> Bool in
                defer { state = true }
                return !state
            })
        else { return }
        for feed in feeds.values { feed.stop() }
        let (completions, tasks) = pending.withLock { state in
            defer {
                state.completions = [:]
                state.tasks = [:]
            }
            return (Array(state.completions.values), Array(state.tasks.values))
        }
        for task in tasks { task.cancel() }
        for completion in completions {
            gate.run { completion(OperationResult(error: .cancelled("the massive provider is stopping"))) }
        }
        gate.close()
        lookups.rest.shutdown()
        recorder?.close()
        do { try group.syncShutdownGracefully() } catch {
            // Already shut down.
        }
    }
}
