import PluginAPI
import PluginKit

/// Decoders for the vendor's REST bodies, producing PluginKit values and the ABI's normalized documents.
///
/// Tolerant by design: optional members (`greeks`, `last_quote`, `last_trade`, `vw`, `n`...) may be absent or
/// null; list entries that lack a required member are skipped and counted; error bodies are read in both of
/// the vendor's shapes (`error` for `ERROR`, `message` for `NOT_AUTHORIZED`/`NOT_FOUND`) or as plain text.
public enum MassiveREST {
    /// A decoded list page: the values, the vendor's `next_url` when more pages exist, and how many entries
    /// were skipped as malformed.
    public struct Page<Element: Sendable>: Sendable {
        public var values: [Element]
        public var nextURL: String?
        public var skipped: Int
    }

    // MARK: Errors

    /// Maps a non-2xx answer to a `PluginError`. `retryAfterSeconds` is the Retry-After header when sent.
    public static func error(httpStatus: Int, body: [UInt8], retryAfterSeconds: Int64? = nil) -> PluginError {
        let message = errorMessage(body) ?? "HTTP \(httpStatus)"
        switch httpStatus {
        case 400: return .invalid(message)
        case 401: return .unauthorized(message)
        case 403: return .notEntitled(message)
        case 404: return .notFound(message)
        case 429: return .rateLimited(message, retryAfterMilliseconds: retryAfterSeconds.map { $0 * 1_000 })
        default: return .unavailable(message)
        }
    }

