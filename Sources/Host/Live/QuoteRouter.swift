import Logging
import MarketCalendar
import PluginAPI
import PluginKit
import Synchronization

/// Routes live quotes and trades to the clients that asked for them (the spec's Quote Event Handler).
///
/// - `live:subscribe {symbol}` adds the client to the symbol's room; the first subscriber subscribes upstream
///   (quotes and trades), the last one leaving unsubscribes, and a disconnect releases everything the client
///   held. The client gets the last known quote and recent trades at once, so its screen is not blank until
///   the next tick.
/// - Each quote is checked (an older sequence than the last seen is ignored; crossed, locked and zero quotes
///   are flagged, not dropped), encoded once, and published to the room with the symbol as conflation key, so
///   a slow client keeps only the newest quote per symbol. Trades are published in per-symbol batches and are
///   never conflated.
/// - Refusals (invalid symbol, per-client limit, the vendor's 1,000 option quote cap, upstream refusal) go to
///   the client as `live:error {symbol, code, message}`.
public final class QuoteRouter: MarketDataSink, Sendable {
    public struct Limits: Sendable {
        /// Symbols one client may hold at once.
        public var maximumSubscriptionsPerClient = 200
        /// Option contracts subscribed upstream at once (the vendor allows 1,000 quote subscriptions).
        public var maximumOptionQuoteSubscriptions = 1_000
        /// Trades kept per symbol for new subscribers and REST.
        public var recentTrades = 50
        /// A quote older than this (with the market open) is reported `stale`.
        public var staleAfterMilliseconds: Int64 = 15_000

        public init() {}
    }

    /// Last known state of one symbol.
    struct SymbolState {
        var quote: Quote?
        var quoteUpdatedMilliseconds: Int64 = 0
        var lastSequence: Int64 = -1
        var trades: [Trade] = []
        var dirty = false
        /// The quote has been republished as `stale` since its last update.
        var staleAnnounced = false
    }

    struct State {
        var subscribers: [String: Set<ClientKey>] = [:]
        var clientSymbols: [ClientKey: Set<String>] = [:]
        var outputs: [ObjectIdentifier: any LiveOutput] = [:]
        var symbols: [String: SymbolState] = [:]
        var upstreamOptionSymbols = 0
        /// The market status service's last answer (the provider's, or the calendar's when the provider could
        /// not say); nil until the first answer, when the calendar decides. The provider's answer wins over the
        /// calendar: a replayed session is open while it replays, whatever the wall-clock date.
        var marketClosed: Bool?
    }

    let upstream: any UpstreamSubscriptions
    let clock: any HostClock
    let calendar: MarketCalendar
    let logger: Logger
    let metrics: MetricsRegistry
    let limits: Limits
    /// Reads last known quotes from durable storage (the cache), to hydrate a symbol nobody streamed yet.
    let recall: (@Sendable ([String]) async -> [LastQuote])?
    /// Where room events go: this host's transports, and other hosts' when clustered.
    let fanOut: any FanOutBus
    private let state = Mutex(State())

    public static let channels: Channels = [.quotes, .trades]

    public init(
        upstream: any UpstreamSubscriptions, clock: any HostClock, logger: Logger, metrics: MetricsRegistry,
        limits: Limits = Limits(), calendar: MarketCalendar = .nyse,
        recall: (@Sendable ([String]) async -> [LastQuote])? = nil, fanOut: any FanOutBus = LocalFanOut()
    ) {
        self.recall = recall
        self.fanOut = fanOut
        self.upstream = upstream
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.limits = limits
        self.calendar = calendar
    }

    /// The room a symbol's live events go to.
    public static func room(_ symbol: String) -> String { "live:" + symbol }

    /// Registers the router's client events and connection observer with the host core.
    public func attach(to core: HostCore) {
        core.addStreamObserver(self)
        core.onEvent("live:subscribe") { [weak self] transport, clientID, arguments in
            await self?.subscribe(output: transport, clientID: clientID, arguments: arguments) ?? .null
        }
        core.onEvent("live:unsubscribe") { [weak self] transport, clientID, arguments in
            self?.unsubscribe(output: transport, clientID: clientID, arguments: arguments) ?? .null
        }
        core.onConnection { [weak self] transport, clientID, connected in
            if !connected { self?.release(output: transport, clientID: clientID) }
        }
    }

