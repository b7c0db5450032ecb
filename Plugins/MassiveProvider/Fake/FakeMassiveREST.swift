import Hummingbird
import MarketCalendar
import NIOCore
import PluginKit
import Synchronization

/// The fake's REST side: the vendor's paths, query parameters, pagination (`next_url` with an opaque cursor
/// and never the key), error bodies (`error` for `ERROR`, `message` for `NOT_AUTHORIZED`/`NOT_FOUND`, plain
/// text for unknown routes) and units (bars in ms, ticks and snapshots in ns).
extension FakeMassiveServer {
    struct Query {
        var items: [(String, String)]

        init(_ raw: String) {
            items = raw.split(separator: "&").map { pair in
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (Query.decode(parts[0]), parts.count > 1 ? Query.decode(parts[1]) : "")
            }
        }

        init(items: [(String, String)]) { self.items = items }

        subscript(_ name: String) -> String? { items.last { $0.0 == name }?.1 }

        func all(_ name: String) -> [String] { items.filter { $0.0 == name }.map(\.1) }

        static func decode(_ text: Substring) -> String {
            var bytes: [UInt8] = []
            var iterator = Array(text.utf8).makeIterator()
            while let byte = iterator.next() {
                if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                {
                    bytes.append(value)
                } else if byte == UInt8(ascii: "+") {
                    bytes.append(32)
                } else {
                    bytes.append(byte)
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }

        var encoded: String {
            items.map { "\($0.0)=\(Query.encode($0.1))" }.joined(separator: "&")
        }

        static func encode(_ text: String) -> String {
            var out = ""
            for byte in text.utf8 {
                switch byte {
                case 65...90, 97...122, 48...57, 45, 46, 95, 126, 58, 44: out.unicodeScalars.append(UnicodeScalar(byte))
                default:
                    let hex = Array("0123456789ABCDEF".utf8)
                    out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
                }
            }
            return out
        }
    }

    static func json(_ status: Int, _ value: JSONValue, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(
            status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: value.text)))
    }

    static func requestID() -> String {
        String((0..<32).map { _ in "0123456789abcdef".randomElement()! })
    }

    static func errorBody(_ status: String, error: String? = nil, message: String? = nil) -> JSONValue {
        var members: [(String, JSONValue)] = [("status", .string(status)), ("request_id", .string(requestID()))]
        if let error { members.append(("error", .string(error))) }
        if let message { members.append(("message", .string(message))) }
        return .object(members)
    }

    static func notFound(_ text: String) -> Response {
        json(404, errorBody("NOT_FOUND", message: text))
    }

    func rest(_ request: Request) async -> Response {
        let path = request.uri.path
        var query = Query(request.uri.query ?? "")
        let bearer = request.headers[.authorization].flatMap {
            $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil
        }
        let key = bearer ?? query["apiKey"]
        let authorization = bearer != nil ? "bearer" : (query["apiKey"] != nil ? "query" : "none")
        query.items.removeAll { $0.0 == "apiKey" }
        // Follow-up pages carry only the cursor: it holds the original filters and the offset.
        if let cursor = query["cursor"], let decoded = Self.decodeCursor(cursor) {
            query = Query(decoded)
        }
        let (behaviour, rateLimited, failing) = state.withLock { state -> (Behaviour, Bool, Bool) in
            var limited = false
            var failing = false
            if state.behaviour.rateLimitedRequests > 0 {
                state.behaviour.rateLimitedRequests -= 1
                limited = true
            } else if let until = state.behaviour.rateLimitedUntil, ContinuousClock.now < until {
                limited = true
            } else if state.behaviour.failingRequests > 0 {
                state.behaviour.failingRequests -= 1
                failing = true
            }
            return (state.behaviour, limited, failing)
        }
        if behaviour.restDelayMilliseconds > 0 {
            try? await Task.sleep(for: .milliseconds(behaviour.restDelayMilliseconds))
        }
        let response: Response
        if key == nil {
            response = Self.json(401, Self.errorBody("ERROR", error: "API Key was not provided"))
        } else if behaviour.authFailure || !apiKeys.contains(key ?? "") {
            response = Self.json(401, Self.errorBody("ERROR", error: "Unknown API Key"))
        } else if rateLimited {
            var headers: HTTPFields = [:]
            if let seconds = behaviour.retryAfterSeconds { headers[.retryAfter] = String(seconds) }
            response = Self.json(
                429,
                Self.errorBody(
                    "ERROR",
                    error:
                        "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://massive.com/pricing"
                ), headers: headers)
        } else if behaviour.notEntitled {
            response = Self.json(
                403,
                Self.errorBody(
                    "NOT_AUTHORIZED",
                    message:
                        "You are not entitled to this data. Please upgrade your plan at https://massive.com/pricing"))
        } else if failing {
            response = Self.json(
                behaviour.failureStatus, Self.errorBody("ERROR", error: "Internal server error (fake)"))
        } else {
            response = route(path: path, query: query, behaviour: behaviour)
        }
        state.withLock { state in
            if state.requests.count >= 10_000 { state.requests.removeFirst(5_000) }
            state.requests.append(
                LoggedRequest(
                    path: path,
                    query: query.items.filter { $0.0 != "apiKey" }.map { "\($0.0)=\($0.1)" }.joined(
                        separator: "&"), authorization: authorization, status: Int(response.status.code)))
        }
        return response
    }

