import Foundation
import MarketCalendar
import MassiveWire
import PluginKit
import Recording

/// The REST side of a recording, decoded once and indexed by what the provider interface asks for.
struct RecordedData: Sendable {
    struct BarKey: Hashable {
        var ticker: String
        var timespan: Timespan
        var multiplier: Int32
    }

    /// Bars by series, ascending and unique by start (a later exchange overwrites an earlier one's bar).
    var bars: [BarKey: [Bar]] = [:]
    /// Chain contracts by underlying, unique by ticker.
    var chains: [String: [OptionContract]] = [:]
    var chainPrices: [String: Double] = [:]
    /// Single contract snapshots by contract ticker (with their underlying and its price).
    var contractSnapshots: [String: ContractSnapshotDocument] = [:]
    /// Listed contracts by underlying.
    var contracts: [String: [ContractReference]] = [:]
    var quotes: [String: [Quote]] = [:]
    var trades: [String: [Trade]] = [:]
    var lastTrades: [String: Trade] = [:]
    var tickerSnapshots: [String: TickerSnapshot] = [:]
    /// Recorded vendor errors by path, for look-ups the recording only holds a failure for.
    var errors: [String: PluginError] = [:]
    /// Contract tickers already listed (pages may repeat them).
    private var listedTickers: Set<String> = []
    /// Every ticker the REST side mentions.
    var knownSymbols: Set<String> = []
    /// Problems met while decoding bodies (reported, never fatal).
    var problems: [String] = []

    init(_ exchanges: [RESTExchange]) {
        for exchange in exchanges { add(exchange) }
        for key in bars.keys { bars[key]?.sort { $0.startMilliseconds < $1.startMilliseconds } }
        for key in quotes.keys { quotes[key]?.sort { $0.timestampNanoseconds > $1.timestampNanoseconds } }
        for key in trades.keys { trades[key]?.sort { $0.timestampNanoseconds > $1.timestampNanoseconds } }
    }

    private static func decodePath(_ segment: Substring) -> String {
        // Contract tickers may arrive percent-encoded (O%3ASPY...).
        segment.replacingOccurrences(of: "%3A", with: ":").replacingOccurrences(of: "%3a", with: ":")
    }

    private mutating func add(_ exchange: RESTExchange) {
        let parts = exchange.path.split(separator: "/").map(Self.decodePath)
        guard (200..<300).contains(exchange.status) else {
            errors[exchange.path] = MassiveREST.error(
                httpStatus: exchange.status, body: exchange.body, retryAfterSeconds: exchange.retryAfterSeconds)
            return
        }
        do {
            try decode(parts, exchange)
        } catch {
            problems.append("\(exchange.path): \(error.message)")
        }
    }

    private mutating func decode(_ parts: [String], _ exchange: RESTExchange) throws(PluginError) {
        let body = exchange.body
        switch (parts.first, parts.count) {
        case ("v2", 9) where parts[1] == "aggs" && parts[4] == "range":
            guard let multiplier = Int32(parts[5]), let timespan = Timespan(name: parts[6]) else {
                problems.append("\(exchange.path): unknown aggregate range")
                return
            }
            let ticker = parts[3]
            let page = try MassiveREST.aggregates(
                body, ticker: ticker, multiplier: multiplier, timespan: timespan, source: "recorded")
            let key = BarKey(ticker: ticker, timespan: timespan, multiplier: multiplier)
            var series = Dictionary(uniqueKeysWithValues: (bars[key] ?? []).map { ($0.startMilliseconds, $0) })
            for bar in page.values { series[bar.startMilliseconds] = bar }
            bars[key] = Array(series.values)
            knownSymbols.insert(ticker)
        case ("v3", 4) where parts[1] == "snapshot" && parts[2] == "options":
            let underlying = parts[3]
            let page = try MassiveREST.chainSnapshot(body, underlying: underlying)
            var merged = Dictionary(uniqueKeysWithValues: (chains[underlying] ?? []).map { ($0.ticker, $0) })
            for contract in page.document.contracts { merged[contract.ticker] = contract }
            chains[underlying] = merged.values.sorted { $0.ticker < $1.ticker }
            if let price = page.document.underlyingPrice { chainPrices[underlying] = price }
            knownSymbols.insert(underlying)
            knownSymbols.formUnion(merged.keys)
        case ("v3", 5) where parts[1] == "snapshot" && parts[2] == "options":
            var document = try MassiveREST.contractSnapshot(body)
            if document.underlying.isEmpty { document.underlying = parts[3] }
            contractSnapshots[document.contract.ticker] = document
            knownSymbols.insert(document.contract.ticker)
        case ("v3", _)
        where parts.count >= 4 && parts[1] == "reference" && parts[2] == "options" && parts[3] == "contracts":
            let page = try MassiveREST.contracts(body)
            for reference in page.values where listedTickers.insert(reference.ticker).inserted {
                contracts[reference.underlying, default: []].append(reference)
                knownSymbols.insert(reference.ticker)
            }
        case ("v3", 3) where parts[1] == "quotes":
            quotes[parts[2], default: []].append(contentsOf: try MassiveREST.quotes(body, ticker: parts[2]).values)
            knownSymbols.insert(parts[2])
        case ("v3", 3) where parts[1] == "trades":
            trades[parts[2], default: []].append(contentsOf: try MassiveREST.trades(body, ticker: parts[2]).values)
            knownSymbols.insert(parts[2])
        case ("v2", 4) where parts[1] == "last" && parts[2] == "trade":
            let trade = try MassiveREST.lastTrade(body)
            lastTrades[parts[3]] = trade
            knownSymbols.insert(parts[3])
        // /v2/snapshot/locale/us/markets/stocks/tickers
        case ("v2", 7) where parts[1] == "snapshot" && parts[5] == "stocks" && parts[6] == "tickers":
            for snapshot in try MassiveREST.tickerSnapshots(body).values {
                tickerSnapshots[snapshot.ticker] = snapshot
                knownSymbols.insert(snapshot.ticker)
            }
        default:
            break
        }
    }

    /// The contracts listed for `underlying`: from the contracts reference when recorded, else from its chain.
    func listedContracts(_ underlying: String) -> [ContractReference] {
        if let listed = contracts[underlying], !listed.isEmpty { return listed }
        return (chains[underlying] ?? []).map {
            ContractReference(
                ticker: $0.ticker, underlying: underlying, right: $0.right, strike: $0.strike, expiration: $0.expiration
            )
        }
    }
}
