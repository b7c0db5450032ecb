import Logging
import MarketCalendar
import PluginKit
import Synchronization

/// The chart hub (the spec's "Intraday live updates via WebSockets"): one active chart focus per client,
/// candles built on the server, a snapshot on focus and complete changed candles as the stream moves.
///
/// - `chart:focus {symbol, timeframe, sessionMode}` replaces the client's focus. Minute timeframes (1m 5m 15m
///   30m) stream: the hub subscribes upstream to the per-second and per-minute aggregates of the chart's
///   ticker (an option's underlying), by reference count across clients, backfills the session's minute bars
///   through the aggregates service, folds everything into a `CandleSeries`, and sends `chart:snapshot`, then
///   `chart:update` with the changed candles to the focus room. 1h, 1D and 1W get a snapshot only.
/// - Backfill failure: `chart:error` with the reason, then a snapshot of whatever the cache holds.
/// - Stream drop: health turns `degraded` (an update with no bars says so); on recovery the gap is backfilled
///   from REST before updates resume. A failed backfill is retried every `backfillRetryMilliseconds` (on a
///   timer, and when bars arrive) until it succeeds or nobody focuses the series.
/// - The last client leaving a series (a new focus, `chart:unfocus`, a disconnect) releases the upstream
///   subscription.
/// - Streamed minute bars of focused symbols are written behind to the cache (`ChartBarPersistenceService`,
///   `source: "stream"`), so REST answers and other hosts see them without another provider call.
public final class ChartHub: MarketDataSink, Sendable {
    public struct Options: Sendable {
        /// Candles kept per series.
        public var capacity = 2_000
        /// Delay before a failed backfill is tried again.
        public var backfillRetryMilliseconds: Int64 = 15_000
        /// How far back a fallback snapshot looks in the cache.
        public var fallbackLookbackDays: Int64 = 5

        public init() {}
    }

    struct SeriesKey: Hashable, Sendable {
        var ticker: String
        var timeframe: ChartTimeframe
        var mode: AggregatesQuery.SessionMode
    }

    /// One client's focus.
    struct Focus: Sendable {
        var symbol: String
        var timeframe: ChartTimeframe
        var mode: AggregatesQuery.SessionMode
        /// The streamed series, nil for snapshot-only timeframes.
        var series: SeriesKey?
        var generation: UInt64
    }

    /// What the session backfill said about the window.
    struct Meta: Sendable {
        var from: Int64
        var to: Int64
        var usingLastSession: Bool
        var notes: [String]
        var source: String
    }

    struct SeriesState: Sendable {
        var series: CandleSeries
        /// Focused symbols (an option and its underlying share a series) → number of clients.
        var symbols: [String: Int] = [:]
        var clients: Set<ClientKey> = []
        var loading: Task<LoadOutcome, Never>?
        var loaded = false
        var backfilling = false
        var meta: Meta?
        /// The stream has been down since this instant.
        var downSince: Int64?
        /// A backfill failed; it is retried from here.
        var retryFrom: Int64?
        var lastAttempt: Int64 = 0

        var health: String { downSince != nil || retryFrom != nil ? "degraded" : "ok" }
    }

    struct LoadOutcome: Sendable {
        var error: AggregatesFailure?
    }

    struct State: Sendable {
        var focus: [ClientKey: Focus] = [:]
        var series: [SeriesKey: SeriesState] = [:]
        var outputs: [ObjectIdentifier: any LiveOutput] = [:]
        /// Streamed ticker → its series.
        var byTicker: [String: [SeriesKey]] = [:]
        var generation: UInt64 = 0
        /// Streamed minute bars not yet written to the cache, by ticker and start (a correction replaces).
        var unsavedBars: [UnsavedKey: Bar] = [:]
    }

    struct UnsavedKey: Hashable, Sendable {
        var ticker: String
        var start: Int64
    }

    /// Most streamed bars waiting for the cache; beyond it new ones are dropped (and counted) until a write
    /// succeeds. A day of minute bars for 20 symbols fits.
    static let maximumUnsavedBars = 20_000

    public static let channels: Channels = [.aggSecond, .aggMinute]