    // MARK: Client requests

    /// Reads `{symbol}` from an event's arguments; nil when absent or not a string.
    static func symbolArgument(_ arguments: JSONValue) -> String? {
        guard case .array(let values) = arguments, let first = values.first else { return nil }
        if let text = first.string { return text }
        return first["symbol"]?.string
    }

    func reply(ok symbol: String) -> JSONValue {
        .array([.object([("ok", .bool(true)), ("symbol", .string(symbol))])])
    }

    func refuse(
        _ output: any LiveOutput, _ clientID: UInt64, symbol: String, code: String, message: String
    ) -> JSONValue {
        let payload = LiveError.payload(symbol: symbol, code: code, message: message)
        output.send(clientID: clientID, event: "live:error", payload: payload.bytes)
        metrics.increment("markethub_live_errors_total", labels: [("code", code)], help: "live:error events sent")
        return .array([
            .object([
                ("ok", .bool(false)), ("symbol", .string(symbol)), ("error", .string(code)),
                ("message", .string(message)),
            ])
        ])
    }

    /// Handles `live:subscribe`. Returns the ack arguments.
    public func subscribe(output: any LiveOutput, clientID: UInt64, arguments: JSONValue) async -> JSONValue {
        guard let raw = Self.symbolArgument(arguments) else {
            return refuse(
                output, clientID, symbol: "", code: "invalid_request", message: "live:subscribe needs {symbol}")
        }
        guard let symbol = SymbolRules.normalize(raw) else {
            return refuse(
                output, clientID, symbol: raw, code: "invalid_symbol",
                message: "'\(raw)' is not a stock, index or option ticker (e.g. SPY, I:SPX, O:SPY251219C00650000)"
            )
        }
        let key = ClientKey(output, clientID)
        enum Decision {
            case already
            case refused(code: String, message: String)
            case joined(first: Bool)
        }
        let decision = state.withLock { state -> Decision in
            if state.clientSymbols[key]?.contains(symbol) == true { return .already }
            if (state.clientSymbols[key]?.count ?? 0) >= limits.maximumSubscriptionsPerClient {
                return .refused(
                    code: "limit_exceeded",
                    message:
                        "at most \(limits.maximumSubscriptionsPerClient) live symbols per client; unsubscribe some first"
                )
            }
            let first = state.subscribers[symbol]?.isEmpty ?? true
            if first, SymbolRules.isOption(symbol),
                state.upstreamOptionSymbols >= limits.maximumOptionQuoteSubscriptions
            {
                return .refused(
                    code: "limit_exceeded",
                    message:
                        "the upstream allows \(limits.maximumOptionQuoteSubscriptions) option quote subscriptions and all are in use"
                )
            }
            state.subscribers[symbol, default: []].insert(key)
            state.clientSymbols[key, default: []].insert(symbol)
            state.outputs[key.output] = output
            if first, SymbolRules.isOption(symbol) { state.upstreamOptionSymbols += 1 }
            return .joined(first: first)
        }
        switch decision {
        case .already:
            sendSnapshot(symbol, to: output, clientID: clientID)
            return reply(ok: symbol)
        case .refused(let code, let message):
            return refuse(output, clientID, symbol: symbol, code: code, message: message)
        case .joined(let first):
            if first {
                do throws(PluginError) {
                    try upstream.subscribe([symbol], channels: Self.channels)
                    metrics.increment("markethub_upstream_subscribes_total", help: "Upstream subscriptions made")
                } catch {
                    let dropped = dropSymbol(symbol)
                    for client in dropped where client != key {
                        _ = notify(client, symbol: symbol, error: error)
                    }
                    return refuse(output, clientID, symbol: symbol, code: LiveError.code(error), message: error.message)
                }
            }
            output.join(clientID: clientID, room: Self.room(symbol))
            updateGauges()
            if let recall, state.withLock({ $0.symbols[symbol]?.quote == nil }) {
                seed(lastQuotes: await recall([symbol]))
            }
            sendSnapshot(symbol, to: output, clientID: clientID)
            return reply(ok: symbol)
        }
    }