    func route(path: String, query: Query, behaviour: Behaviour) -> Response {
        let parts = path.split(separator: "/").map { String(Query.decode($0)) }
        switch (parts.first, parts.count) {
        case ("v2", 9) where parts[1] == "aggs" && parts[2] == "ticker" && parts[4] == "range":
            return aggregates(parts, query: query, behaviour: behaviour)
        case ("v3", 4) where parts[1] == "snapshot" && parts[2] == "options":
            return chain(parts[3], query: query, behaviour: behaviour)
        case ("v3", 5) where parts[1] == "snapshot" && parts[2] == "options":
            return contract(parts[3], parts[4], behaviour: behaviour)
        case ("v3", 4) where parts[1] == "reference" && parts[2] == "options" && parts[3] == "contracts":
            return contracts(query: query, behaviour: behaviour)
        case ("v3", 3) where parts[1] == "quotes" || parts[1] == "trades":
            return ticks(parts[1], ticker: parts[2], query: query, behaviour: behaviour)
        case ("v2", 4) where parts[1] == "last" && parts[2] == "trade":
            return lastTrade(parts[3])
        case ("v1", 3) where parts[1] == "marketstatus" && parts[2] == "now":
            return Self.json(200, data.marketStatus ?? Self.defaultMarketStatus)
        case ("v2", 7) where parts[1] == "snapshot" && parts[6] == "tickers":
            return tickerSnapshots(query: query, behaviour: behaviour)
        default:
            return Response(
                status: .notFound, headers: [.contentType: "text/plain"],
                body: .init(byteBuffer: ByteBuffer(string: "404 page not found")))
        }
    }

    static let defaultMarketStatus: JSONValue = .object([
        ("market", .string("closed")), ("earlyHours", .bool(false)), ("afterHours", .bool(false)),
        ("serverTime", .string("2025-12-08T10:45:12-05:00")),
        (
            "exchanges",
            .object([("nasdaq", .string("closed")), ("nyse", .string("closed")), ("otc", .string("closed"))])
        ),
    ])

    // MARK: Pagination

