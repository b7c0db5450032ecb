import Logging
import MarketCalendar
import MassiveWire
import PluginKit

/// Quotes, trades and watchlist snapshots for REST: the live value while the quote router streams a symbol,
/// else the provider, else the last value the cache kept, each with its freshness (only streamed values are
/// `live`).
public final class MarketSnapshotService: Sendable {
    let gate: ProviderGate
    let cache: CachePlugin
    let status: MarketStatusService
    let router: QuoteRouter
    let clock: any HostClock
    let logger: Logger
    /// A cached last quote younger than this is served without asking the provider.
    let cachedQuoteMaximumAgeMilliseconds: Int64

    public init(
        gate: ProviderGate, cache: CachePlugin, status: MarketStatusService, router: QuoteRouter,
        clock: any HostClock, logger: Logger, cachedQuoteMaximumAgeMilliseconds: Int64 = 15_000
    ) {
        self.gate = gate
        self.cache = cache
        self.status = status
        self.router = router
        self.clock = clock
        self.logger = logger
        self.cachedQuoteMaximumAgeMilliseconds = cachedQuoteMaximumAgeMilliseconds
    }

    /// The `live:quote` payload plus `source` and `note`.
    static func quoteBody(_ quote: Quote, freshness: String, source: String, note: String?) -> [UInt8] {
        var text = QuoteRouter.quotePayload(quote, freshness: freshness)
        text.removeLast()
        text += ",\"source\":\"" + source + "\",\"note\":"
        if let note { JSONNumber.appendString(note, to: &text) } else { text += "null" }
        text += "}"
        return Array(text.utf8)
    }

    static func quote(from last: LastQuote) -> Quote {
        var quote = Quote(
            symbol: last.symbol, timestampNanoseconds: last.updatedMilliseconds * 1_000_000, bidPrice: last.bidPrice,
            askPrice: last.askPrice, bidSize: .nan, askSize: .nan)
        quote.flags = QuoteRouter.flags(quote)
        return quote
    }

    /// `GET /api/market/quotes/:contract`: the NBBO snapshot as JSON bytes.
    public func quote(_ symbol: String) async throws(MarketDataFailure) -> [UInt8] {
        if router.subscriberCount(symbol) > 0, let live = router.lastQuote(symbol) {
            return Self.quoteBody(live.quote, freshness: live.freshness, source: "live", note: nil)
        }
        let closed = await status.current().isClosed
        let restFreshness = closed ? "frozen" : "stale"
        let now = clock.nowMilliseconds
        let stored = await cache.getLastQuotes([symbol])
        let cached = stored.isOK ? stored.lastQuotes.first { $0.symbol == symbol } : nil
        if let cached, now - cached.updatedMilliseconds < cachedQuoteMaximumAgeMilliseconds || closed {
            return Self.quoteBody(Self.quote(from: cached), freshness: restFreshness, source: "cache", note: nil)
        }
        let result = await gate.request(ProviderRequest(kind: .quotes, ticker: symbol, limit: 1))
        if result.isOK, var quote = result.quotes.first {
            quote.symbol = symbol
            quote.flags = QuoteRouter.flags(quote)
            return Self.quoteBody(quote, freshness: restFreshness, source: "provider", note: nil)
        }
        let error = result.error ?? .notFound("no quote for \(symbol)")
        if let cached {
            return Self.quoteBody(
                Self.quote(from: cached), freshness: restFreshness, source: "cache",
                note: "Data provider unavailable (\(error.message)); showing the last known quote.")
        }
        if let known = router.lastQuote(symbol) {
            return Self.quoteBody(
                known.quote, freshness: restFreshness, source: "cache",
                note: "Data provider unavailable (\(error.message)); showing the last streamed quote.")
        }
        if let fromChain = await chainQuote(symbol) {
            let note =
                result.isOK ? nil : "Data provider unavailable (\(error.message)); showing the cached chain's quote."
            return Self.quoteBody(fromChain, freshness: restFreshness, source: "cache", note: note)
        }
        if result.isOK {
            throw .notFound("no quote for \(symbol) yet")
        }
        throw .provider(error, subject: symbol, defaultRetryMilliseconds: gate.defaultCooldownMilliseconds)
    }

    /// An option's bid and ask from the cached chain snapshot of its expiration (what the chain route showed).
    func chainQuote(_ symbol: String) async -> Quote? {
        guard let ticker = OptionTicker(symbol) else { return nil }
        let stored = await cache.getChain(
            underlying: ticker.root, expiration: ticker.expiration.description, maximumAgeMilliseconds: 86_400_000)
        guard stored.isOK, let chain = OptionChainService.parseChain(stored.json),
            let contract = chain.contracts.first(where: { $0.ticker == symbol }),
            let bid = contract.bid, let ask = contract.ask
        else { return nil }
        let updated = contract.updatedMilliseconds ?? stored.updatedMilliseconds
        var quote = Quote(
            symbol: symbol, timestampNanoseconds: updated * 1_000_000, bidPrice: bid, askPrice: ask,
            bidSize: contract.bidSize ?? .nan, askSize: contract.askSize ?? .nan)
        quote.flags = QuoteRouter.flags(quote)
        return quote
    }

