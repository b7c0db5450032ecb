import Logging
import MarketCalendar
import PluginAPI
import PluginKit
import Synchronization

/// A parsed `/api/market/aggs` request.
public struct AggregatesQuery: Sendable, Equatable {
    public enum SessionMode: String, Sendable {
        case regular
        case extended
    }

    public var ticker: String
    public var multiplier: Int32
    public var timespan: Timespan
    /// Inclusive bounds on bar start; nil means the default window for the timespan.
    public var fromMilliseconds: Int64?
    public var toMilliseconds: Int64?
    public var limit: Int
    public var sessionMode: SessionMode

    public init(
        ticker: String, multiplier: Int32 = 1, timespan: Timespan = .day, fromMilliseconds: Int64? = nil,
        toMilliseconds: Int64? = nil, limit: Int = 5_000, sessionMode: SessionMode = .regular
    ) {
        self.ticker = ticker
        self.multiplier = multiplier
        self.timespan = timespan
        self.fromMilliseconds = fromMilliseconds
        self.toMilliseconds = toMilliseconds
        self.limit = limit
        self.sessionMode = sessionMode
    }

    public var isIntraday: Bool { timespan == .second || timespan == .minute || timespan == .hour }
}

/// Bars with the session metadata the chart needs.
public struct AggregatesAnswer: Sendable {
    public var ticker: String
    /// Whose bars these are: the underlying for an intraday option chart.
    public var resultTicker: String
    public var query: AggregatesQuery
    public var fromMilliseconds: Int64
    public var toMilliseconds: Int64
    public var bars: [Bar]
    public var marketClosed: Bool
    public var afterHours: Bool
    public var usingLastSession: Bool
    public var notes: [String]
    /// "ok" or "degraded".
    public var health: String
    /// "cache", "provider" or "cache+provider".
    public var source: String
    public var marketStatus: MarketStatusService.Status
    /// Set when the provider could not fill the window (failed, or paused by a rate-limit cooldown) and the
    /// answer is what the cache held.
    public var fetchError: AggregatesFailure?

    public var resultGranularity: String { "\(query.multiplier)/\(query.timespan.name)" }
}

/// Why an aggregates request could not be answered at all (nothing cached either).
public struct AggregatesFailure: Error, Sendable {
    public var status: Int
    public var code: String
    public var message: String
    public var retryAfterMilliseconds: Int64?
}

/// The spec's chart data pipeline for REST: cache first, fetch only what is missing, single-flight, a
/// cooldown after rate limiting, and session metadata (closed market, last session, notes, health).
public final class AggregatesService: Sendable {
    public struct Options: Sendable {
        /// Distinct provider fetches running at once.
        public var maximumConcurrentFetches = 4
        /// Cooldown after a rate-limited answer that did not say how long to wait.
        public var defaultCooldownMilliseconds: Int64 = 60_000
        /// Cached intraday bars of the running session older than this are refreshed.
        public var intradayFreshnessMilliseconds: Int64 = 60_000
        /// Cached daily bars of the running session older than this are refreshed.
        public var dailyFreshnessMilliseconds: Int64 = 300_000
        /// Daily and longer requests without `from` cover this many days back.
        public var defaultDailyLookbackDays: Int64 = 365
        /// How long the encoded body of a healthy answer served from the cache may be reused for the same query
        /// (until the service fetches anything new); 0 turns reuse off. See `AggregatesResponseCache`.
        public var responseReuseMilliseconds: Int64 = 1_000

        public init() {}
    }

    let provider: any ProviderLookups
    let cache: CachePlugin
    let status: MarketStatusService
    let clock: any HostClock
    let calendar: MarketCalendar
    let logger: Logger
    let metrics: MetricsRegistry
    let options: Options
    let sourceName: String
    private let flights: SingleFlight<FetchOutcome>
    private let cooldownUntil = Mutex<Int64>(0)
    private let episodes: FailureEpisodes
    /// Ranges already asked of the provider per series, so empty stretches are not fetched again and again.
    private let fetched = Mutex<[String: ClosedRange<Int64>]>([:])
    /// Bumped whenever fetched bars are stored, so reused response bodies never hide new data.
    private let version = Atomic<UInt64>(0)
    /// Encoded bodies of recent cache-only answers (used by `AggregatesRoutes`).
    let responses: AggregatesResponseCache

    struct FetchOutcome: Sendable {
        var bars: [Bar]
        var error: PluginError?
    }