    /// The human text of an error body: `error`, else `message`, else the body itself when it is short text.
    public static func errorMessage(_ body: [UInt8]) -> String? {
        if let json = try? JSONValue.parse(body) {
            return json["error"]?.string ?? json["message"]?.string
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingWhitespace()
        return text.isEmpty ? nil : text
    }

    static func parse(_ body: [UInt8]) throws(PluginError) -> JSONValue {
        do {
            return try JSONValue.parse(body)
        } catch {
            throw .unavailable("the vendor sent a body that is not JSON (\(error.description))")
        }
    }

    static func nanosecondsToMilliseconds(_ value: Int64?) -> Int64? { value.map { $0 / 1_000_000 } }

    // MARK: Aggregates

    /// `/v2/aggs/ticker/{T}/range/{m}/{timespan}/{from}/{to}` and `/prev`. An absent `results` is an empty window.
    public static func aggregates(
        _ body: [UInt8], ticker: String? = nil, multiplier: Int32 = 1, timespan: Timespan = .day,
        source: String = "massive"
    ) throws(PluginError) -> Page<Bar> {
        let json = try parse(body)
        let symbol = ticker ?? json["ticker"]?.string ?? ""
        var bars: [Bar] = []
        var skipped = 0
        for entry in json["results"]?.array ?? [] {
            guard let start = entry["t"]?.int64, let open = entry["o"]?.double, let high = entry["h"]?.double,
                let low = entry["l"]?.double, let close = entry["c"]?.double
            else {
                skipped += 1
                continue
            }
            let end = timespan.fixedMilliseconds.map { start + $0 * Int64(multiplier) } ?? 0
            bars.append(
                Bar(
                    symbol: entry["T"]?.string ?? symbol, timespan: timespan, multiplier: multiplier,
                    startMilliseconds: start, endMilliseconds: timespan == .day ? 0 : end, open: open, high: high,
                    low: low, close: close, volume: entry["v"]?.double ?? 0, vwap: entry["vw"]?.double ?? .nan,
                    transactions: entry["n"]?.int64 ?? -1, source: source
                ))
        }
        return Page(values: bars, nextURL: json["next_url"]?.string, skipped: skipped)
    }

    // MARK: Options snapshots

    /// One chain entry (the same object as the single contract snapshot's `results`).
    static func contract(_ entry: JSONValue) -> (OptionContract, underlying: String?, price: Double?)? {
        guard let details = entry["details"], let ticker = details["ticker"]?.string,
            let type = details["contract_type"]?.string, let right = OptionRight(rawValue: type),
            let strike = details["strike_price"]?.double, let expiration = details["expiration_date"]?.string
        else { return nil }
        var contract = OptionContract(ticker: ticker, right: right, strike: strike, expiration: expiration)
        let quote = entry["last_quote"]
        contract.bid = quote?["bid"]?.double
        contract.ask = quote?["ask"]?.double
        contract.bidSize = quote?["bid_size"]?.double
        contract.askSize = quote?["ask_size"]?.double
        contract.last = entry["last_trade"]?["price"]?.double ?? entry["day"]?["close"]?.double
        contract.volume = entry["day"]?["volume"]?.double
        contract.openInterest = entry["open_interest"]?.double
        contract.impliedVolatility = entry["implied_volatility"]?.double
        let greeks = entry["greeks"]
        contract.delta = greeks?["delta"]?.double
        contract.gamma = greeks?["gamma"]?.double
        contract.theta = greeks?["theta"]?.double
        contract.vega = greeks?["vega"]?.double
        let stamps = [
            quote?["last_updated"]?.int64, entry["last_trade"]?["sip_timestamp"]?.int64,
            entry["day"]?["last_updated"]?.int64,
        ].compactMap { $0 }
        contract.updatedMilliseconds = nanosecondsToMilliseconds(stamps.max())
        let asset = entry["underlying_asset"]
        let underlying = asset?["ticker"]?.string ?? OptionTicker(ticker)?.root
        return (contract, underlying, asset?["price"]?.double ?? asset?["value"]?.double)
    }

    /// `/v3/snapshot/options/{underlying}`: one page of a chain.
    public static func chainSnapshot(
        _ body: [UInt8], underlying: String
    ) throws(PluginError) -> (
        document: ChainDocument, nextURL: String?, skipped: Int
    ) {
        let json = try parse(body)
        var contracts: [OptionContract] = []
        var price: Double?
        var skipped = 0
        for entry in json["results"]?.array ?? [] {
            guard let decoded = contract(entry) else {
                skipped += 1
                continue
            }
            contracts.append(decoded.0)
            price = price ?? decoded.price
        }
        return (
            ChainDocument(underlying: underlying, underlyingPrice: price, contracts: contracts),
            json["next_url"]?.string, skipped
        )
    }

    /// `/v3/snapshot/options/{underlying}/{contract}`: `results` is one object.
    public static func contractSnapshot(_ body: [UInt8]) throws(PluginError) -> ContractSnapshotDocument {
        let json = try parse(body)
        guard let results = json["results"], let decoded = contract(results) else {
            throw .unavailable("the contract snapshot has no usable results")
        }
        return ContractSnapshotDocument(
            underlying: decoded.underlying ?? "", underlyingPrice: decoded.price, contract: decoded.0)
    }

    // MARK: Reference

    static func reference(_ entry: JSONValue) -> ContractReference? {
        guard let ticker = entry["ticker"]?.string, let type = entry["contract_type"]?.string,
            let right = OptionRight(rawValue: type), let strike = entry["strike_price"]?.double,
            let expiration = entry["expiration_date"]?.string
        else { return nil }
        let underlying = entry["underlying_ticker"]?.string ?? OptionTicker(ticker)?.root ?? ""
        return ContractReference(
            ticker: ticker, underlying: underlying, right: right, strike: strike, expiration: expiration)
    }

    /// `/v3/reference/options/contracts` (a list) or `/v3/reference/options/contracts/{ticker}` (one object).
    public static func contracts(_ body: [UInt8]) throws(PluginError) -> Page<ContractReference> {
        let json = try parse(body)
        let entries: [JSONValue]
        if let list = json["results"]?.array {
            entries = list
        } else if let single = json["results"], case .object = single {
            entries = [single]
        } else {
            entries = []
        }
        var values: [ContractReference] = []
        var skipped = 0
        for entry in entries {
            if let reference = reference(entry) { values.append(reference) } else { skipped += 1 }
        }
        return Page(values: values, nextURL: json["next_url"]?.string, skipped: skipped)
    }

    // MARK: Ticks

    /// `/v3/quotes/{ticker}`: nanosecond SIP timestamps, sizes as sent (shares for stocks, contracts for options).
    public static func quotes(_ body: [UInt8], ticker: String) throws(PluginError) -> Page<Quote> {
        let json = try parse(body)
        var values: [Quote] = []
        var skipped = 0
        for entry in json["results"]?.array ?? [] {
            guard let t = entry["sip_timestamp"]?.int64, let bid = entry["bid_price"]?.double,
                let ask = entry["ask_price"]?.double
            else {
                skipped += 1
                continue
            }
            values.append(
                Quote(
                    symbol: ticker, timestampNanoseconds: t, bidPrice: bid, askPrice: ask,
                    bidSize: entry["bid_size"]?.double ?? .nan, askSize: entry["ask_size"]?.double ?? .nan,
                    bidExchange: Int32(clamping: entry["bid_exchange"]?.int64 ?? -1),
                    askExchange: Int32(clamping: entry["ask_exchange"]?.int64 ?? -1),
                    sequence: entry["sequence_number"]?.int64 ?? -1
                ))
        }
        return Page(values: values, nextURL: json["next_url"]?.string, skipped: skipped)
    }

    static func conditions(_ value: JSONValue?) -> [Int32] {
        (value?.array ?? []).compactMap { $0.int64.flatMap { Int32(exactly: $0) } }
    }

    /// `/v3/trades/{ticker}`.
    public static func trades(_ body: [UInt8], ticker: String) throws(PluginError) -> Page<Trade> {
        let json = try parse(body)
        var values: [Trade] = []
        var skipped = 0
        for entry in json["results"]?.array ?? [] {
            guard let t = entry["sip_timestamp"]?.int64, let price = entry["price"]?.double,
                let size = entry["size"]?.double
            else {
                skipped += 1
                continue
            }
            values.append(
                Trade(
                    symbol: ticker, timestampNanoseconds: t, price: price, size: size,
                    exchange: Int32(clamping: entry["exchange"]?.int64 ?? -1),
                    conditions: conditions(entry["conditions"]), sequence: entry["sequence_number"]?.int64 ?? -1,
                    tradeID: entry["id"]?.string ?? ""
                ))
        }
        return Page(values: values, nextURL: json["next_url"]?.string, skipped: skipped)
    }

    /// `/v2/last/trade/{ticker}`: `results` is one object with single-letter members.
    public static func lastTrade(_ body: [UInt8]) throws(PluginError) -> Trade {
        let json = try parse(body)
        guard let results = json["results"], let ticker = results["T"]?.string, let t = results["t"]?.int64,
            let price = results["p"]?.double, let size = results["s"]?.double
        else { throw .unavailable("the last trade answer lacks T, t, p or s") }
        return Trade(
            symbol: ticker, timestampNanoseconds: t, price: price, size: size,
            exchange: Int32(clamping: results["x"]?.int64 ?? -1), conditions: conditions(results["c"]),
            sequence: results["q"]?.int64 ?? -1, tradeID: results["i"]?.string ?? ""
        )
    }

    /// `/v2/last/nbbo/{ticker}` (stocks): lower-case letters are the bid, upper-case the ask.
    public static func lastQuote(_ body: [UInt8]) throws(PluginError) -> Quote {
        let json = try parse(body)
        guard let results = json["results"], let ticker = results["T"]?.string, let t = results["t"]?.int64,
            let bid = results["p"]?.double, let ask = results["P"]?.double
        else { throw .unavailable("the last quote answer lacks T, t, p or P") }
        // Sizes here are round lots like the stream's.
        return Quote(
            symbol: ticker, timestampNanoseconds: t, bidPrice: bid, askPrice: ask,
            bidSize: (results["s"]?.double ?? .nan) * 100, askSize: (results["S"]?.double ?? .nan) * 100,
            bidExchange: Int32(clamping: results["x"]?.int64 ?? -1),
            askExchange: Int32(clamping: results["X"]?.int64 ?? -1), sequence: results["q"]?.int64 ?? -1
        )
    }

    // MARK: Market

    /// `/v1/marketstatus/now` (no `status` member on this one).
    public static func marketStatus(_ body: [UInt8]) throws(PluginError) -> MarketStatusDocument {
        let json = try parse(body)
        guard let market = json["market"]?.string else { throw .unavailable("the market status lacks market") }
        var exchanges: [(String, String)] = []
        if case .object(let members)? = json["exchanges"] {
            for (name, value) in members { if let status = value.string { exchanges.append((name, status)) } }
        }
        return MarketStatusDocument(
            market: market, earlyHours: json["earlyHours"]?.bool ?? false,
            afterHours: json["afterHours"]?.bool ?? false, serverTime: json["serverTime"]?.string ?? "",
            exchanges: exchanges
        )
    }

    static func tickerSnapshot(_ entry: JSONValue) -> TickerSnapshot? {
        guard let ticker = entry["ticker"]?.string else { return nil }
        let last = entry["lastTrade"]?["p"]?.double ?? entry["min"]?["c"]?.double ?? entry["day"]?["c"]?.double
        let previous = entry["prevDay"]?["c"]?.double
        var change = entry["todaysChange"]?.double
        var percent = entry["todaysChangePerc"]?.double
        if change == nil, let last, let previous {
            change = last - previous
            percent = previous != 0 ? (last - previous) / previous * 100 : nil
        }
        return TickerSnapshot(
            ticker: ticker, last: last, previousClose: previous, change: change, changePercent: percent,
            volume: entry["day"]?["v"]?.double, updatedMilliseconds: nanosecondsToMilliseconds(entry["updated"]?.int64)
        )
    }

    /// `/v2/snapshot/locale/us/markets/stocks/tickers` (`tickers` array) or `.../tickers/{T}` (`ticker` object).
    public static func tickerSnapshots(_ body: [UInt8]) throws(PluginError) -> Page<TickerSnapshot> {
        let json = try parse(body)
        var entries = json["tickers"]?.array ?? []
        if let single = json["ticker"], case .object = single { entries.append(single) }
        var values: [TickerSnapshot] = []
        var skipped = 0
        for entry in entries {
            if let snapshot = tickerSnapshot(entry) { values.append(snapshot) } else { skipped += 1 }
        }
        return Page(values: values, nextURL: nil, skipped: skipped)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
