import MarketCalendar
import MassiveWire
import PluginAPI
import PluginKit
import ReplayEngine

/// The provider interface's ten look-ups mapped onto the vendor's REST endpoints.
public struct MassiveLookups: Sendable {
    public let rest: MassiveRESTClient
    /// Host wall clock, UTC milliseconds (the default for open-ended ranges and "today").
    let now: @Sendable () -> Int64

    public init(rest: MassiveRESTClient, now: @escaping @Sendable () -> Int64) {
        self.rest = rest
        self.now = now
    }

    /// Answers one look-up; errors come back as a failed result, never thrown.
    public func answer(_ request: LookupRequest) async -> OperationResult {
        do throws(PluginError) {
            return try await dispatch(request)
        } catch {
            return OperationResult(error: error)
        }
    }

    func dispatch(_ request: LookupRequest) async throws(PluginError) -> OperationResult {
        let kind = Int(request.kind)
        if kind != Int(MH_REQUEST_MARKET_STATUS) && kind != Int(MH_REQUEST_TICKER_SNAPSHOTS) {
            guard MassiveRESTClient.validTicker(request.ticker) else {
                throw .invalid("ticker \"\(request.ticker.prefix(80))\" is not a vendor ticker")
            }
        }
        switch kind {
        case Int(MH_REQUEST_AGGREGATES): return try await aggregates(request)
        case Int(MH_REQUEST_CHAIN_SNAPSHOT): return try await chain(request)
        case Int(MH_REQUEST_CONTRACT_SNAPSHOT): return try await contract(request)
        case Int(MH_REQUEST_CONTRACTS): return try await contracts(request, expirationsOnly: false)
        case Int(MH_REQUEST_EXPIRATIONS): return try await contracts(request, expirationsOnly: true)
        case Int(MH_REQUEST_QUOTES): return try await quotes(request)
        case Int(MH_REQUEST_TRADES): return try await trades(request)
        case Int(MH_REQUEST_LAST_TRADE): return try await lastTrade(request)
        case Int(MH_REQUEST_MARKET_STATUS): return try await marketStatus()
        case Int(MH_REQUEST_TICKER_SNAPSHOTS): return try await tickerSnapshots(request)
        default: throw .unsupported("unknown request kind \(request.kind)")
        }
    }

    static func json(_ value: JSONValue) -> OperationResult { OperationResult(json: value.bytes) }

    // MARK: Bars

    func aggregates(_ request: LookupRequest) async throws(PluginError) -> OperationResult {
        guard let timespan = Timespan(rawValue: request.timespan) else {
            throw .invalid("unknown timespan \(request.timespan)")
        }
        guard request.multiplier >= 1 else { throw .invalid("multiplier must be at least 1") }
        let to = request.toMilliseconds != 0 ? request.toMilliseconds : now()
        let from = request.fromMilliseconds
        guard from <= to else { throw .invalid("from_ms must not be after to_ms") }
        let adjusted = request.params?["adjusted"]?.bool ?? true
        let path = "/v2/aggs/ticker/\(request.ticker)/range/\(request.multiplier)/\(timespan.name)/\(from)/\(to)"
        let query = MassiveRESTClient.query([
            ("adjusted", adjusted ? "true" : "false"), ("sort", "asc"), ("limit", "50000"),
        ])
        let ticker = request.ticker
        let multiplier = request.multiplier
        let limit = Int(request.limit)
        var bars: [Bar] = try await rest.paginate(
            path, query: query, endpoint: "aggs", limit: limit
        ) { body throws(PluginError) in
            let page = try MassiveREST.aggregates(body, ticker: ticker, multiplier: multiplier, timespan: timespan)
            return (page.values, page.nextURL)
        }
        // Pages may overlap at their edges; keep bars unique by start, ascending, inside the asked range.
        var seen = Set<Int64>()
        bars = bars.filter { $0.startMilliseconds >= from && $0.startMilliseconds <= to }
            .sorted { $0.startMilliseconds < $1.startMilliseconds }
            .filter { seen.insert($0.startMilliseconds).inserted }
        if limit > 0, bars.count > limit { bars = Array(bars.prefix(limit)) }
        return OperationResult(bars: bars)
    }

