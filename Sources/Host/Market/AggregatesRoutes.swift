import MarketCalendar
import PluginKit

/// `GET /api/market/aggs` and `POST /api/market/aggs/warm` (documented in docs/openapi.yaml).
enum AggregatesRoutes {
    static func register(_ routes: inout HTTPRouter.Builder, service: AggregatesService, warmer: AggregatesWarmer) {
        /// The reused body for `key`, if the service has one that is still current.
        @Sendable func reused(_ key: AggregatesResponseCache.Key, now: Int64, version: UInt64) -> HTTPResponse? {
            guard let body = service.responses.body(for: key, now: now, dataVersion: version) else { return nil }
            service.countRequest(source: "cache", health: "ok")
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json; charset=utf-8")], body: body)
        }
        // A reused body or a parameter error is answered on the transport's thread, with no task and no hop.
        let immediate: HTTPRouter.ImmediateHandler = { _, parameters in
            do throws(ParameterError) {
                let key = AggregatesResponseCache.Key(try parse(parameters))
                return reused(key, now: service.clock.nowMilliseconds, version: service.dataVersion)
            } catch {
                return .error(400, "invalid_request", error.message)
            }
        }
        @Sendable func compute(
            _ query: AggregatesQuery, key: AggregatesResponseCache.Key, now: Int64, version: UInt64
        ) async -> HTTPResponse {
            do throws(AggregatesFailure) {
                let answer = try await service.answer(query)
                let body = encodeBytes(answer)
                var headers = [("Content-Type", "application/json; charset=utf-8")]
                if service.responses.store(body, for: key, answer: answer, now: now, dataVersion: version),
                    let cacheControl = service.responses.cacheControl
                {
                    // Shareable for one reuse lifetime: the transport answers repeats without asking the host.
                    headers.append(("Cache-Control", cacheControl))
                }
                return HTTPResponse(status: 200, headers: headers, body: body)
            } catch {
                var headers: [(String, String)] = []
                var body: [(String, JSONValue)] = [("error", .string(error.code)), ("message", .string(error.message))]
                if let wait = error.retryAfterMilliseconds {
                    headers.append(("Retry-After", String(max(1, (wait + 999) / 1_000))))
                    body.append(("retryAfterMs", .integer(wait)))
                }
                var response = HTTPResponse.json(.object(body), status: error.status)
                response.headers += headers
                return response
            }
        }
        let answers = SingleFlight<HTTPResponse>(maximumConcurrent: 256)
        routes.add("GET", "/api/market/aggs", immediate: immediate) { _, parameters in
            let query: AggregatesQuery
            do throws(ParameterError) {
                query = try parse(parameters)
            } catch {
                return .error(400, "invalid_request", error.message)
            }
            let key = AggregatesResponseCache.Key(query)
            let now = service.clock.nowMilliseconds
            let version = service.dataVersion
            if let answer = reused(key, now: now, version: version) { return answer }
            // Identical requests that miss the reused body together (as every client does when it expires under
            // load) share one computation instead of each reading and encoding the same bars.
            return await answers.run(key.flightKey) {
                await compute(query, key: key, now: now, version: version)
            }.value
        }
        routes.add("POST", "/api/market/aggs/warm") { request, _ in
            let hints: [AggregatesWarmer.Hint]
            do throws(ParameterError) {
                hints = try parseWarm(request.body)
            } catch {
                return .error(400, "invalid_request", error.message)
            }
            let accepted = warmer.enqueue(hints)
            return .json(
                .object([
                    ("accepted", .integer(Int64(accepted))), ("queued", .integer(Int64(warmer.queuedCount))),
                    ("duplicates", .integer(Int64(hints.count - accepted))),
                ]),
                status: 202
            )
        }
    }

    struct ParameterError: Error {
        var message: String
    }