    let upstream: any UpstreamSubscriptions
    let aggregates: AggregatesService
    let cache: CachePlugin
    let status: MarketStatusService
    let clock: any HostClock
    let calendar: MarketCalendar
    let logger: Logger
    let metrics: MetricsRegistry
    let options: Options
    private let state = Mutex(State())
    private let episodes: FailureEpisodes

    public init(
        upstream: any UpstreamSubscriptions, aggregates: AggregatesService, cache: CachePlugin,
        status: MarketStatusService, clock: any HostClock, logger: Logger, metrics: MetricsRegistry,
        options: Options = Options(), calendar: MarketCalendar = .nyse
    ) {
        self.upstream = upstream
        self.aggregates = aggregates
        self.cache = cache
        self.status = status
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.options = options
        self.calendar = calendar
        episodes = FailureEpisodes(logger: logger)
    }

    /// The room a focus's updates go to.
    static func room(symbol: String, key: SeriesKey) -> String {
        "chart:" + symbol + "|" + key.timeframe.label + "|" + key.mode.rawValue
    }

    /// Registers `chart:focus`, `chart:unfocus` and the disconnect observer with the host core.
    public func attach(to core: HostCore) {
        core.addStreamObserver(self)
        core.onEvent("chart:focus") { [weak self] transport, clientID, arguments in
            await self?.focus(output: transport, clientID: clientID, arguments: arguments) ?? .null
        }
        core.onEvent("chart:unfocus") { [weak self] transport, clientID, _ in
            self?.unfocus(output: transport, clientID: clientID)
            return .array([.object([("ok", .bool(true))])])
        }
        core.onConnection { [weak self] transport, clientID, connected in
            if !connected { self?.unfocus(output: transport, clientID: clientID) }
        }
    }

    // MARK: Introspection (health, tests)

    /// Tickers subscribed upstream for aggregates.
    public var upstreamTickers: Set<String> { state.withLock { Set($0.byTicker.keys) } }

    /// Number of series being built.
    public var seriesCount: Int { state.withLock { $0.series.count } }

    /// Health of the streamed series of `ticker` at `timeframe` ("ok" or "degraded"), nil when none.
    public func health(ticker: String, timeframe: String, sessionMode: String = "regular") -> String? {
        guard let frame = ChartTimeframe(timeframe), let mode = AggregatesQuery.SessionMode(rawValue: sessionMode)
        else { return nil }
        return state.withLock { $0.series[SeriesKey(ticker: ticker, timeframe: frame, mode: mode)]?.health }
    }

    // MARK: Client requests

    struct Request {
        var symbol: String
        var timeframe: ChartTimeframe
        var mode: AggregatesQuery.SessionMode
    }

    enum RequestError: Error {
        case invalid(code: String, symbol: String, timeframe: String, message: String)
    }

    static func parse(_ arguments: JSONValue) throws(RequestError) -> Request {
        let first: JSONValue? = if case .array(let values) = arguments { values.first } else { nil }
        guard let first, case .object = first else {
            throw .invalid(
                code: "invalid_request", symbol: "", timeframe: "",
                message: "chart:focus needs {symbol, timeframe, sessionMode}")
        }
        guard let raw = first["symbol"]?.string, !raw.isEmpty else {
            throw .invalid(
                code: "invalid_request", symbol: "", timeframe: first["timeframe"]?.string ?? "",
                message: "chart:focus needs a symbol, e.g. {\"symbol\":\"SPY\",\"timeframe\":\"5m\"}")
        }
        let timeframeText = first["timeframe"]?.string ?? ""
        guard let symbol = SymbolRules.normalize(raw) else {
            throw .invalid(
                code: "invalid_symbol", symbol: raw, timeframe: timeframeText,
                message: "'\(raw)' is not a stock, index or option ticker (e.g. SPY, I:SPX, O:SPY251219C00650000)")
        }
        guard let timeframe = ChartTimeframe(timeframeText) else {
            throw .invalid(
                code: "invalid_request", symbol: symbol, timeframe: timeframeText,
                message: "timeframe must be one of \(ChartTimeframe.accepted)")
        }
        var mode = AggregatesQuery.SessionMode.regular
        if let value = first["sessionMode"], !value.isNull {
            guard let text = value.string, let parsed = AggregatesQuery.SessionMode(rawValue: text) else {
                throw .invalid(
                    code: "invalid_request", symbol: symbol, timeframe: timeframe.label,
                    message: "sessionMode must be regular or extended")
            }
            mode = parsed
        }
        return Request(symbol: symbol, timeframe: timeframe, mode: mode)
    }

