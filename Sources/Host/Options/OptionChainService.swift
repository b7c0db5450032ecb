import Logging
import MarketCalendar
import MassiveWire
import PluginKit
import Synchronization

/// A parsed `/api/market/options/chain/:ticker` request.
public struct ChainQuery: Sendable, Equatable {
    public var underlying: String
    /// Expirations asked for; empty means the nearest one.
    public var expirations: [String] = []
    /// Strikes each side of the one nearest the money; nil means all.
    public var strikesAroundTheMoney: Int?
    public var strikeMinimum: Double?
    public var strikeMaximum: Double?

    public init(underlying: String) { self.underlying = underlying }
}

/// The spec's option chain: expirations, chain snapshots cached per (underlying, expiration) for 24 hours and
/// refreshed from the provider while the market moves, live quotes merged over the snapshot, missing Greeks
/// computed. Provider failures fall back to the cached snapshot with a note.
public final class OptionChainService: Sendable {
    public struct Options: Sendable {
        /// Risk-free rate for computed Greeks and implied volatility (continuously compounded).
        public var rate = 0.04
        /// Dividend yield for computed Greeks and implied volatility.
        public var dividendYield = 0.0
        /// A cached chain younger than this is served without asking the provider (market open).
        public var chainRefreshMilliseconds: Int64 = 60_000
        /// Cached chains older than this are not used at all (the spec's 24-hour TTL).
        public var chainMaximumAgeMilliseconds: Int64 = 86_400_000
        /// How long a listed-expirations answer is reused.
        public var expirationsRefreshMilliseconds: Int64 = 600_000

        public init() {}
    }

    /// One expiration's snapshot with where it came from.
    struct Snapshot: Sendable {
        var underlying: String
        var expiration: String
        var underlyingPrice: Double?
        var contracts: [OptionContract]
        var updatedMilliseconds: Int64
        /// "cache" or "provider".
        var source: String
        var note: String?
    }

    let gate: ProviderGate
    let cache: CachePlugin
    let status: MarketStatusService
    let router: QuoteRouter
    let clock: any HostClock
    let calendar: MarketCalendar
    let logger: Logger
    let metrics: MetricsRegistry
    let options: Options
    let greeks: GreeksCalculator
    private let flights = SingleFlight<OperationResult>(maximumConcurrent: 4)
    private let expirationLists = Mutex<[String: (dates: [String], at: Int64)]>([:])
    private let episodes: FailureEpisodes

    public init(
        gate: ProviderGate, cache: CachePlugin, status: MarketStatusService, router: QuoteRouter,
        clock: any HostClock, logger: Logger, metrics: MetricsRegistry, options: Options = Options(),
        calendar: MarketCalendar = .nyse
    ) {
        self.gate = gate
        self.cache = cache
        self.status = status
        self.router = router
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.options = options
        self.calendar = calendar
        greeks = GreeksCalculator(rate: options.rate, dividendYield: options.dividendYield)
        episodes = FailureEpisodes(logger: logger)
    }

    var today: CivilDate { EasternTime.local(atUTC: clock.nowMilliseconds).date }

    // MARK: Expirations

    /// Listed expirations from today on, ascending, with a note when they come from memory after a failure.
    func listedExpirations(_ underlying: String) async throws(MarketDataFailure) -> (dates: [String], note: String?) {
        let now = clock.nowMilliseconds
        let known = expirationLists.withLock { $0[underlying] }
        if let known, now - known.at < options.expirationsRefreshMilliseconds { return (current(known.dates), nil) }
        let result = await flights.run("expirations|\(underlying)") { [gate] in
            await gate.request(ProviderRequest(kind: .expirations, ticker: underlying))
        }.value
        if let error = result.error {
            if let known {
                return (
                    current(known.dates), "Data provider unavailable (\(error.message)); expirations as last known."
                )
            }
            throw .provider(error, subject: underlying, defaultRetryMilliseconds: gate.defaultCooldownMilliseconds)
        }
        let document = (try? JSONValue.parse(result.json)) ?? .null
        let dates = (document["expirations"]?.array ?? []).compactMap(\.string).filter { CivilDate($0) != nil }
            .sorted()
        expirationLists.withLock { lists in
            if lists.count > 5_000 { lists.removeAll() }
            lists[underlying] = (dates, now)
        }
        return (current(dates), nil)
    }

    private func current(_ dates: [String]) -> [String] {
        let first = today.description
        return dates.filter { $0 >= first }
    }

    /// True for the standard monthly expiration: the third Friday, or the Thursday before it when that Friday
    /// is an exchange holiday.
    func isMonthly(_ date: CivilDate) -> Bool {
        if date.weekday == 5 { return (15...21).contains(date.day) }
        let friday = date.adding(days: 1)
        return date.weekday == 4 && (15...21).contains(friday.day) && !calendar.isTradingDay(friday)
    }