    // MARK: Options

    /// The chain and contracts filters of the ABI's params JSON, as vendor query parameters.
    static func optionFilters(_ params: JSONValue?) throws(PluginError) -> [(String, String)] {
        guard let params else { return [] }
        var items: [(String, String)] = []
        func date(_ key: String, _ name: String) throws(PluginError) {
            guard let value = params[key] else { return }
            guard let text = value.string, CivilDate(text) != nil else { throw .invalid("\(key) must be YYYY-MM-DD") }
            items.append((name, text))
        }
        try date("expiration", "expiration_date")
        try date("expirationFrom", "expiration_date.gte")
        try date("expirationTo", "expiration_date.lte")
        try date("asOf", "as_of")
        for (key, name) in [("strikeMin", "strike_price.gte"), ("strikeMax", "strike_price.lte")] {
            guard let value = params[key] else { continue }
            guard let number = value.double, number.isFinite else { throw .invalid("\(key) must be a number") }
            items.append((name, JSONNumber.text(number)))
        }
        if let type = params["contractType"] {
            guard let text = type.string, text == "call" || text == "put" else {
                throw .invalid("contractType must be call or put")
            }
            items.append(("contract_type", text))
        }
        return items
    }

    func chain(_ request: LookupRequest) async throws(PluginError) -> OperationResult {
        let underlying = request.ticker
        var filters = try Self.optionFilters(request.params).filter { $0.0 != "as_of" }
        filters.append(("limit", "250"))
        let limit = Int(request.limit)
        let entries: [ChainEntry] = try await rest.paginate(
            "/v3/snapshot/options/\(underlying)", query: MassiveRESTClient.query(filters), endpoint: "chain",
            limit: limit
        ) { body throws(PluginError) in
            let page = try MassiveREST.chainSnapshot(body, underlying: underlying)
            return (
                page.document.contracts.map { ChainEntry(contract: $0, price: page.document.underlyingPrice) },
                page.nextURL
            )
        }
        var seen = Set<String>()
        var contracts = entries.map(\.contract).filter { seen.insert($0.ticker).inserted }
        if limit > 0, contracts.count > limit { contracts = Array(contracts.prefix(limit)) }
        let document = ChainDocument(
            underlying: underlying, underlyingPrice: entries.lazy.compactMap(\.price).first, contracts: contracts)
        return OperationResult(
            json: document.json.bytes, updatedMilliseconds: contracts.compactMap(\.updatedMilliseconds).max() ?? 0)
    }

    struct ChainEntry: Sendable {
        var contract: OptionContract
        var price: Double?
    }

    func contract(_ request: LookupRequest) async throws(PluginError) -> OperationResult {
        guard let option = OptionTicker(request.ticker) else {
            throw .invalid("\(request.ticker) is not an option ticker (O:ROOTYYMMDD[C|P]STRIKE)")
        }
        let underlying = request.params?["underlying"]?.string ?? option.root
        guard MassiveRESTClient.validTicker(underlying) else { throw .invalid("underlying is not a vendor ticker") }
        let body = try await rest.get(
            "/v3/snapshot/options/\(underlying)/\(request.ticker)", query: "", endpoint: "contract")
        var document = try MassiveREST.contractSnapshot(body)
        if document.underlying.isEmpty { document.underlying = underlying }
        return OperationResult(
            json: document.json.bytes, updatedMilliseconds: document.contract.updatedMilliseconds ?? 0)
    }

    func contracts(_ request: LookupRequest, expirationsOnly: Bool) async throws(PluginError) -> OperationResult {
        var filters = [("underlying_ticker", request.ticker)] + (try Self.optionFilters(request.params))
        if expirationsOnly {
            if !filters.contains(where: { $0.0.hasPrefix("expiration_date") }) {
                filters.append(("expiration_date.gte", EasternTime.local(atUTC: now()).date.description))
            }
            filters.append(("sort", "expiration_date"))
            filters.append(("order", "asc"))
        }
        filters.append(("limit", "1000"))
        let limit = expirationsOnly ? 0 : Int(request.limit)
        var references: [ContractReference] = try await rest.paginate(
            "/v3/reference/options/contracts", query: MassiveRESTClient.query(filters), endpoint: "contracts",
            limit: limit
        ) { body throws(PluginError) in
            let page = try MassiveREST.contracts(body)
            return (page.values, page.nextURL)
        }
        var seen = Set<String>()
        references = references.filter { seen.insert($0.ticker).inserted }
        if limit > 0, references.count > limit { references = Array(references.prefix(limit)) }
        if expirationsOnly { return Self.json(ContractReference.expirationsDocument(references)) }
        return Self.json(ContractReference.document(references))
    }