    func refuse(
        _ output: any LiveOutput, _ clientID: UInt64, symbol: String, timeframe: String, code: String,
        message: String
    ) -> JSONValue {
        output.send(
            clientID: clientID, event: "chart:error",
            payload: Self.errorPayload(symbol: symbol, timeframe: timeframe, code: code, message: message))
        metrics.increment("markethub_chart_errors_total", labels: [("code", code)], help: "chart:error events sent")
        return .array([.object([("ok", .bool(false)), ("error", .string(code)), ("message", .string(message))])])
    }

    /// Handles `chart:focus`. Returns the ack arguments.
    public func focus(output: any LiveOutput, clientID: UInt64, arguments: JSONValue) async -> JSONValue {
        let request: Request
        do throws(RequestError) {
            request = try Self.parse(arguments)
        } catch {
            switch error {
            case .invalid(let code, let symbol, let timeframe, let message):
                return refuse(output, clientID, symbol: symbol, timeframe: timeframe, code: code, message: message)
            }
        }
        let client = ClientKey(output, clientID)
        metrics.increment("markethub_chart_focus_total", help: "chart:focus requests accepted")
        guard request.timeframe.streams else {
            let (generation, released) = state.withLock { state -> (UInt64, Released) in
                state.generation &+= 1
                state.outputs[client.output] = output
                let previous = state.focus.updateValue(
                    Focus(
                        symbol: request.symbol, timeframe: request.timeframe, mode: request.mode, series: nil,
                        generation: state.generation),
                    forKey: client)
                return (state.generation, release(previous, of: client, in: &state))
            }
            finishRelease(released, output: output, clientID: clientID)
            await sendRestSnapshot(request, to: output, clientID: clientID, generation: generation)
            return acknowledge(request, streaming: false)
        }
        let ticker = AggregatesService.underlying(of: request.symbol) ?? request.symbol
        let key = SeriesKey(ticker: ticker, timeframe: request.timeframe, mode: request.mode)
        // The new focus is registered before the previous one is released, so moving between timeframes of one
        // ticker keeps its upstream subscription.
        let (generation, subscribeUpstream, released) = state.withLock { state -> (UInt64, Bool, Released) in
            state.generation &+= 1
            state.outputs[client.output] = output
            let previous = state.focus.updateValue(
                Focus(
                    symbol: request.symbol, timeframe: request.timeframe, mode: request.mode, series: key,
                    generation: state.generation),
                forKey: client)
            let firstForTicker = state.byTicker[ticker] == nil
            if state.series[key] == nil {
                state.series[key] = SeriesState(
                    series: CandleSeries(
                        ticker: ticker, timeframe: request.timeframe, extended: request.mode == .extended,
                        capacity: options.capacity, calendar: calendar))
                state.byTicker[ticker, default: []].append(key)
            }
            state.series[key]?.clients.insert(client)
            state.series[key]?.symbols[request.symbol, default: 0] += 1
            return (state.generation, firstForTicker, release(previous, of: client, in: &state))
        }
        finishRelease(released, output: output, clientID: clientID)
        updateGauges()
        if subscribeUpstream {
            do throws(PluginError) {
                try upstream.subscribe([ticker], channels: Self.channels)
                metrics.increment(
                    "markethub_chart_upstream_subscribes_total", help: "Upstream aggregate subscriptions made")
            } catch {
                let dropped = state.withLock { state -> Released in
                    release(state.focus.removeValue(forKey: client), of: client, in: &state)
                }
                finishRelease(
                    Released(room: dropped.room, ticker: nil), output: output, clientID: clientID)
                return refuse(
                    output, clientID, symbol: request.symbol, timeframe: request.timeframe.label,
                    code: LiveError.code(error), message: error.message)
            }
        }
        let outcome = await load(key)
        let market = await status.current()
        let sent = state.withLock { state -> Bool in
            guard state.focus[client]?.generation == generation, let entry = state.series[key] else { return false }
            if let error = outcome.error {
                output.send(
                    clientID: clientID, event: "chart:error",
                    payload: Self.errorPayload(
                        symbol: request.symbol, timeframe: request.timeframe.label, code: error.code,
                        message: "backfill failed: \(error.message)"))
            }
            if outcome.error == nil || !entry.series.candles.isEmpty {
                output.send(
                    clientID: clientID, event: "chart:snapshot",
                    payload: streamSnapshot(request, entry: entry, market: market))
            }
            output.join(clientID: clientID, room: Self.room(symbol: request.symbol, key: key))
            return true
        }
        if let error = outcome.error, sent {
            metrics.increment(
                "markethub_chart_errors_total", labels: [("code", error.code)], help: "chart:error events sent")
        }
        return acknowledge(request, streaming: true)
    }