    /// Handles `live:unsubscribe`. Returns the ack arguments.
    public func unsubscribe(output: any LiveOutput, clientID: UInt64, arguments: JSONValue) -> JSONValue {
        guard let raw = Self.symbolArgument(arguments), let symbol = SymbolRules.normalize(raw) else {
            return refuse(
                output, clientID, symbol: Self.symbolArgument(arguments) ?? "", code: "invalid_request",
                message: "live:unsubscribe needs {symbol} with a valid ticker"
            )
        }
        let key = ClientKey(output, clientID)
        let last = state.withLock { state -> Bool? in
            guard state.clientSymbols[key]?.remove(symbol) != nil else { return nil }
            return removeSubscriber(key, from: symbol, in: &state)
        }
        output.leave(clientID: clientID, room: Self.room(symbol))
        if last == true { releaseUpstream([symbol]) }
        updateGauges()
        return reply(ok: symbol)
    }

    /// Releases everything a disconnected client held.
    public func release(output: any LiveOutput, clientID: UInt64) {
        let key = ClientKey(output, clientID)
        let released = state.withLock { state -> [String] in
            guard let symbols = state.clientSymbols.removeValue(forKey: key) else { return [] }
            return symbols.filter { removeSubscriber(key, from: $0, in: &state) }
        }
        if !released.isEmpty { releaseUpstream(released) }
        updateGauges()
    }

    /// Removes one subscriber; true when it was the symbol's last, in which case upstream must be released.
    private func removeSubscriber(_ key: ClientKey, from symbol: String, in state: inout State) -> Bool {
        state.subscribers[symbol]?.remove(key)
        guard state.subscribers[symbol]?.isEmpty == true else { return false }
        state.subscribers.removeValue(forKey: symbol)
        if SymbolRules.isOption(symbol) { state.upstreamOptionSymbols -= 1 }
        forgetIfPersisted(symbol, in: &state)
        return true
    }

    /// Drops the state of a symbol nobody holds once its last quote is in the cache (a dirty one waits for the
    /// next `takeDirtyQuotes`), so browsing thousands of contracts does not grow memory without bound.
    private func forgetIfPersisted(_ symbol: String, in state: inout State) {
        guard state.subscribers[symbol] == nil, state.symbols[symbol]?.dirty != true else { return }
        state.symbols.removeValue(forKey: symbol)
    }

    private func releaseUpstream(_ symbols: [String]) {
        do throws(PluginError) {
            try upstream.unsubscribe(symbols, channels: Self.channels)
            metrics.increment(
                "markethub_upstream_unsubscribes_total", by: Double(symbols.count),
                help: "Upstream subscriptions released"
            )
        } catch {
            logger.warning("upstream unsubscribe failed", metadata: ["symbols": "\(symbols)", "error": "\(error)"])
        }
    }

    /// Forgets a symbol entirely (upstream refused it); returns the clients that held it.
    private func dropSymbol(_ symbol: String) -> Set<ClientKey> {
        state.withLock { state in
            guard let clients = state.subscribers.removeValue(forKey: symbol) else { return [] }
            for client in clients { state.clientSymbols[client]?.remove(symbol) }
            if SymbolRules.isOption(symbol) { state.upstreamOptionSymbols -= 1 }
            forgetIfPersisted(symbol, in: &state)
            return clients
        }
    }

    private func notify(_ client: ClientKey, symbol: String, error: PluginError) -> Bool {
        guard let output = state.withLock({ $0.outputs[client.output] }) else { return false }
        output.leave(clientID: client.id, room: Self.room(symbol))
        _ = refuse(output, client.id, symbol: symbol, code: LiveError.code(error), message: error.message)
        return true
    }

    /// Upstream subscriptions currently held, for health, tests and the demand view.
    public var upstreamSymbols: Set<String> { state.withLock { Set($0.subscribers.keys) } }

    public func subscriberCount(_ symbol: String) -> Int { state.withLock { $0.subscribers[symbol]?.count ?? 0 } }

    private func updateGauges() {
        let (symbols, options) = state.withLock { ($0.subscribers.count, $0.upstreamOptionSymbols) }
        metrics.set("markethub_live_symbols", to: Double(symbols), help: "Symbols subscribed upstream for live quotes")
        metrics.set("markethub_live_option_symbols", to: Double(options), help: "Option contracts subscribed upstream")
    }