    public init(
        provider: any ProviderLookups, cache: CachePlugin, status: MarketStatusService, clock: any HostClock,
        logger: Logger, metrics: MetricsRegistry, sourceName: String, options: Options = Options(),
        calendar: MarketCalendar = .nyse
    ) {
        self.provider = provider
        self.cache = cache
        self.status = status
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.options = options
        self.calendar = calendar
        self.sourceName = sourceName
        // A request that found the cache empty just before the leader stored its bars shares the leader's answer.
        flights = SingleFlight(
            maximumConcurrent: options.maximumConcurrentFetches, lingerMilliseconds: 1_000,
            now: { [clock] in clock.nowMilliseconds })
        episodes = FailureEpisodes(logger: logger)
        responses = AggregatesResponseCache(lifetimeMilliseconds: options.responseReuseMilliseconds)
    }

    /// Changes whenever the service has stored fetched bars.
    var dataVersion: UInt64 { version.load(ordering: .acquiring) }

    func countRequest(source: String, health: String) {
        metrics.increment(
            "markethub_aggs_requests_total", labels: [("source", source), ("health", health)],
            help: "Aggregates requests")
    }

    /// True while provider fetches are paused after a rate-limited answer.
    public var coolingDown: Bool { cooldownUntil.withLock { $0 } > clock.nowMilliseconds }

    /// The OCC root of an option ticker ("O:SPY251219C00650000" → "SPY"), or nil for other tickers.
    static func underlying(of ticker: String) -> String? {
        guard ticker.hasPrefix("O:"), SymbolRules.isOptionTicker(ticker) else { return nil }
        let body = ticker.dropFirst(2)
        return String(body.prefix(body.count - 15))
    }

    static func periodMilliseconds(_ query: AggregatesQuery) -> Int64 {
        (query.timespan.fixedMilliseconds ?? 2_592_000_000) * Int64(query.multiplier)
    }