    func acknowledge(_ request: Request, streaming: Bool) -> JSONValue {
        .array([
            .object([
                ("ok", .bool(true)), ("symbol", .string(request.symbol)),
                ("timeframe", .string(request.timeframe.label)), ("streaming", .bool(streaming)),
            ])
        ])
    }

    /// Drops a client's focus (`chart:unfocus`, a disconnect).
    public func unfocus(output: any LiveOutput, clientID: UInt64) {
        let client = ClientKey(output, clientID)
        let released = state.withLock { state -> Released in
            release(state.focus.removeValue(forKey: client), of: client, in: &state)
        }
        finishRelease(released, output: output, clientID: clientID)
        updateGauges()
    }

    /// What leaving a focus leaves to do outside the lock: the room to leave, the ticker to release upstream.
    struct Released {
        var room: String?
        var ticker: String?
    }

    /// Takes `client` out of its previous focus's series; drops the series when it was the last client, and
    /// reports the ticker when no series of it remains.
    private func release(_ previous: Focus?, of client: ClientKey, in state: inout State) -> Released {
        guard let previous, let key = previous.series, var entry = state.series[key] else { return Released() }
        let room = Self.room(symbol: previous.symbol, key: key)
        entry.symbols[previous.symbol, default: 1] -= 1
        if entry.symbols[previous.symbol] == 0 { entry.symbols.removeValue(forKey: previous.symbol) }
        // A new focus on the same series (the same chart again, or an option and its underlying) keeps the client
        // in it; only a different symbol means another room.
        if let current = state.focus[client], current.series == key {
            state.series[key] = entry
            return Released(room: current.symbol == previous.symbol ? nil : room)
        }
        entry.clients.remove(client)
        guard entry.clients.isEmpty else {
            state.series[key] = entry
            return Released(room: room)
        }
        state.series.removeValue(forKey: key)
        state.byTicker[key.ticker]?.removeAll { $0 == key }
        guard state.byTicker[key.ticker]?.isEmpty == true else { return Released(room: room) }
        state.byTicker.removeValue(forKey: key.ticker)
        return Released(room: room, ticker: key.ticker)
    }

    private func finishRelease(_ released: Released, output: any LiveOutput, clientID: UInt64) {
        if let room = released.room { output.leave(clientID: clientID, room: room) }
        guard let ticker = released.ticker else { return }
        do throws(PluginError) {
            try upstream.unsubscribe([ticker], channels: Self.channels)
            metrics.increment(
                "markethub_chart_upstream_unsubscribes_total", help: "Upstream aggregate subscriptions released")
        } catch {
            logger.warning("upstream unsubscribe failed", metadata: ["ticker": "\(ticker)", "error": "\(error)"])
        }
    }

    private func updateGauges() {
        let (series, tickers) = state.withLock { ($0.series.count, $0.byTicker.count) }
        metrics.set("markethub_chart_series", to: Double(series), help: "Chart series being built")
        metrics.set("markethub_chart_upstream_tickers", to: Double(tickers), help: "Tickers streamed for charts")
    }

    // MARK: Backfill

