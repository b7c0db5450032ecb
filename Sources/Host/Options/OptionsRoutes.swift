import Foundation
import MarketCalendar
import PluginKit

/// The option chain, contract, selection, quote, trade and watchlist routes (documented in docs/openapi.yaml).
enum OptionsRoutes {
    static func register(
        _ routes: inout HTTPRouter.Builder, chain: OptionChainService, snapshots: MarketSnapshotService,
        selections: SelectionStore
    ) {
        routes.add("GET", "/api/market/options/chain/:ticker") { _, parameters in
            await answer { () async throws(MarketDataFailure) -> HTTPResponse in
                .json(try await chain.chain(try chainQuery(parameters)))
            }
        }
        routes.add("GET", "/api/market/options/expirations/:ticker") { _, parameters in
            await answer { () async throws(MarketDataFailure) -> HTTPResponse in
                .json(try await chain.expirations(try underlying(parameters.path["ticker"])))
            }
        }
        routes.add("GET", "/api/market/options/contracts/:symbol") { _, parameters in
            await answer { () async throws(MarketDataFailure) -> HTTPResponse in
                let raw = parameters.path["symbol"] ?? ""
                guard let symbol = SymbolRules.normalize(raw), SymbolRules.isOption(symbol) else {
                    throw .invalid("'\(raw)' is not an option ticker like O:SPY251219C00650000")
                }
                return .json(try await chain.contract(symbol))
            }
        }
        routes.add("POST", "/api/market/options/selection") { request, _ in
            await answer { () async throws(MarketDataFailure) -> HTTPResponse in
                .json(try await selections.save(body: request.body, subject: request.authSubject))
            }
        }
        routes.add("GET", "/api/market/options/selection") { request, _ in
            await answer { () async throws(MarketDataFailure) -> HTTPResponse in
                .json(try await selections.load(subject: request.authSubject))
            }
        }
        routes.add("GET", "/api/market/quotes/:contract") { _, parameters in
            await answer { () async throws(MarketDataFailure) -> HTTPResponse in
                let body = try await snapshots.quote(try symbol(parameters.path["contract"]))
                return HTTPResponse(
                    status: 200, headers: [("Content-Type", "application/json; charset=utf-8")], body: body)
            }
        }
        routes.add("GET", "/api/market/trades/:contract") { _, parameters in
            await answer { () async throws(MarketDataFailure) -> HTTPResponse in
                let ticker = try symbol(parameters.path["contract"])
                var limit = 50
                if let text = parameters.query("limit") {
                    guard let value = Int(text), (1...1_000).contains(value) else {
                        throw .invalid("limit must be an integer from 1 to 1000")
                    }
                    limit = value
                }
                return .json(try await snapshots.trades(ticker, limit: limit))
            }
        }
        routes.add("GET", "/api/market/watchlist") { _, parameters in
            await answer { () async throws(MarketDataFailure) -> HTTPResponse in
                try await watchlist(parameters, snapshots: snapshots)
            }
        }
    }

    /// Runs a route body and turns its failure into the JSON error response.
    static func answer(_ body: () async throws(MarketDataFailure) -> HTTPResponse) async -> HTTPResponse {
        do throws(MarketDataFailure) {
            return try await body()
        } catch {
            return error.response
        }
    }

    static func symbol(_ raw: String?) throws(MarketDataFailure) -> String {
        let raw = raw ?? ""
        guard let symbol = SymbolRules.normalize(raw) else {
            throw .invalid("'\(raw)' is not a stock, index or option ticker (e.g. SPY, O:SPY251219C00650000)")
        }
        return symbol
    }

    static func underlying(_ raw: String?) throws(MarketDataFailure) -> String {
        let ticker = try symbol(raw)
        guard !SymbolRules.isOption(ticker) else {
            throw .invalid("'\(ticker)' is an option; give its underlying (e.g. SPY)")
        }
        return ticker
    }

    static func chainQuery(_ parameters: RouteParameters) throws(MarketDataFailure) -> ChainQuery {
        var query = ChainQuery(underlying: try underlying(parameters.path["ticker"]))
        if let text = parameters.query("expiration") ?? parameters.query("expirations") {
            let dates = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !dates.isEmpty, dates.count <= 12 else {
                throw .invalid("expiration must list 1 to 12 dates YYYY-MM-DD, comma-separated")
            }
            for date in dates where CivilDate(date)?.description != date {
                throw .invalid("expiration '\(date)' is not a date YYYY-MM-DD")
            }
            var seen: Set<String> = []
            query.expirations = dates.filter { seen.insert($0).inserted }
        }
        if let text = parameters.query("strikes") {
            guard let count = Int(text), (1...200).contains(count) else {
                throw .invalid("strikes must be an integer from 1 to 200 (strikes each side of the money)")
            }
            query.strikesAroundTheMoney = count
        }
        func price(_ name: String) throws(MarketDataFailure) -> Double? {
            guard let text = parameters.query(name) else { return nil }
            guard let value = Double(text), value.isFinite, value >= 0 else {
                throw .invalid("\(name) must be a non-negative number")
            }
            return value
        }
        query.strikeMinimum = try price("strikeMin")
        query.strikeMaximum = try price("strikeMax")
        if let low = query.strikeMinimum, let high = query.strikeMaximum, low > high {
            throw .invalid("strikeMin must not be above strikeMax")
        }
        return query
    }

    static func watchlist(
        _ parameters: RouteParameters, snapshots: MarketSnapshotService
    ) async throws(MarketDataFailure) -> HTTPResponse {
        guard let text = parameters.query("tickers") else {
            throw .invalid("tickers is required, e.g. tickers=SPY,QQQ,AAPL")
        }
        let raw = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !raw.isEmpty else { throw .invalid("tickers must name at least one ticker") }
        guard raw.count <= 50 else { throw .invalid("at most 50 tickers per request (got \(raw.count))") }
        var seen: Set<String> = []
        var requested: [(raw: String, ticker: String?)] = []
        for entry in raw {
            let ticker = SymbolRules.normalize(entry)
            if let ticker, !seen.insert(ticker).inserted { continue }
            requested.append((entry, ticker))
        }
        let valid = requested.compactMap(\.ticker)
        var answer: JSONValue = .object([("items", .array([])), ("note", .null), ("health", .string("ok"))])
        if !valid.isEmpty { answer = try await snapshots.watchlist(valid) }
        var found = (answer["items"]?.array ?? []).makeIterator()
        let items: [JSONValue] = requested.map { entry in
            guard entry.ticker != nil, let item = found.next() else {
                return .object([
                    ("ticker", .string(entry.raw)), ("error", .string("invalid_symbol")),
                    ("message", .string("'\(entry.raw)' is not a stock, index or option ticker")),
                ])
            }
            return item
        }
        guard case .object(var members) = answer else { return .json(answer) }
        members[0] = ("items", .array(items))
        return .json(.object(members))
    }
}