    public func answer(_ query: AggregatesQuery) async throws(AggregatesFailure) -> AggregatesAnswer {
        let now = clock.nowMilliseconds
        let market = await status.current()
        var notes: [String] = []
        var resultTicker = query.ticker
        if query.isIntraday, let root = Self.underlying(of: query.ticker) {
            resultTicker = root
            notes.append("Intraday option charts use the underlying's candles (\(root)).")
        }
        // The window: explicit, else a year of daily bars, else the running (or last) session.
        var usingLastSession = false
        let from: Int64
        let to: Int64
        if let explicitFrom = query.fromMilliseconds {
            from = explicitFrom
            to = query.toMilliseconds ?? now
        } else if !query.isIntraday {
            to = query.toMilliseconds ?? now
            // From the New York midnight that starts the day a lookback ago: daily bars start there, and the
            // window does not move with each request's millisecond (so identical requests share one fetch).
            from = EasternTime.midnight(
                of: EasternTime.local(atUTC: to - options.defaultDailyLookbackDays * 86_400_000).date)
        } else {
            // The provider's market status decides whether the market is closed (a replay lives on its own
            // clock); the calendar gives the session times.
            let session = calendar.session(at: now)
            let day: TradingDay
            if market.isClosed || (session == .pre && query.sessionMode == .regular) {
                day = calendar.lastCompletedRegularSession(before: now)
                usingLastSession = true
                notes.append("Market closed: showing the last session (\(day.date)).")
            } else {
                day = calendar.currentOrLastRegularSession(at: now)
            }
            from = query.sessionMode == .extended ? day.preOpen : day.regularOpen
            to = query.toMilliseconds ?? (query.sessionMode == .extended ? day.afterClose : day.regularClose) - 1
        }
        guard from <= to else {
            throw AggregatesFailure(
                status: 400, code: "invalid_request", message: "from must not be after to", retryAfterMilliseconds: nil)
        }
        let barQuery = BarQuery(
            ticker: resultTicker, timespan: query.timespan, multiplier: query.multiplier, fromMilliseconds: from,
            toMilliseconds: to
        )
        // 1. Cache first.
        var cacheFailed = false
        let cachedResult = await cache.getBars(barQuery)
        var cached: [Bar] = []
        if cachedResult.isOK {
            cached = cachedResult.bars
        } else {
            cacheFailed = true
            notes.append("Cache unavailable (\(cachedResult.message)); bars come from the provider only.")
        }
        // 2. What is missing or stale.
        // With the cache unreachable, what was fetched before is not at hand: ask the provider again.
        let missing = missingRange(
            query: query, key: barQuery, cached: cached, from: from, to: to, now: now, trustFetched: !cacheFailed)
        var source = "cache"
        var health = cacheFailed ? "degraded" : "ok"
        var bars = cached
        var fetchError: AggregatesFailure?
        if let missing {
            if coolingDown {
                let wait = cooldownUntil.withLock { $0 } - now
                notes.append(
                    "Rate limited by the data provider; showing cached bars (retry in \(max(1, wait / 1_000)) s).")
                health = "degraded"
                fetchError = AggregatesFailure(
                    status: 429, code: "rate_limited", message: "the data provider is rate limiting requests",
                    retryAfterMilliseconds: wait)
                if bars.isEmpty {
                    throw AggregatesFailure(
                        status: 429, code: "rate_limited",
                        message:
                            "the data provider is rate limiting requests and nothing is cached for \(resultTicker)",
                        retryAfterMilliseconds: wait
                    )
                }
            } else {
                let outcome = await fetch(barQuery, range: missing)
                if let error = outcome.error {
                    health = "degraded"
                    fetchError = AggregatesFailure(
                        status: 503, code: error.statusName, message: error.message,
                        retryAfterMilliseconds: error.retryAfterMilliseconds)
                    if error.status == mh_status(MH_RATE_LIMITED) {
                        let wait = error.retryAfterMilliseconds ?? options.defaultCooldownMilliseconds
                        notes.append(
                            "Rate limited by the data provider; showing cached bars (retry in \(max(1, wait / 1_000)) s)."
                        )
                        if bars.isEmpty {
                            throw AggregatesFailure(
                                status: 429, code: "rate_limited",
                                message:
                                    "the data provider is rate limiting requests and nothing is cached for \(resultTicker)",
                                retryAfterMilliseconds: wait
                            )
                        }
                    } else if bars.isEmpty {
                        let code = error.statusName
                        let statusCode =
                            switch code {
                            case "not_found": 404
                            case "invalid": 400
                            case "unauthorized", "not_entitled": 502
                            default: 503
                            }
                        throw AggregatesFailure(
                            status: statusCode, code: code, message: "\(resultTicker): \(error.message)",
                            retryAfterMilliseconds: nil
                        )
                    } else {
                        notes.append("Data provider unavailable (\(error.message)); showing cached bars.")
                    }
                } else {
                    source = cached.isEmpty ? "provider" : "cache+provider"
                    bars = Self.merge(cached, outcome.bars, from: from, to: to)
                }
            }
        }
        // 3. Session filter and limit.
        if query.isIntraday, query.sessionMode == .regular {
            bars = bars.filter { calendar.session(at: $0.startMilliseconds) == .regular }
        }
        if query.limit > 0, bars.count > query.limit { bars = Array(bars.suffix(query.limit)) }
        countRequest(source: source, health: health)
        return AggregatesAnswer(
            ticker: query.ticker, resultTicker: resultTicker, query: query, fromMilliseconds: from, toMilliseconds: to,
            bars: bars, marketClosed: market.isClosed, afterHours: market.afterHours,
            usingLastSession: usingLastSession,
            notes: notes, health: health, source: source, marketStatus: market, fetchError: fetchError
        )
    }

    /// The range to ask the provider for, or nil when the cache covers the window and is fresh enough.
    func missingRange(
        query: AggregatesQuery, key: BarQuery, cached: [Bar], from: Int64, to: Int64, now: Int64,
        trustFetched: Bool = true
    ) -> ClosedRange<Int64>? {
        let period = Self.periodMilliseconds(query)
        let effectiveTo = min(to, now)
        guard from <= effectiveTo else { return nil }
        let seriesKey = "\(key.ticker)|\(key.multiplier)|\(key.timespan.name)"
        let known = trustFetched ? fetched.withLock { $0[seriesKey] } : nil
        // Gaps the provider has already been asked about are not asked again; the running bar is.
        func covered(_ range: ClosedRange<Int64>) -> Bool {
            guard let known else { return false }
            return known.lowerBound <= range.lowerBound && known.upperBound >= range.upperBound
        }
        guard let first = cached.first, let last = cached.last else {
            let whole = from...effectiveTo
            return covered(whole) && effectiveTo < now - period ? nil : whole
        }
        let tolerance = query.isIntraday ? 2 * period : max(4 * 86_400_000, 2 * period)
        var lower: Int64?
        var upper: Int64?
        if first.startMilliseconds > from + tolerance, !covered(from...first.startMilliseconds) {
            lower = from
            upper = first.startMilliseconds
        }
        let runningWindow = effectiveTo >= now - period
        let freshness = query.isIntraday ? options.intradayFreshnessMilliseconds : options.dailyFreshnessMilliseconds
        let staleTail = runningWindow && now - last.updatedMilliseconds > freshness
        if last.startMilliseconds < effectiveTo - tolerance || staleTail {
            if !covered(last.startMilliseconds...effectiveTo) || staleTail {
                lower = lower ?? last.startMilliseconds
                upper = effectiveTo
            }
        }
        guard let lower, let upper else { return nil }
        return lower...max(lower, upper)
    }