    /// The series' session backfill, shared by everyone focusing it while it runs.
    func load(_ key: SeriesKey) async -> LoadOutcome {
        let task = state.withLock { state -> Task<LoadOutcome, Never>? in
            guard var entry = state.series[key] else { return nil }
            if let loading = entry.loading { return loading }
            if entry.loaded { return nil }
            let task = Task { await self.backfill(key, from: nil) }
            entry.loading = task
            entry.backfilling = true
            state.series[key] = entry
            return task
        }
        guard let task else { return LoadOutcome(error: nil) }
        return await task.value
    }

    /// Fetches minute bars (the session when `from` is nil, else `from` to now) and folds them into the series,
    /// then publishes what changed while updates were held.
    func backfill(_ key: SeriesKey, from: Int64?) async -> LoadOutcome {
        let started = clock.nowMilliseconds
        var query = AggregatesQuery(ticker: key.ticker, multiplier: 1, timespan: .minute, limit: 50_000)
        query.sessionMode = key.mode
        if let from {
            // From the candle before: the minute bar of the last minute before a drop is published after it.
            let period = key.timeframe.periodMilliseconds
            let start = from - 60_000
            query.fromMilliseconds = start - start % period
            query.toMilliseconds = started
        }
        metrics.increment("markethub_chart_backfills_total", help: "Chart backfills from REST")
        var failure: AggregatesFailure?
        var answer: AggregatesAnswer?
        var fallback: [Bar] = []
        do throws(AggregatesFailure) {
            answer = try await aggregates.answer(query)
            failure = answer?.fetchError
        } catch {
            failure = error
            if from == nil { fallback = await cachedCandles(key) }
        }
        let fetchedAt = clock.nowMilliseconds
        state.withLock { state in
            guard var entry = state.series[key] else { return }
            if let answer {
                entry.series.seed(minutes: answer.bars, fetchedAt: fetchedAt)
                if from == nil {
                    entry.meta = Meta(
                        from: answer.fromMilliseconds, to: answer.toMilliseconds,
                        usingLastSession: answer.usingLastSession, notes: answer.notes, source: answer.source)
                }
            } else if !fallback.isEmpty {
                entry.series.seed(candles: fallback)
                entry.meta = Meta(
                    from: fallback.first?.startMilliseconds ?? 0, to: fallback.last?.startMilliseconds ?? 0,
                    usingLastSession: calendar.session(at: started) == .closed,
                    notes: ["Data provider unavailable (\(failure?.message ?? "")); showing cached bars."],
                    source: "cache")
            } else if from == nil {
                entry.meta = Meta(
                    from: 0, to: 0, usingLastSession: false,
                    notes: ["Backfill failed: \(failure?.message ?? "unknown error")."], source: "none")
            }
            entry.lastAttempt = started
            entry.retryFrom = failure == nil ? nil : (from ?? sessionStart(key, at: started))
            entry.backfilling = false
            entry.loaded = true
            entry.loading = nil
            let changed = entry.series.takeChanged()
            state.series[key] = entry
            // A session backfill's result goes out as each focuser's snapshot; a gap backfill's as an update.
            if from != nil {
                if let failure {
                    publish(
                        state: state, key: key, event: "chart:error",
                        payload: { symbol in
                            Self.errorPayload(
                                symbol: symbol, timeframe: key.timeframe.label, code: failure.code,
                                message: "gap backfill failed: \(failure.message)")
                        })
                }
                publishUpdate(state: state, key: key, bars: changed, health: entry.health)
            }
        }
        if failure != nil {
            // Retried on a timer as well as when bars arrive, so a series whose stream is quiet (a paused replay,
            // a thin market) does not stay degraded and incomplete until a bar happens to come.
            let delay = max(options.backfillRetryMilliseconds, 1) * 1_000_000
            clock.schedule(afterNanoseconds: delay) { [weak self] in self?.retryDueBackfills([key]) }
        }
        // One upstream fault fails every series' backfill: logged once until a backfill succeeds again.
        if let failure {
            episodes.failed(
                "backfill", "chart backfill failed",
                metadata: ["ticker": "\(key.ticker)", "timeframe": "\(key.timeframe)", "error": "\(failure.message)"])
        } else {
            episodes.succeeded("backfill", "chart backfills succeed again")
        }
        return LoadOutcome(error: failure)
    }