    /// `GET /api/market/options/expirations/:ticker`.
    public func expirations(_ underlying: String) async throws(MarketDataFailure) -> JSONValue {
        let (dates, note) = try await listedExpirations(underlying)
        let today = self.today
        let entries: [JSONValue] = dates.compactMap { text in
            guard let date = CivilDate(text) else { return nil }
            return .object([
                ("date", .string(text)), ("daysToExpiry", .integer(Int64(date.daysSinceEpoch - today.daysSinceEpoch))),
                ("monthly", .bool(isMonthly(date))),
            ])
        }
        return .object([
            ("underlying", .string(underlying)), ("expirations", .array(entries)),
            ("note", note.map { .string($0) } ?? .null),
        ])
    }

    // MARK: Snapshots

    static func parseChain(_ bytes: [UInt8]) -> (underlying: String, price: Double?, contracts: [OptionContract])? {
        guard let document = try? JSONValue.parse(bytes), let contracts = document["contracts"]?.array else {
            return nil
        }
        return (
            document["underlying"]?.string ?? "", document["underlyingPrice"]?.double,
            contracts.compactMap(OptionContract.init(json:))
        )
    }

    /// Whether a cached snapshot taken at `updated` is good enough without asking the provider.
    func isFresh(updated: Int64, now: Int64, marketClosed: Bool) -> Bool {
        if now - updated < options.chainRefreshMilliseconds { return true }
        // With the market closed, a snapshot taken after the last close is as good as a new one.
        return marketClosed && updated >= calendar.lastCompletedRegularSession(before: now).regularClose
    }

    /// One expiration's chain: the cache when fresh, else the provider (stored back), else the cache with a
    /// note.
    func snapshot(
        underlying: String, expiration: String, marketClosed: Bool
    ) async throws(MarketDataFailure) -> Snapshot {
        let now = clock.nowMilliseconds
        var cached: Snapshot?
        let stored = await cache.getChain(
            underlying: underlying, expiration: expiration,
            maximumAgeMilliseconds: options.chainMaximumAgeMilliseconds)
        var cacheNote: String?
        if stored.isOK, let parsed = Self.parseChain(stored.json) {
            cached = Snapshot(
                underlying: underlying, expiration: expiration, underlyingPrice: parsed.price,
                contracts: parsed.contracts.filter { $0.expiration == expiration },
                updatedMilliseconds: stored.updatedMilliseconds, source: "cache")
        } else if !stored.isOK, stored.error?.statusName != "not_found" {
            cacheNote = "Cache unavailable (\(stored.message))."
        }
        if let cached, isFresh(updated: cached.updatedMilliseconds, now: now, marketClosed: marketClosed) {
            return cached
        }
        let params = JSONValue.object([("expiration", .string(expiration))])
        let result = await flights.run("chain|\(underlying)|\(expiration)") { [gate, cache, episodes] in
            let result = await gate.request(ProviderRequest(kind: .chainSnapshot, ticker: underlying, params: params))
            if result.isOK {
                let stored = await cache.putChain(underlying: underlying, expiration: expiration, json: result.json)
                if stored.isOK {
                    episodes.succeeded("cache", "chain snapshots are cached again")
                } else {
                    episodes.failed(
                        "cache", "could not cache a chain snapshot", metadata: ["error": "\(stored.message)"])
                }
            }
            return result
        }.value
        if let error = result.error {
            if var cached {
                cached.note = "Data provider unavailable (\(error.message)); showing the cached chain."
                if error.statusName == "rate_limited" {
                    let wait = error.retryAfterMilliseconds ?? gate.defaultCooldownMilliseconds
                    cached.note =
                        "Rate limited by the data provider; showing the cached chain (retry in \(max(1, wait / 1_000)) s)."
                }
                return cached
            }
            throw .provider(
                error, subject: "\(underlying) \(expiration)",
                defaultRetryMilliseconds: gate.defaultCooldownMilliseconds)
        }
        guard let parsed = Self.parseChain(result.json) else {
            throw MarketDataFailure(
                status: 502, code: "bad_gateway", message: "the provider sent an unreadable chain for \(underlying)")
        }
        return Snapshot(
            underlying: underlying, expiration: expiration, underlyingPrice: parsed.price,
            contracts: parsed.contracts.filter { $0.expiration == expiration }, updatedMilliseconds: now,
            source: "provider", note: cacheNote)
    }

    // MARK: Legs