    // MARK: Snapshots

    /// The last known quote of `symbol` with its freshness now, or nil.
    public func lastQuote(_ symbol: String) -> (quote: Quote, freshness: String, updatedMilliseconds: Int64)? {
        let entry = state.withLock { $0.symbols[symbol] }
        guard let entry, let quote = entry.quote else { return nil }
        return (quote, freshness(updated: entry.quoteUpdatedMilliseconds), entry.quoteUpdatedMilliseconds)
    }

    /// Recent trades of `symbol`, newest first.
    public func recentTrades(_ symbol: String, limit: Int) -> [Trade] {
        state.withLock { Array(($0.symbols[symbol]?.trades ?? []).reversed().prefix(max(0, limit))) }
    }

    /// Records the provider's view of the market (see `MarketStatusWatcher`); with the market closed every quote
    /// is `frozen`.
    public func setMarketClosed(_ closed: Bool) {
        state.withLock { $0.marketClosed = closed }
    }

    func isMarketClosed(at now: Int64) -> Bool {
        state.withLock { $0.marketClosed } ?? (calendar.session(at: now) == .closed)
    }

    func freshness(updated: Int64) -> String {
        let now = clock.nowMilliseconds
        if isMarketClosed(at: now) { return "frozen" }
        return now - updated > limits.staleAfterMilliseconds ? "stale" : "live"
    }

    private func sendSnapshot(_ symbol: String, to output: any LiveOutput, clientID: UInt64) {
        let entry = state.withLock { $0.symbols[symbol] }
        guard let entry else { return }
        if let quote = entry.quote {
            let payload = Self.quotePayload(quote, freshness: freshness(updated: entry.quoteUpdatedMilliseconds))
            output.send(clientID: clientID, event: "live:quote", payload: Array(payload.utf8))
        }
        if !entry.trades.isEmpty {
            let payload = Self.tradesPayload(symbol: symbol, trades: entry.trades.suffix(limits.recentTrades))
            output.send(clientID: clientID, event: "live:trades", payload: Array(payload.utf8))
        }
    }

    /// Seeds last quotes recovered from the cache (after a restart), without overwriting fresher live ones.
    public func seed(lastQuotes: [LastQuote]) {
        state.withLock { state in
            for last in lastQuotes where state.symbols[last.symbol]?.quote == nil {
                var entry = state.symbols[last.symbol] ?? SymbolState()
                entry.quote = Quote(
                    symbol: last.symbol, timestampNanoseconds: last.updatedMilliseconds * 1_000_000,
                    bidPrice: last.bidPrice,
                    askPrice: last.askPrice, bidSize: .nan, askSize: .nan
                )
                entry.quoteUpdatedMilliseconds = last.updatedMilliseconds
                state.symbols[last.symbol] = entry
            }
        }
    }

    /// Marks quotes dirty again after a failed write, unless a newer update has replaced them since.
    public func restoreDirty(_ quotes: [LastQuote]) {
        seed(lastQuotes: quotes)
        state.withLock { state in
            for quote in quotes where state.symbols[quote.symbol]?.quoteUpdatedMilliseconds == quote.updatedMilliseconds
            {
                state.symbols[quote.symbol]?.dirty = true
            }
        }
    }

    /// Quotes changed since the last call, as the cache stores them (the spec's option_quotes).
    public func takeDirtyQuotes() -> [LastQuote] {
        state.withLock { state in
            var out: [LastQuote] = []
            for (symbol, entry) in state.symbols where entry.dirty {
                guard let quote = entry.quote else { continue }
                out.append(
                    LastQuote(
                        symbol: symbol, bidPrice: quote.bidPrice, askPrice: quote.askPrice,
                        lastPrice: entry.trades.last?.price ?? .nan, midpoint: Self.midpoint(quote),
                        updatedMilliseconds: entry.quoteUpdatedMilliseconds
                    )
                )
                state.symbols[symbol]?.dirty = false
            }
            for quote in out { forgetIfPersisted(quote.symbol, in: &state) }
            return out
        }
    }

    // MARK: Stream