    /// Where the session a backfill covers starts (what a failed session backfill retries from).
    func sessionStart(_ key: SeriesKey, at milliseconds: Int64) -> Int64 {
        let day = calendar.currentOrLastRegularSession(at: milliseconds)
        return key.mode == .extended ? day.preOpen : day.regularOpen
    }

    /// Candles of the focused granularity the cache holds, for a snapshot when the backfill failed.
    func cachedCandles(_ key: SeriesKey) async -> [Bar] {
        let now = clock.nowMilliseconds
        let result = await cache.getBars(
            BarQuery(
                ticker: key.ticker, timespan: .minute, multiplier: key.timeframe.multiplier,
                fromMilliseconds: now - options.fallbackLookbackDays * 86_400_000, toMilliseconds: now))
        guard result.isOK else { return [] }
        return Array(result.bars.suffix(options.capacity))
    }

    /// Starts a gap backfill for every series whose earlier backfill failed and is due for a retry.
    private func retryDueBackfills(_ keys: [SeriesKey]) {
        let now = clock.nowMilliseconds
        let due = state.withLock { state -> [(SeriesKey, Int64)] in
            var due: [(SeriesKey, Int64)] = []
            for key in keys {
                guard var entry = state.series[key], entry.loaded, !entry.backfilling, entry.downSince == nil,
                    let from = entry.retryFrom, now - entry.lastAttempt >= options.backfillRetryMilliseconds
                else { continue }
                entry.backfilling = true
                state.series[key] = entry
                due.append((key, from))
            }
            return due
        }
        for (key, from) in due { Task { _ = await self.backfill(key, from: from) } }
    }

    // MARK: Snapshots

    /// A snapshot of a snapshot-only timeframe, answered by the aggregates service.
    func sendRestSnapshot(_ request: Request, to output: any LiveOutput, clientID: UInt64, generation: UInt64) async {
        var query = AggregatesQuery(
            ticker: request.symbol, multiplier: request.timeframe.multiplier, timespan: request.timeframe.timespan)
        query.sessionMode = request.mode
        let client = ClientKey(output, clientID)
        var payloads: [(String, [UInt8])] = []
        do throws(AggregatesFailure) {
            let answer = try await aggregates.answer(query)
            if let failure = answer.fetchError {
                payloads.append(
                    (
                        "chart:error",
                        Self.errorPayload(
                            symbol: request.symbol, timeframe: request.timeframe.label, code: failure.code,
                            message: "backfill failed: \(failure.message)")
                    ))
            }
            payloads.append(("chart:snapshot", Self.restSnapshot(answer, request: request)))
        } catch {
            payloads.append(
                (
                    "chart:error",
                    Self.errorPayload(
                        symbol: request.symbol, timeframe: request.timeframe.label, code: error.code,
                        message: "backfill failed: \(error.message)")
                ))
        }
        state.withLock { state in
            guard state.focus[client]?.generation == generation else { return }
            for (event, payload) in payloads { output.send(clientID: clientID, event: event, payload: payload) }
        }
    }

    static func restSnapshot(_ answer: AggregatesAnswer, request: Request) -> [UInt8] {
        guard case .object(var members) = AggregatesRoutes.encode(answer) else { return [] }
        members.insert(("symbol", .string(request.symbol)), at: 0)
        members.append(("timeframe", .string(request.timeframe.label)))
        members.append(("streaming", .bool(false)))
        return JSONValue.object(members).bytes
    }