    /// A contract as the chain and contract routes show it: live quote merged, missing Greeks computed, and its
    /// freshness (`live` only while streaming).
    func leg(
        _ contract: OptionContract, underlyingPrice: Double?, marketClosed: Bool, now: Int64
    ) -> (contract: OptionContract, json: JSONValue) {
        var contract = contract
        var freshness = marketClosed ? "frozen" : "stale"
        if router.subscriberCount(contract.ticker) > 0, let live = router.lastQuote(contract.ticker) {
            contract.bid = live.quote.bidPrice.isFinite ? live.quote.bidPrice : contract.bid
            contract.ask = live.quote.askPrice.isFinite ? live.quote.askPrice : contract.ask
            contract.updatedMilliseconds = live.updatedMilliseconds
            freshness = live.freshness
        }
        let source = greeks.fill(&contract, underlyingPrice: underlyingPrice, nowMilliseconds: now)
        func number(_ value: Double?) -> JSONValue { value.map { $0.isFinite ? .number($0) : .null } ?? .null }
        var midpoint: Double?
        if let bid = contract.bid, let ask = contract.ask, bid > 0, ask > 0 { midpoint = (bid + ask) / 2 }
        let json = JSONValue.object([
            ("ticker", .string(contract.ticker)), ("type", .string(contract.right.rawValue)),
            ("strike", .number(contract.strike)), ("expiration", .string(contract.expiration)),
            ("bid", number(contract.bid)), ("ask", number(contract.ask)), ("last", number(contract.last)),
            ("midpoint", number(midpoint)), ("volume", number(contract.volume)),
            ("openInterest", number(contract.openInterest)), ("iv", number(contract.impliedVolatility)),
            ("delta", number(contract.delta)), ("gamma", number(contract.gamma)), ("theta", number(contract.theta)),
            ("vega", number(contract.vega)), ("greeksSource", source.map { .string($0) } ?? .null),
            ("updatedAt", contract.updatedMilliseconds.map { .integer($0) } ?? .null),
            ("freshness", .string(freshness)),
        ])
        return (contract, json)
    }

    /// The underlying's price: its live midpoint while streaming, else the snapshot's.
    func underlyingPrice(_ underlying: String, snapshot: Double?) -> Double? {
        if router.subscriberCount(underlying) > 0, let live = router.lastQuote(underlying), live.freshness == "live" {
            let quote = live.quote
            if quote.bidPrice > 0, quote.askPrice >= quote.bidPrice { return (quote.bidPrice + quote.askPrice) / 2 }
        }
        return snapshot
    }

    /// The strikes kept by the query's window, ascending.
    static func window(_ strikes: [Double], query: ChainQuery, price: Double?) -> [Double] {
        var kept = strikes.sorted().filter { strike in
            (query.strikeMinimum.map { strike >= $0 } ?? true) && (query.strikeMaximum.map { strike <= $0 } ?? true)
        }
        if let count = query.strikesAroundTheMoney, let price, !kept.isEmpty {
            var nearest = 0
            for index in kept.indices where abs(kept[index] - price) < abs(kept[nearest] - price) { nearest = index }
            kept = Array(kept[max(0, nearest - count)...min(kept.count - 1, nearest + count)])
        }
        return kept
    }

    // MARK: Chain