    static func encodeCursor(_ query: String) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let bytes = Array(query.utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            for position in 0..<(chunk.count + 1) {
                out.append(alphabet[Int((value >> (18 - 6 * UInt32(position))) & 63)])
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decodeCursor(_ cursor: String) -> String? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var values: [UInt32] = []
        for byte in cursor.utf8 {
            guard let index = alphabet.firstIndex(of: byte) else { return nil }
            values.append(UInt32(index))
        }
        var out: [UInt8] = []
        var index = 0
        while index < values.count {
            let chunk = Array(values[index..<min(index + 4, values.count)])
            guard chunk.count >= 2 else { return nil }
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | $1.element << (18 - 6 * UInt32($1.offset)) }
            for position in 0..<(chunk.count - 1) { out.append(UInt8((value >> (16 - 8 * UInt32(position))) & 255)) }
            index += 4
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The absolute next-page URL: this server, the path, one `cursor` parameter (never the key).
    func nextURL(path: String, query: Query, offset: Int) -> String {
        var items = query.items.filter { $0.0 != "offset" && $0.0 != "cursor" }
        items.append(("offset", String(offset)))
        let port = state.withLock { $0.port } ?? requestedPort
        return "http://\(host):\(port)\(path)?cursor=\(Self.encodeCursor(Query(items: items).encoded))"
    }

    /// One page of `entries`: the slice at the query's offset, and the next URL when more remain.
    func page(
        _ entries: [JSONValue], path: String, query: Query, defaultLimit: Int, maxLimit: Int, behaviour: Behaviour
    ) -> (results: [JSONValue], next: String?) {
        let asked = query["limit"].flatMap(Int.init) ?? defaultLimit
        let size = behaviour.pageSize ?? min(max(asked, 1), maxLimit)
        let offset = max(0, query["offset"].flatMap(Int.init) ?? 0)
        guard offset < entries.count else { return ([], nil) }
        let end = min(entries.count, offset + size)
        return (
            Array(entries[offset..<end]), end < entries.count ? nextURL(path: path, query: query, offset: end) : nil
        )
    }

    static func ok(_ members: [(String, JSONValue)], next: String?) -> Response {
        var members: [(String, JSONValue)] =
            [("status", .string("OK")), ("request_id", .string(requestID()))] + members
        if let next { members.append(("next_url", .string(next))) }
        return json(200, .object(members))
    }

    // MARK: Endpoints

    /// A `from`/`to` bound: `YYYY-MM-DD` (the New York day, inclusive) or Unix milliseconds.
    static func bound(_ text: String, end: Bool) -> Int64? {
        if let milliseconds = Int64(text) { return milliseconds }
        guard let date = CivilDate(text) else { return nil }
        return end ? EasternTime.midnight(of: date.adding(days: 1)) - 1 : EasternTime.midnight(of: date)
    }

    func aggregates(_ parts: [String], query: Query, behaviour: Behaviour) -> Response {
        let ticker = parts[3]
        guard let multiplier = Int(parts[5]), multiplier >= 1 else {
            return Self.json(400, Self.errorBody("ERROR", error: "multiplier must be a positive integer"))
        }
        let timespan = parts[6]
        guard ["second", "minute", "hour", "day", "week", "month", "quarter", "year"].contains(timespan) else {
            return Self.json(400, Self.errorBody("ERROR", error: "Invalid timespan: \(timespan)"))
        }
        guard let from = Self.bound(parts[7], end: false), let to = Self.bound(parts[8], end: true) else {
            return Self.json(400, Self.errorBody("ERROR", error: "Could not parse the time parameter: 'from' or 'to'"))
        }
        guard data.knows(ticker) else { return Self.notFound("Ticker not found.") }
        let series = bars(ticker, multiplier: multiplier, timespan: timespan)
        var entries = series.filter { ($0["t"]?.int64 ?? 0) >= from && ($0["t"]?.int64 ?? 0) <= to }
        // While the session streams, intraday bars end where the stream is: the vendor has no bars from the
        // future, and a chart must be able to continue its history with the stream's next bar.
        if ["second", "minute", "hour"].contains(timespan), let clock = state.withLock({ $0.streamClock }) {
            entries = entries.filter { ($0["t"]?.int64 ?? 0) <= clock }
        }
        if query["sort"] == "desc" { entries.reverse() }
        let limit = min(max(query["limit"].flatMap(Int.init) ?? 5_000, 1), 50_000)
        let size = behaviour.pageSize ?? limit
        let slice = Array(entries.prefix(size))
        var next: String?
        if entries.count > size, query["sort"] != "desc", let nextStart = entries[size]["t"]?.int64 {
            // Like the vendor: the next page's path restarts `from` at the next bar, in milliseconds.
            var items = query.items.filter { $0.0 != "cursor" && $0.0 != "offset" }
            if !items.contains(where: { $0.0 == "limit" }) { items.append(("limit", String(limit))) }
            let port = state.withLock { $0.port } ?? requestedPort
            next =
                "http://\(host):\(port)/v2/aggs/ticker/\(ticker)/range/\(multiplier)/\(timespan)/\(nextStart)/\(parts[8])?cursor=\(Self.encodeCursor(Query(items: items).encoded))"
        }
        var members: [(String, JSONValue)] = [
            ("ticker", .string(ticker)), ("queryCount", .integer(Int64(slice.count))),
            ("resultsCount", .integer(Int64(slice.count))), ("adjusted", .bool(query["adjusted"] != "false")),
        ]
        if !slice.isEmpty { members.append(("results", .array(slice))) }
        return Self.ok(members, next: next)
    }

    /// The series for a request, folding 1-unit bars into wider ones for minute and hour multiples.
    func bars(_ ticker: String, multiplier: Int, timespan: String) -> [JSONValue] {
        typealias Key = FakeMarketData.SeriesKey
        if let exact = data.bars[Key(ticker: ticker, multiplier: multiplier, timespan: timespan)] { return exact }
        let width: Int64
        let base: [JSONValue]
        switch timespan {
        case "minute":
            base = data.bars[Key(ticker: ticker, multiplier: 1, timespan: "minute")] ?? []
            width = 60_000 * Int64(multiplier)
        case "hour":
            base = data.bars[Key(ticker: ticker, multiplier: 1, timespan: "minute")] ?? []
            width = 3_600_000 * Int64(multiplier)
        default: return []
        }
        var out: [JSONValue] = []
        var bucket: Int64 = .min
        var open = 0.0
        var high = 0.0
        var low = 0.0
        var close = 0.0
        var volume = 0.0
        var notional = 0.0
        var trades: Int64 = 0
        func emit() {
            guard bucket != .min else { return }
            out.append(
                .object([
                    ("v", .number(volume)), ("vw", .number(volume > 0 ? notional / volume : close)),
                    ("o", .number(open)),
                    ("c", .number(close)), ("h", .number(high)), ("l", .number(low)), ("t", .integer(bucket)),
                    ("n", .integer(trades)),
                ]))
        }
        for entry in base {
            guard let t = entry["t"]?.int64, let o = entry["o"]?.double, let h = entry["h"]?.double,
                let l = entry["l"]?.double, let c = entry["c"]?.double
            else { continue }
            let start = t - t % width
            let v = entry["v"]?.double ?? 0
            if start != bucket {
                emit()
                bucket = start
                (open, high, low, volume, notional, trades) = (o, h, l, 0, 0, 0)
            }
            high = max(high, h)
            low = min(low, l)
            close = c
            volume += v
            notional += v * (entry["vw"]?.double ?? c)
            trades += entry["n"]?.int64 ?? 0
        }
        emit()
        return out
    }

    static func stripOptional(_ entry: JSONValue, _ names: [String]) -> JSONValue {
        guard case .object(let members) = entry else { return entry }
        return .object(members.filter { !names.contains($0.0) })
    }

    func chain(_ underlying: String, query: Query, behaviour: Behaviour) -> Response {
        guard let all = data.chains[underlying] else { return Self.notFound("Ticker not found.") }
        let entries = all.filter { entry in
            let details = entry["details"]
            let expiration = details?["expiration_date"]?.string ?? ""
            let strike = details?["strike_price"]?.double ?? 0
            if let value = query["expiration_date"], expiration != value { return false }
            if let value = query["expiration_date.gte"], expiration < value { return false }
            if let value = query["expiration_date.gt"], expiration <= value { return false }
            if let value = query["expiration_date.lte"], expiration > value { return false }
            if let value = query["expiration_date.lt"], expiration >= value { return false }
            if let value = query["strike_price"].flatMap(Double.init), strike != value { return false }
            if let value = query["strike_price.gte"].flatMap(Double.init), strike < value { return false }
            if let value = query["strike_price.lte"].flatMap(Double.init), strike > value { return false }
            if let value = query["contract_type"], details?["contract_type"]?.string != value { return false }
            return true
        }
        let (results, next) = page(
            entries, path: "/v3/snapshot/options/\(underlying)", query: query, defaultLimit: 10, maxLimit: 250,
            behaviour: behaviour)
        let shaped =
            behaviour.omitOptionalFields
            ? results.map { Self.stripOptional($0, ["greeks", "last_quote", "last_trade"]) } : results
        return Self.ok([("results", .array(shaped))], next: next)
    }

    func contract(_ underlying: String, _ ticker: String, behaviour: Behaviour) -> Response {
        guard let entry = data.chains[underlying]?.first(where: { $0["details"]?["ticker"]?.string == ticker }) else {
            return Self.notFound("Ticker not found.")
        }
        let shaped =
            behaviour.omitOptionalFields ? Self.stripOptional(entry, ["greeks", "last_quote", "last_trade"]) : entry
        return Self.ok([("results", shaped)], next: nil)
    }

    func contracts(query: Query, behaviour: Behaviour) -> Response {
        var entries: [JSONValue]
        if let underlying = query["underlying_ticker"] {
            entries = data.contracts[underlying] ?? []
        } else {
            entries = data.contracts.keys.sorted().flatMap { data.contracts[$0] ?? [] }
        }
        entries = entries.filter { entry in
            let expiration = entry["expiration_date"]?.string ?? ""
            let strike = entry["strike_price"]?.double ?? 0
            if let value = query["expiration_date"], expiration != value { return false }
            if let value = query["expiration_date.gte"], expiration < value { return false }
            if let value = query["expiration_date.lte"], expiration > value { return false }
            if let value = query["strike_price.gte"].flatMap(Double.init), strike < value { return false }
            if let value = query["strike_price.lte"].flatMap(Double.init), strike > value { return false }
            if let value = query["contract_type"], entry["contract_type"]?.string != value { return false }
            return true
        }
        let key = query["sort"] ?? "ticker"
        func field(_ entry: JSONValue) -> String {
            switch key {
            case "expiration_date": (entry["expiration_date"]?.string ?? "") + (entry["ticker"]?.string ?? "")
            case "strike_price": String(format8(entry["strike_price"]?.double ?? 0))
            default: entry["ticker"]?.string ?? ""
            }
        }
        entries.sort { field($0) < field($1) }
        if query["order"] == "desc" { entries.reverse() }
        let (results, next) = page(
            entries, path: "/v3/reference/options/contracts", query: query, defaultLimit: 10, maxLimit: 1_000,
            behaviour: behaviour)
        return Self.ok([("results", .array(results))], next: next)
    }

    func format8(_ value: Double) -> String {
        let text = String(Int64(value * 1_000))
        return String(repeating: "0", count: max(0, 12 - text.count)) + text
    }

    func ticks(_ kind: String, ticker: String, query: Query, behaviour: Behaviour) -> Response {
        guard let all = kind == "quotes" ? data.quotes[ticker] : data.trades[ticker] else {
            return data.knows(ticker)
                ? Self.ok([("results", .array([]))], next: nil) : Self.notFound("Ticker not found.")
        }
        func stamp(_ text: String) -> Int64? {
            if let value = Int64(text) { return value }
            return CivilDate(text).map { EasternTime.midnight(of: $0) * 1_000_000 }
        }
        var entries = all.filter { entry in
            let t = entry["sip_timestamp"]?.int64 ?? 0
            if let value = query["timestamp.gte"].flatMap(stamp), t < value { return false }
            if let value = query["timestamp.gt"].flatMap(stamp), t <= value { return false }
            if let value = query["timestamp.lte"].flatMap(stamp), t > value { return false }
            if let value = query["timestamp.lt"].flatMap(stamp), t >= value { return false }
            return true
        }
        if query["order"] == "asc" { entries.reverse() }
        let (results, next) = page(
            entries, path: "/v3/\(kind)/\(ticker)", query: query, defaultLimit: 1_000, maxLimit: 50_000,
            behaviour: behaviour)
        return Self.ok([("results", .array(results))], next: next)
    }

    func lastTrade(_ ticker: String) -> Response {
        guard let trade = data.trades[ticker]?.first else { return Self.notFound("Ticker not found.") }
        let option = ticker.hasPrefix("O:")
        return Self.ok(
            [
                (
                    "results",
                    .object([
                        ("T", .string(ticker)), ("c", trade["conditions"] ?? .array([])),
                        ("i", option ? .string("") : (trade["id"] ?? .string(""))), ("p", trade["price"] ?? .null),
                        ("q", trade["sequence_number"] ?? .null), ("s", trade["size"] ?? .null),
                        ("t", trade["sip_timestamp"] ?? .null), ("x", trade["exchange"] ?? .null),
                        ("y", trade["participant_timestamp"] ?? trade["sip_timestamp"] ?? .null),
                    ])
                )
            ], next: nil)
    }

    func tickerSnapshots(query: Query, behaviour: Behaviour) -> Response {
        // Both the comma form and repeated keys (the JS client's) are accepted.
        let asked = query.all("tickers").flatMap { $0.split(separator: ",").map(String.init) }
        let tickers = asked.isEmpty ? data.snapshots.keys.sorted() : asked
        let found = tickers.compactMap { data.snapshots[$0] }.map {
            behaviour.omitOptionalFields ? Self.stripOptional($0, ["lastQuote", "lastTrade"]) : $0
        }
        return Self.json(
            200,
            .object([("status", .string("OK")), ("count", .integer(Int64(found.count))), ("tickers", .array(found))]))
    }
}