    public func receive(quotes: [Quote]) {
        let now = clock.nowMilliseconds
        var frozen = false
        var accepted: [Quote] = []
        var outputs: [any LiveOutput] = []
        var stale = 0
        state.withLock { state in
            frozen = state.marketClosed ?? (calendar.session(at: now) == .closed)
            // Rooms live in each transport; publishing to one with no member in the room costs it a lookup, which
            // is cheaper than working out, per quote, which transports hold subscribers (usually there is one).
            outputs = Array(state.outputs.values)
            for var quote in quotes {
                guard
                    !(state.subscribers[quote.symbol]?.isEmpty ?? true)
                        || fanOut.wantedElsewhere(quote.symbol, channels: .quotes)
                else { continue }
                var entry = state.symbols[quote.symbol] ?? SymbolState()
                if quote.sequence >= 0, entry.lastSequence > quote.sequence {
                    stale += 1
                    continue
                }
                quote.flags = Self.flags(quote)
                entry.lastSequence = max(entry.lastSequence, quote.sequence)
                entry.quote = quote
                entry.quoteUpdatedMilliseconds = now
                entry.dirty = true
                entry.staleAnnounced = false
                state.symbols[quote.symbol] = entry
                accepted.append(quote)
            }
        }
        if stale > 0 {
            metrics.increment(
                "markethub_quotes_out_of_order_total", by: Double(stale),
                help: "Quotes older than the last seen, ignored")
        }
        for quote in accepted {
            let payload = Array(Self.quotePayload(quote, freshness: frozen ? "frozen" : "live").utf8)
            fanOut.publish(
                room: Self.room(quote.symbol), event: "live:quote", payload: payload, conflationKey: quote.symbol,
                outputs: outputs)
        }
        metrics.increment(
            "markethub_live_quotes_routed_total", by: Double(accepted.count), help: "Quotes published to rooms")
    }

    /// Republishes, marked `stale`, the last quote of every subscribed symbol that has not updated for
    /// `staleAfterMilliseconds` while the market is open: once per quiet spell, so clients stop showing a
    /// silent symbol as live. Returns how many symbols were announced. Run periodically by `StaleQuoteSweeper`.
    @discardableResult
    public func publishStale() -> Int {
        let now = clock.nowMilliseconds
        guard !isMarketClosed(at: now) else { return 0 }
        var due: [Quote] = []
        var outputs: [any LiveOutput] = []
        state.withLock { state in
            outputs = Array(state.outputs.values)
            for symbol in state.subscribers.keys {
                guard var entry = state.symbols[symbol], let quote = entry.quote, !entry.staleAnnounced,
                    now - entry.quoteUpdatedMilliseconds > limits.staleAfterMilliseconds
                else { continue }
                entry.staleAnnounced = true
                state.symbols[symbol] = entry
                due.append(quote)
            }
        }
        for quote in due {
            let payload = Array(Self.quotePayload(quote, freshness: "stale").utf8)
            fanOut.publish(
                room: Self.room(quote.symbol), event: "live:quote", payload: payload, conflationKey: quote.symbol,
                outputs: outputs)
        }
        if !due.isEmpty {
            metrics.increment(
                "markethub_live_stale_announcements_total", by: Double(due.count),
                help: "Quotes republished as stale after a quiet spell")
        }
        return due.count
    }

    public func receive(trades: [Trade]) {
        var bySymbol: [String: [Trade]] = [:]
        for trade in trades { bySymbol[trade.symbol, default: []].append(trade) }
        var batches: [(String, [Trade])] = []
        var outputs: [any LiveOutput] = []
        state.withLock { state in
            outputs = Array(state.outputs.values)
            for (symbol, batch) in bySymbol {
                guard !(state.subscribers[symbol]?.isEmpty ?? true) || fanOut.wantedElsewhere(symbol, channels: .trades)
                else { continue }
                var entry = state.symbols[symbol] ?? SymbolState()
                entry.trades.append(contentsOf: batch)
                if entry.trades.count > limits.recentTrades {
                    entry.trades.removeFirst(entry.trades.count - limits.recentTrades)
                }
                entry.dirty = entry.dirty || entry.quote != nil
                state.symbols[symbol] = entry
                batches.append((symbol, batch))
            }
        }
        for (symbol, batch) in batches {
            let payload = Array(Self.tradesPayload(symbol: symbol, trades: batch[...]).utf8)
            fanOut.publish(
                room: Self.room(symbol), event: "live:trades", payload: payload, conflationKey: "", outputs: outputs)
        }
    }