    static func parse(_ parameters: RouteParameters) throws(ParameterError) -> AggregatesQuery {
        guard let raw = parameters.query("ticker"), !raw.isEmpty else {
            throw ParameterError(message: "ticker is required, e.g. ticker=SPY or ticker=O:SPY251219C00650000")
        }
        guard let ticker = SymbolRules.normalize(raw) else {
            throw ParameterError(message: "ticker '\(raw)' is not a stock, index or option ticker")
        }
        var query = AggregatesQuery(ticker: ticker)
        if let text = parameters.query("multiplier") {
            guard let value = Int32(text), (1...1_000).contains(value) else {
                throw ParameterError(message: "multiplier must be an integer from 1 to 1000")
            }
            query.multiplier = value
        }
        if let text = parameters.query("timespan") {
            guard let timespan = Timespan(name: text) else {
                throw ParameterError(
                    message: "timespan must be one of second, minute, hour, day, week, month, quarter, year")
            }
            query.timespan = timespan
        }
        if let text = parameters.query("from") {
            query.fromMilliseconds = try time(text, name: "from", endOfDay: false)
        }
        if let text = parameters.query("to") { query.toMilliseconds = try time(text, name: "to", endOfDay: true) }
        if let from = query.fromMilliseconds, let to = query.toMilliseconds, from > to {
            throw ParameterError(message: "from must not be after to")
        }
        if query.toMilliseconds != nil, query.fromMilliseconds == nil {
            throw ParameterError(message: "to needs from as well")
        }
        if let text = parameters.query("limit") {
            guard let value = Int(text), (1...50_000).contains(value) else {
                throw ParameterError(message: "limit must be an integer from 1 to 50000")
            }
            query.limit = value
        }
        if let text = parameters.query("sessionMode") {
            guard let mode = AggregatesQuery.SessionMode(rawValue: text) else {
                throw ParameterError(message: "sessionMode must be regular or extended")
            }
            query.sessionMode = mode
        }
        return query
    }

    /// Epoch milliseconds, or a New York calendar date (from: its midnight; to: its last millisecond).
    static func time(_ text: String, name: String, endOfDay: Bool) throws(ParameterError) -> Int64 {
        if let value = Int64(text), value >= 0, value < 4_102_444_800_000 { return value }
        if let date = CivilDate(text) {
            return endOfDay ? EasternTime.midnight(of: date.adding(days: 1)) - 1 : EasternTime.midnight(of: date)
        }
        throw ParameterError(message: "\(name) must be epoch milliseconds or a date YYYY-MM-DD")
    }

    static func encode(_ answer: AggregatesAnswer) -> JSONValue {
        let bars: [JSONValue] = answer.bars.map { bar in
            .object([
                ("t", .integer(bar.startMilliseconds)), ("o", .number(bar.open)), ("h", .number(bar.high)),
                ("l", .number(bar.low)), ("c", .number(bar.close)), ("v", .number(bar.volume)),
                ("vw", bar.vwap.isFinite ? .number(bar.vwap) : .null),
                ("n", bar.transactions >= 0 ? .integer(bar.transactions) : .null),
            ])
        }
        return .object([
            ("ticker", .string(answer.ticker)), ("resultTicker", .string(answer.resultTicker)),
            ("multiplier", .integer(Int64(answer.query.multiplier))), ("timespan", .string(answer.query.timespan.name)),
            ("resultGranularity", .string(answer.resultGranularity)),
            ("sessionMode", .string(answer.query.sessionMode.rawValue)),
            ("from", .integer(answer.fromMilliseconds)), ("to", .integer(answer.toMilliseconds)),
            ("count", .integer(Int64(answer.bars.count))), ("bars", .array(bars)),
            ("marketClosed", .bool(answer.marketClosed)), ("afterHours", .bool(answer.afterHours)),
            ("usingLastSession", .bool(answer.usingLastSession)),
            ("note", answer.notes.isEmpty ? .null : .string(answer.notes.joined(separator: " "))),
            ("health", .string(answer.health)), ("source", .string(answer.source)),
            ("marketStatus", answer.marketStatus.json),
        ])
    }

    static func parseWarm(_ body: [UInt8]) throws(ParameterError) -> [AggregatesWarmer.Hint] {
        let document: JSONValue
        do {
            document = try JSONValue.parse(body)
        } catch {
            throw ParameterError(message: "body must be JSON: {\"symbols\": [...], \"timeframes\": [\"1/day\", ...]}")
        }
        guard let symbols = document["symbols"]?.array, !symbols.isEmpty, symbols.count <= 100 else {
            throw ParameterError(message: "symbols must be a list of 1 to 100 tickers")
        }
        let timeframes = document["timeframes"]?.array ?? [.string("1/day")]
        guard !timeframes.isEmpty, timeframes.count <= 10 else {
            throw ParameterError(message: "timeframes must be a list of 1 to 10 entries like \"1/day\" or \"5/minute\"")
        }
        var hints: [AggregatesWarmer.Hint] = []
        for symbol in symbols {
            guard let raw = symbol.string, let ticker = SymbolRules.normalize(raw) else {
                throw ParameterError(message: "'\(symbol.text)' is not a valid ticker")
            }
            for timeframe in timeframes {
                let parts = timeframe.string?.split(separator: "/") ?? []
                guard parts.count == 2, let multiplier = Int32(parts[0]), (1...1_000).contains(multiplier),
                    let timespan = Timespan(name: String(parts[1]))
                else {
                    throw ParameterError(
                        message: "timeframe '\(timeframe.text)' must look like \"1/day\" or \"5/minute\"")
                }
                hints.append(.init(ticker: ticker, multiplier: multiplier, timespan: timespan))
            }
        }
        return hints
    }
}