    /// `GET /api/market/trades/:contract`: recent trades, oldest first.
    public func trades(_ symbol: String, limit: Int) async throws(MarketDataFailure) -> JSONValue {
        let streamed = router.recentTrades(symbol, limit: limit)
        var trades: [Trade]
        var note: String?
        var source = "live"
        if router.subscriberCount(symbol) > 0, streamed.count >= limit {
            trades = streamed
        } else {
            let result = await gate.request(ProviderRequest(kind: .trades, ticker: symbol, limit: UInt32(limit)))
            if result.isOK {
                trades = result.trades
                source = "provider"
            } else if let error = result.error, !streamed.isEmpty {
                trades = streamed
                source = "cache"
                note = "Data provider unavailable (\(error.message)); showing the trades streamed so far."
            } else {
                let error = result.error ?? .internalError("provider failed")
                throw .provider(error, subject: symbol, defaultRetryMilliseconds: gate.defaultCooldownMilliseconds)
            }
        }
        // Both sources give newest first; clients get them oldest first, like live:trades.
        trades = Array(trades.prefix(limit)).sorted { $0.timestampNanoseconds < $1.timestampNanoseconds }
        for index in trades.indices { trades[index].symbol = symbol }
        let payload = QuoteRouter.tradesPayload(symbol: symbol, trades: trades[...])
        guard case .object(var members) = (try? JSONValue.parse(payload)) ?? .null else { return .null }
        members.append(("source", .string(source)))
        members.append(("note", note.map { .string($0) } ?? .null))
        return .object(members)
    }

    /// `GET /api/market/watchlist`: one item per requested ticker, in order; tickers the provider does not know
    /// carry an `error` instead of failing the request.
    public func watchlist(_ tickers: [String]) async throws(MarketDataFailure) -> JSONValue {
        let closed = await status.current().isClosed
        let params = JSONValue.object([("tickers", .array(tickers.map { .string($0) }))])
        let result = await gate.request(ProviderRequest(kind: .tickerSnapshots, params: params))
        var snapshots: [String: JSONValue] = [:]
        var note: String?
        var lastQuotes: [String: LastQuote] = [:]
        if result.isOK {
            let document = (try? JSONValue.parse(result.json)) ?? .null
            for entry in document["tickers"]?.array ?? [] {
                if let ticker = entry["ticker"]?.string { snapshots[ticker] = entry }
            }
        } else {
            let error = result.error ?? .internalError("provider failed")
            let stored = await cache.getLastQuotes(tickers)
            for quote in stored.isOK ? stored.lastQuotes : [] { lastQuotes[quote.symbol] = quote }
            let streamed = tickers.contains { router.lastQuote($0) != nil }
            if lastQuotes.isEmpty, !streamed {
                throw .provider(
                    error, subject: tickers.joined(separator: ","),
                    defaultRetryMilliseconds: gate.defaultCooldownMilliseconds)
            }
            note = "Data provider unavailable (\(error.message)); showing last known prices."
        }
        func number(_ value: Double?) -> JSONValue { value.map { $0.isFinite ? .number($0) : .null } ?? .null }
        var items: [JSONValue] = []
        for ticker in tickers {
            var last: Double?
            var previousClose: Double?
            var volume: Double?
            var updated: Int64?
            var freshness = closed ? "frozen" : "stale"
            if let snapshot = snapshots[ticker] {
                previousClose = snapshot["prevClose"]?.double
                // Before the day's first trade the last price is the previous close.
                last = snapshot["last"]?.double ?? previousClose
                volume = snapshot["volume"]?.double
                updated = snapshot["updatedMs"]?.int64
            } else if let cached = lastQuotes[ticker] {
                last = cached.lastPrice.isFinite ? cached.lastPrice : (cached.midpoint.isFinite ? cached.midpoint : nil)
                updated = cached.updatedMilliseconds
            }
            // A streamed symbol's latest trade is newer than any snapshot.
            if router.subscriberCount(ticker) > 0, let live = router.lastQuote(ticker) {
                freshness = live.freshness
                if let trade = router.recentTrades(ticker, limit: 1).first {
                    last = trade.price
                    updated = max(updated ?? 0, trade.timestampNanoseconds / 1_000_000)
                }
            }
            if last == nil, snapshots[ticker] == nil, lastQuotes[ticker] == nil {
                items.append(
                    .object([
                        ("ticker", .string(ticker)), ("error", .string("not_found")),
                        ("message", .string("no snapshot for \(ticker)")),
                    ]))
                continue
            }
            let change = last.flatMap { value in previousClose.map { value - $0 } }
            let percent = change.flatMap { delta in previousClose.flatMap { $0 != 0 ? delta / $0 * 100 : nil } }
            items.append(
                .object([
                    ("ticker", .string(ticker)), ("last", number(last)), ("change", number(change)),
                    ("changePercent", number(percent)), ("volume", number(volume)),
                    ("prevClose", number(previousClose)), ("updatedAt", updated.map { .integer($0) } ?? .null),
                    ("freshness", .string(freshness)),
                ]))
        }
        return .object([
            ("items", .array(items)), ("note", note.map { .string($0) } ?? .null),
            ("health", .string(note == nil ? "ok" : "degraded")),
        ])
    }
}