    public func receive(bars: [Bar]) {}

    public func receive(state streamState: StreamState) {}

    public func subscriptionFailed(symbol: String, channels: Channels, error: PluginError) {
        guard channels.contains(.quotes) || channels.contains(.trades) else { return }
        let clients = dropSymbol(symbol)
        for client in clients { _ = notify(client, symbol: symbol, error: error) }
        updateGauges()
    }

    // MARK: Encoding

    static func flags(_ quote: Quote) -> UInt32 {
        var flags: UInt32 = 0
        if quote.bidPrice > quote.askPrice { flags |= UInt32(MH_QUOTE_CROSSED) }
        if quote.bidPrice == quote.askPrice { flags |= UInt32(MH_QUOTE_LOCKED) }
        if quote.bidPrice == 0 || quote.askPrice == 0 { flags |= UInt32(MH_QUOTE_ZERO) }
        return flags
    }

    static func midpoint(_ quote: Quote) -> Double {
        guard quote.bidPrice > 0, quote.askPrice > 0, quote.bidPrice.isFinite, quote.askPrice.isFinite else {
            return .nan
        }
        return (quote.bidPrice + quote.askPrice) / 2
    }

    /// `live:quote` payload, written directly (this is the hottest encoder in the host).
    static func quotePayload(_ quote: Quote, freshness: String) -> String {
        // One buffer, appended piece by piece: concatenating temporaries (`a + b`) allocated per field.
        var out = ""
        out.reserveCapacity(288)
        out += "{\"symbol\":"
        JSONNumber.appendString(quote.symbol, to: &out)
        out += ",\"bid\":"
        out += JSONNumber.text(quote.bidPrice)
        out += ",\"ask\":"
        out += JSONNumber.text(quote.askPrice)
        out += ",\"bidSize\":"
        out += JSONNumber.text(quote.bidSize)
        out += ",\"askSize\":"
        out += JSONNumber.text(quote.askSize)
        out += ",\"bidExchange\":"
        out += quote.bidExchange >= 0 ? String(quote.bidExchange) : "null"
        out += ",\"askExchange\":"
        out += quote.askExchange >= 0 ? String(quote.askExchange) : "null"
        out += ",\"midpoint\":"
        out += JSONNumber.text(midpoint(quote))
        out += ",\"timestamp\":"
        out += String(quote.timestampNanoseconds / 1_000_000)
        out += ",\"sequence\":"
        out += quote.sequence >= 0 ? String(quote.sequence) : "null"
        out += ",\"freshness\":\""
        out += freshness
        out += quote.flags & UInt32(MH_QUOTE_CROSSED) != 0 ? "\",\"crossed\":true" : "\",\"crossed\":false"
        out += quote.flags & UInt32(MH_QUOTE_LOCKED) != 0 ? ",\"locked\":true" : ",\"locked\":false"
        out += quote.flags & UInt32(MH_QUOTE_ZERO) != 0 ? ",\"zero\":true}" : ",\"zero\":false}"
        return out
    }

    /// `live:trades` payload: `{symbol, trades: [{price, size, exchange, conditions, timestamp}]}`.
    static func tradesPayload(symbol: String, trades: ArraySlice<Trade>) -> String {
        var out = "{\"symbol\":"
        JSONNumber.appendString(symbol, to: &out)
        out += ",\"trades\":["
        for (index, trade) in trades.enumerated() {
            if index > 0 { out += "," }
            out += "{\"price\":" + JSONNumber.text(trade.price)
            out += ",\"size\":" + JSONNumber.text(trade.size)
            out += ",\"exchange\":" + (trade.exchange >= 0 ? String(trade.exchange) : "null")
            out += ",\"conditions\":[" + trade.conditions.map(String.init).joined(separator: ",") + "]"
            out += ",\"timestamp\":" + String(trade.timestampNanoseconds / 1_000_000) + "}"
        }
        out += "]}"
        return out
    }
}