    /// How far behind the clock a range's end may be and still mean "up to now" (requests queue briefly).
    static let presentToleranceMilliseconds: Int64 = 5_000

    /// Fetches a range from the provider (shared among identical concurrent requests) and upserts it.
    func fetch(_ key: BarQuery, range: ClosedRange<Int64>) async -> FetchOutcome {
        // A range that runs up to the present ends at each request's own millisecond; such requests want the
        // same thing ("up to now"), so they share one flight and take the leader's answer.
        let upToNow = range.upperBound >= clock.nowMilliseconds - Self.presentToleranceMilliseconds
        let end = upToNow ? "now" : String(range.upperBound)
        let flightKey = "\(key.ticker)|\(key.multiplier)|\(key.timespan.name)|\(range.lowerBound)|\(end)"
        let (outcome, leader) = await flights.run(flightKey) { [self] in
            metrics.increment("markethub_aggs_provider_fetches_total", help: "Aggregates fetched from the provider")
            let result = await provider.request(
                ProviderRequest(
                    kind: .aggregates, ticker: key.ticker, multiplier: key.multiplier, timespan: key.timespan,
                    fromMilliseconds: range.lowerBound, toMilliseconds: range.upperBound, limit: 50_000
                )
            )
            guard result.isOK else {
                let error = result.error ?? PluginError.internalError("provider failed")
                if error.status == mh_status(MH_RATE_LIMITED) {
                    let wait = error.retryAfterMilliseconds ?? options.defaultCooldownMilliseconds
                    let until = clock.nowMilliseconds + wait
                    cooldownUntil.withLock { $0 = max($0, until) }
                    logger.debug("provider rate limited aggregates; cooling down", metadata: ["retry.ms": "\(wait)"])
                } else if error.statusName != "not_found" {
                    episodes.failed(
                        "fetch", "aggregates fetch failed", metadata: ["ticker": "\(key.ticker)", "error": "\(error)"])
                }
                return FetchOutcome(bars: [], error: error)
            }
            episodes.succeeded("fetch", "aggregates fetches succeed again")
            var bars = result.bars.filter {
                $0.startMilliseconds >= range.lowerBound && $0.startMilliseconds <= range.upperBound
            }
            for index in bars.indices {
                bars[index].symbol = key.ticker
                bars[index].timespan = key.timespan
                bars[index].multiplier = key.multiplier
                bars[index].source = sourceName
            }
            let stored = await cache.putBars(bars)
            version.add(1, ordering: .releasing)
            if stored.isOK {
                episodes.succeeded("cache", "fetched bars are cached again")
            } else {
                episodes.failed("cache", "could not cache fetched bars", metadata: ["error": "\(stored.message)"])
            }
            let now = clock.nowMilliseconds
            for index in bars.indices { bars[index].updatedMilliseconds = now }
            let seriesKey = "\(key.ticker)|\(key.multiplier)|\(key.timespan.name)"
            fetched.withLock { known in
                if let existing = known[seriesKey],
                    existing.overlaps(range) || existing.upperBound + 1 == range.lowerBound
                {
                    known[seriesKey] =
                        min(existing.lowerBound, range.lowerBound)...max(existing.upperBound, range.upperBound)
                } else {
                    known[seriesKey] = range
                }
                if known.count > 10_000 { known.removeAll() }
            }
            return FetchOutcome(bars: bars, error: nil)
        }
        if !leader {
            metrics.increment("markethub_aggs_shared_fetches_total", help: "Requests that shared an in-flight fetch")
        }
        return outcome
    }

    /// Cached and fetched bars as one ascending series; fetched bars win for the same start.
    static func merge(_ cached: [Bar], _ fetched: [Bar], from: Int64, to: Int64) -> [Bar] {
        var byStart: [Int64: Bar] = [:]
        for bar in cached { byStart[bar.startMilliseconds] = bar }
        for bar in fetched where bar.startMilliseconds >= from && bar.startMilliseconds <= to {
            byStart[bar.startMilliseconds] = bar
        }
        return byStart.keys.sorted().compactMap { byStart[$0] }
    }
}