    /// A streamed series' snapshot: the same fields as the REST answer, from the hub's candles.
    func streamSnapshot(_ request: Request, entry: SeriesState, market: MarketStatusService.Status) -> [UInt8] {
        let key = SeriesKey(ticker: entry.series.ticker, timeframe: request.timeframe, mode: request.mode)
        var notes = entry.meta?.notes ?? []
        if request.symbol != key.ticker {
            notes.insert("Intraday option charts use the underlying's candles (\(key.ticker)).", at: 0)
        }
        if entry.downSince != nil { notes.append("The live stream is interrupted; candles resume after a backfill.") }
        var out = "{\"symbol\":"
        JSONNumber.appendString(request.symbol, to: &out)
        out += ",\"ticker\":"
        JSONNumber.appendString(request.symbol, to: &out)
        out += ",\"resultTicker\":"
        JSONNumber.appendString(key.ticker, to: &out)
        out += ",\"timeframe\":\"" + request.timeframe.label + "\""
        out += ",\"multiplier\":" + String(request.timeframe.multiplier)
        out += ",\"timespan\":\"" + request.timeframe.timespan.name + "\""
        out += ",\"resultGranularity\":\"" + request.timeframe.granularity + "\""
        out += ",\"sessionMode\":\"" + request.mode.rawValue + "\""
        out += ",\"from\":" + String(entry.meta?.from ?? 0) + ",\"to\":" + String(entry.meta?.to ?? 0)
        let candles = entry.series.candles
        out += ",\"count\":" + String(candles.count) + ",\"bars\":["
        for (index, candle) in candles.enumerated() {
            if index > 0 { out += "," }
            candle.appendJSON(to: &out)
        }
        out += "],\"marketClosed\":" + (market.isClosed ? "true" : "false")
        out += ",\"afterHours\":" + (market.afterHours ? "true" : "false")
        out += ",\"usingLastSession\":" + (entry.meta?.usingLastSession == true ? "true" : "false")
        out += ",\"note\":"
        if notes.isEmpty { out += "null" } else { JSONNumber.appendString(notes.joined(separator: " "), to: &out) }
        out += ",\"health\":\"" + entry.health + "\""
        out += ",\"source\":"
        JSONNumber.appendString(entry.meta?.source ?? "stream", to: &out)
        out += ",\"streaming\":true,\"marketStatus\":" + market.json.text + "}"
        return Array(out.utf8)
    }

    static func updatePayload(symbol: String, key: SeriesKey, bars: [Candle], health: String) -> [UInt8] {
        var out = "{\"symbol\":"
        JSONNumber.appendString(symbol, to: &out)
        out += ",\"resultTicker\":"
        JSONNumber.appendString(key.ticker, to: &out)
        out += ",\"timeframe\":\"" + key.timeframe.label + "\",\"bars\":["
        for (index, candle) in bars.enumerated() {
            if index > 0 { out += "," }
            candle.appendJSON(to: &out)
        }
        out += "],\"health\":\"" + health + "\"}"
        return Array(out.utf8)
    }

    static func errorPayload(symbol: String, timeframe: String, code: String, message: String) -> [UInt8] {
        JSONValue.object([
            ("symbol", .string(symbol)), ("timeframe", .string(timeframe)), ("code", .string(code)),
            ("message", .string(message)),
        ]).bytes
    }

    // MARK: Publishing (called with the state locked, so a series' events reach rooms in order)

    private func publish(state: State, key: SeriesKey, event: String, payload: (String) -> [UInt8]) {
        guard let entry = state.series[key] else { return }
        for symbol in entry.symbols.keys {
            let bytes = payload(symbol)
            let room = Self.room(symbol: symbol, key: key)
            for output in state.outputs.values {
                output.publish(room: room, event: event, payload: bytes, conflationKey: "")
            }
        }
    }

    private func publishUpdate(state: State, key: SeriesKey, bars: [Candle], health: String) {
        publish(state: state, key: key, event: "chart:update") { symbol in
            Self.updatePayload(symbol: symbol, key: key, bars: bars, health: health)
        }
        metrics.increment("markethub_chart_updates_total", help: "chart:update events published")
    }

    // MARK: Stream

    public func receive(bars: [Bar]) {
        var touched: [SeriesKey] = []
        var dropped = 0
        state.withLock { state in
            guard !state.byTicker.isEmpty else { return }
            for bar in bars {
                guard let keys = state.byTicker[bar.symbol] else { continue }
                if bar.timespan == .minute, bar.multiplier == 1 {
                    let key = UnsavedKey(ticker: bar.symbol, start: bar.startMilliseconds)
                    if state.unsavedBars[key] != nil || state.unsavedBars.count < Self.maximumUnsavedBars {
                        state.unsavedBars[key] = bar
                    } else {
                        dropped += 1
                    }
                }
                for key in keys {
                    let changed = state.series[key]?.series.apply(bar) ?? false
                    if changed, !touched.contains(key) { touched.append(key) }
                }
            }
            for key in touched {
                guard var entry = state.series[key], entry.loaded, !entry.backfilling else { continue }
                let changed = entry.series.takeChanged()
                state.series[key] = entry
                if !changed.isEmpty { publishUpdate(state: state, key: key, bars: changed, health: entry.health) }
            }
        }
        if !touched.isEmpty { retryDueBackfills(touched) }
        if dropped > 0 {
            metrics.increment(
                "markethub_chart_bars_unsaved_dropped_total", by: Double(dropped),
                help: "Streamed minute bars not cached because the write-behind buffer was full")
        }
    }