    // MARK: Ticks

    /// The `timestamp` bounds (nanoseconds) and page size of a quotes or trades look-up.
    func tickQuery(_ request: LookupRequest) -> (query: String, limit: Int) {
        let limit = request.limit == 0 ? 100 : min(Int(request.limit), 50_000)
        var items: [(String, String)] = [("order", "desc"), ("sort", "timestamp"), ("limit", String(limit))]
        if request.fromMilliseconds != 0 {
            items.append(("timestamp.gte", String(request.fromMilliseconds * 1_000_000)))
        }
        if request.toMilliseconds != 0 {
            items.append(("timestamp.lte", String(request.toMilliseconds * 1_000_000 + 999_999)))
        }
        return (MassiveRESTClient.query(items), limit)
    }

    func quotes(_ request: LookupRequest) async throws(PluginError) -> OperationResult {
        let (query, limit) = tickQuery(request)
        let ticker = request.ticker
        let values: [Quote] = try await rest.paginate(
            "/v3/quotes/\(ticker)", query: query, endpoint: "quotes", limit: limit
        ) { body throws(PluginError) in
            let page = try MassiveREST.quotes(body, ticker: ticker)
            return (page.values, page.nextURL)
        }
        return OperationResult(quotes: Array(values.prefix(limit)))
    }

    func trades(_ request: LookupRequest) async throws(PluginError) -> OperationResult {
        let (query, limit) = tickQuery(request)
        let ticker = request.ticker
        let values: [Trade] = try await rest.paginate(
            "/v3/trades/\(ticker)", query: query, endpoint: "trades", limit: limit
        ) { body throws(PluginError) in
            let page = try MassiveREST.trades(body, ticker: ticker)
            return (page.values, page.nextURL)
        }
        return OperationResult(trades: Array(values.prefix(limit)))
    }

    func lastTrade(_ request: LookupRequest) async throws(PluginError) -> OperationResult {
        let body = try await rest.get("/v2/last/trade/\(request.ticker)", query: "", endpoint: "last_trade")
        let trade = try MassiveREST.lastTrade(body)
        return OperationResult(updatedMilliseconds: trade.timestampNanoseconds / 1_000_000, trades: [trade])
    }

    // MARK: Market

    func marketStatus() async throws(PluginError) -> OperationResult {
        let body = try await rest.get("/v1/marketstatus/now", query: "", endpoint: "market_status")
        return Self.json(try MassiveREST.marketStatus(body).json)
    }

    func tickerSnapshots(_ request: LookupRequest) async throws(PluginError) -> OperationResult {
        var tickers = (request.params?["tickers"]?.array ?? []).compactMap(\.string)
        if tickers.isEmpty, !request.ticker.isEmpty { tickers = [request.ticker] }
        guard !tickers.isEmpty else { throw .invalid("params.tickers must list at least one ticker") }
        for ticker in tickers where !MassiveRESTClient.validTicker(ticker) {
            throw .invalid("ticker \"\(ticker.prefix(80))\" is not a vendor ticker")
        }
        let body = try await rest.get(
            "/v2/snapshot/locale/us/markets/stocks/tickers",
            query: MassiveRESTClient.query([("tickers", tickers.joined(separator: ","))]), endpoint: "snapshots")
        let snapshots = try MassiveREST.tickerSnapshots(body).values
        return OperationResult(
            json: TickerSnapshot.document(snapshots).bytes,
            updatedMilliseconds: snapshots.compactMap(\.updatedMilliseconds).max() ?? 0)
    }
}