    /// `GET /api/market/options/chain/:ticker`.
    public func chain(_ query: ChainQuery) async throws(MarketDataFailure) -> JSONValue {
        let market = await status.current()
        var notes: [String] = []
        var expirations = query.expirations
        if expirations.isEmpty {
            let listed = try await listedExpirations(query.underlying)
            if let note = listed.note { notes.append(note) }
            guard let nearest = listed.dates.first else {
                throw .notFound("\(query.underlying) has no listed option expirations from today on")
            }
            expirations = [nearest]
        }
        var snapshots: [Snapshot] = []
        for expiration in expirations {
            snapshots.append(
                try await snapshot(underlying: query.underlying, expiration: expiration, marketClosed: market.isClosed))
        }
        let now = clock.nowMilliseconds
        let price = underlyingPrice(query.underlying, snapshot: snapshots.lazy.compactMap(\.underlyingPrice).first)
        if query.strikesAroundTheMoney != nil, price == nil {
            notes.append("The underlying's price is unknown; every strike is shown.")
        }
        let today = self.today
        var groups: [JSONValue] = []
        for snapshot in snapshots {
            if let note = snapshot.note { notes.append(note) }
            let expiration = snapshot.expiration
            if snapshot.contracts.isEmpty { notes.append("No contracts are listed for \(expiration).") }
            var calls: [Double: OptionContract] = [:]
            var puts: [Double: OptionContract] = [:]
            for contract in snapshot.contracts {
                if contract.right == .call {
                    calls[contract.strike] = contract
                } else {
                    puts[contract.strike] = contract
                }
            }
            let strikes = Self.window(Array(Set(calls.keys).union(puts.keys)), query: query, price: price)
            let rows: [JSONValue] = strikes.map { strike in
                .object([
                    ("strike", .number(strike)),
                    (
                        "call",
                        calls[strike].map {
                            leg($0, underlyingPrice: price, marketClosed: market.isClosed, now: now).json
                        }
                            ?? .null
                    ),
                    (
                        "put",
                        puts[strike].map {
                            leg($0, underlyingPrice: price, marketClosed: market.isClosed, now: now).json
                        }
                            ?? .null
                    ),
                ])
            }
            let days = CivilDate(expiration).map { Int64($0.daysSinceEpoch - today.daysSinceEpoch) }
            groups.append(
                .object([
                    ("expiration", .string(expiration)), ("daysToExpiry", days.map { .integer($0) } ?? .null),
                    ("strikes", .array(rows)),
                ]))
        }
        let sources = Set(snapshots.map(\.source))
        let source = sources.count > 1 ? "cache+provider" : (sources.first ?? "provider")
        let degraded = snapshots.contains { $0.note != nil } || notes.contains { $0.contains("unavailable") }
        metrics.increment(
            "markethub_option_chain_requests_total", labels: [("source", source)], help: "Option chain requests")
        return .object([
            ("underlying", .string(query.underlying)), ("underlyingPrice", price.map { .number($0) } ?? .null),
            ("updatedAt", .integer(snapshots.map(\.updatedMilliseconds).min() ?? now)), ("source", .string(source)),
            ("note", notes.isEmpty ? .null : .string(notes.joined(separator: " "))),
            ("health", .string(degraded ? "degraded" : "ok")), ("marketStatus", market.json),
            ("expirations", .array(groups)),
        ])
    }

    // MARK: Contract

    /// `GET /api/market/options/contracts/:symbol`: one contract with missing Greeks, IV and open interest filled
    /// (open interest from the cached chain when the contract snapshot lacks it).
    public func contract(_ symbol: String) async throws(MarketDataFailure) -> JSONValue {
        guard let ticker = OptionTicker(symbol) else {
            throw .invalid("'\(symbol)' is not an option ticker like O:SPY251219C00650000")
        }
        let market = await status.current()
        let expiration = ticker.expiration.description
        let result = await gate.request(ProviderRequest(kind: .contractSnapshot, ticker: symbol))
        var underlying = ticker.root
        var price: Double?
        var found: OptionContract?
        var note: String?
        var updated: Int64?
        if result.isOK, let document = try? JSONValue.parse(result.json),
            let contract = document["contract"].flatMap(OptionContract.init(json:))
        {
            underlying = document["underlying"]?.string.flatMap { $0.isEmpty ? nil : $0 } ?? underlying
            price = document["underlyingPrice"]?.double
            found = contract
        }
        // The cached chain fills open interest, and stands in when the provider fails.
        let cached = await cache.getChain(
            underlying: underlying, expiration: expiration, maximumAgeMilliseconds: options.chainMaximumAgeMilliseconds)
        let fromChain =
            cached.isOK
            ? Self.parseChain(cached.json).flatMap { chain in
                chain.contracts.first { $0.ticker == symbol }.map { (chain.price, $0) }
            } : nil
        if found == nil, let error = result.error {
            guard let (chainPrice, contract) = fromChain else {
                throw .provider(error, subject: symbol, defaultRetryMilliseconds: gate.defaultCooldownMilliseconds)
            }
            found = contract
            price = chainPrice
            updated = cached.updatedMilliseconds
            note = "Data provider unavailable (\(error.message)); showing the cached chain's values."
        }
        guard var contract = found else {
            throw MarketDataFailure(
                status: 502, code: "bad_gateway", message: "the provider sent an unreadable contract for \(symbol)")
        }
        if contract.openInterest == nil, let cachedContract = fromChain?.1 {
            contract.openInterest = cachedContract.openInterest
        }
        if contract.updatedMilliseconds == nil { contract.updatedMilliseconds = updated }
        let underlyingPrice = self.underlyingPrice(underlying, snapshot: price)
        let shown = leg(
            contract, underlyingPrice: underlyingPrice, marketClosed: market.isClosed, now: clock.nowMilliseconds)
        guard case .object(var members) = shown.json else { return shown.json }
        members.insert(("underlying", .string(underlying)), at: 0)
        members.insert(("underlyingPrice", underlyingPrice.map { .number($0) } ?? .null), at: 1)
        members.append(("note", note.map { .string($0) } ?? .null))
        members.append(("health", .string(note == nil ? "ok" : "degraded")))
        return .object(members)
    }
}