    // MARK: Write-behind of streamed bars

    /// Takes the streamed minute bars not yet cached (for `ChartBarPersistenceService`), oldest first.
    public func takeUnsavedBars() -> [Bar] {
        let bars = state.withLock { state -> [Bar] in
            defer { state.unsavedBars.removeAll(keepingCapacity: true) }
            return Array(state.unsavedBars.values)
        }
        return bars.sorted { ($0.startMilliseconds, $0.symbol) < ($1.startMilliseconds, $1.symbol) }
    }

    /// Puts back bars whose write failed, unless a newer version of the same bar arrived meanwhile.
    public func restoreUnsaved(_ bars: [Bar]) {
        state.withLock { state in
            for bar in bars {
                let key = UnsavedKey(ticker: bar.symbol, start: bar.startMilliseconds)
                guard state.unsavedBars[key] == nil, state.unsavedBars.count < Self.maximumUnsavedBars else { continue }
                state.unsavedBars[key] = bar
            }
        }
    }

    public func receive(quotes: [Quote]) {}

    public func receive(trades: [Trade]) {}

    /// Which provider connection a ticker's aggregates come on (the vendor has one per asset class).
    static func feed(of ticker: String) -> String {
        if ticker.hasPrefix("O:") { return "options" }
        if ticker.hasPrefix("I:") { return "indices" }
        return "stocks"
    }

    /// True when a state change of `feed` concerns `ticker` (a feed the hub does not know concerns everything).
    static func affects(feed: String, ticker: String) -> Bool {
        guard ["stocks", "options", "indices"].contains(feed) else { return true }
        return Self.feed(of: ticker) == feed
    }

    public func receive(state streamState: StreamState) {
        guard streamState.kind != .stopped else { return }
        let now = clock.nowMilliseconds
        var recovered: [(SeriesKey, Int64)] = []
        state.withLock { state in
            for (key, var entry) in state.series {
                guard Self.affects(feed: streamState.feed, ticker: key.ticker) else { continue }
                if streamState.kind == .live {
                    guard let since = entry.downSince else { continue }
                    entry.downSince = nil
                    // Backfill from the reported gap (or the drop), unless a session backfill is still running.
                    if entry.loaded, !entry.backfilling {
                        entry.backfilling = true
                        recovered.append((key, min(since, streamState.gap?.lowerBound ?? since)))
                    }
                    state.series[key] = entry
                } else {
                    guard entry.downSince == nil else { continue }
                    entry.downSince = now
                    state.series[key] = entry
                    if entry.loaded {
                        publishUpdate(state: state, key: key, bars: [], health: "degraded")
                    }
                }
            }
        }
        if !recovered.isEmpty {
            metrics.increment("markethub_chart_gap_backfills_total", by: Double(recovered.count))
        }
        for (key, from) in recovered { Task { _ = await self.backfill(key, from: from) } }
    }

    public func subscriptionFailed(symbol: String, channels: Channels, error: PluginError) {
        guard !channels.intersection(Self.channels).isEmpty else { return }
        let now = clock.nowMilliseconds
        state.withLock { state in
            for key in state.byTicker[symbol] ?? [] {
                if state.series[key]?.downSince == nil { state.series[key]?.downSince = now }
                publish(
                    state: state, key: key, event: "chart:error",
                    payload: { focused in
                        Self.errorPayload(
                            symbol: focused, timeframe: key.timeframe.label, code: LiveError.code(error),
                            message: "the upstream refused the live aggregates: \(error.message)")
                    })
            }
        }
    }
}
