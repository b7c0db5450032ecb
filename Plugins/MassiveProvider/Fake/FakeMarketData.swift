import MarketCalendar
import MarketSynth
import MassiveWire
import PluginKit
import Recording

/// What the fake vendor serves, indexed from a recording or a synthetic session: REST result entries kept in
/// the vendor's own JSON shapes and units, and the stream frames for the generated feed.
public struct FakeMarketData: Sendable {
    struct SeriesKey: Hashable {
        var ticker: String
        var multiplier: Int
        var timespan: String
    }

    /// Aggregate result entries (`{"v","vw","o","c","h","l","t","n"}`), ascending by `t`.
    var bars: [SeriesKey: [JSONValue]] = [:]
    /// Option chain snapshot entries by underlying, sorted by ticker.
    var chains: [String: [JSONValue]] = [:]
    /// Contracts reference entries by underlying.
    var contracts: [String: [JSONValue]] = [:]
    /// `/v3/quotes` and `/v3/trades` entries by ticker, newest first (nanosecond timestamps).
    var quotes: [String: [JSONValue]] = [:]
    var trades: [String: [JSONValue]] = [:]
    /// Stock snapshot objects by ticker.
    var snapshots: [String: JSONValue] = [:]
    var marketStatus: JSONValue?
    /// Stream frames (`at`, feed, text) in time order, for the generated feed.
    public var frames: [(at: Int64, feed: String, text: String)] = []
    public var symbols: [String] = []

    public init() {}

    /// Indexes a synthetic session (the RecordedProvider's generator): the default data of the fake.
    /// `startMinute`/`endMinute` are New York minutes of the day streamed (default: the whole extended day).
    public static func synthetic(
        underlyings: [String], date: CivilDate, seed: UInt64, startMinute: Int = 4 * 60, endMinute: Int = 20 * 60
    ) throws -> FakeMarketData {
        let session = try MarketSynth.generate(
            SynthConfiguration(
                underlyings: underlyings, date: date, seed: seed, startMinute: startMinute, endMinute: endMinute))
        var data = FakeMarketData()
        data.symbols = session.header.symbols
        for exchange in session.exchanges { data.add(exchange) }
        data.frames = session.frames.map { ($0.atMilliseconds, $0.feed, $0.text) }
        data.deriveTicks()
        data.finish()
        return data
    }

    /// Indexes a recording file (for example one written by `markethub record`).
    public static func recording(path: String) throws -> FakeMarketData {
        let recording = try RecordingReader.read(path: path)
        var data = FakeMarketData()
        data.symbols = recording.header.symbols
        for entry in recording.entries {
            switch entry {
            case .rest(let exchange): data.add(exchange)
            case .frame(let at, let feed, let bytes):
                data.frames.append((at, feed, String(decoding: bytes, as: UTF8.self)))
            case .fault: break
            }
        }
        data.frames.sort { $0.at < $1.at }
        data.deriveTicks()
        data.finish()
        return data
    }

    static func decodeSegment(_ segment: Substring) -> String {
        String(segment).replacing("%3A", with: ":").replacing("%3a", with: ":")
    }

    mutating func add(_ exchange: RESTExchange) {
        guard (200..<300).contains(exchange.status), let json = try? JSONValue.parse(exchange.body) else { return }
        let parts = exchange.path.split(separator: "/").map(Self.decodeSegment)
        let results = json["results"]?.array ?? []
        switch (parts.first, parts.count) {
        case ("v2", 9) where parts[1] == "aggs" && parts[4] == "range":
            guard let multiplier = Int(parts[5]) else { return }
            bars[SeriesKey(ticker: parts[3], multiplier: multiplier, timespan: parts[6]), default: []]
                .append(contentsOf: results)
        case ("v3", 4) where parts[1] == "snapshot" && parts[2] == "options":
            chains[parts[3], default: []].append(contentsOf: results)
        case ("v3", 5) where parts[1] == "snapshot" && parts[2] == "options":
            if let single = json["results"], case .object = single { chains[parts[3], default: []].append(single) }
        case ("v3", 4) where parts[1] == "reference" && parts[2] == "options" && parts[3] == "contracts":
            for entry in results {
                let underlying =
                    entry["underlying_ticker"]?.string ?? entry["ticker"]?.string.flatMap { OptionTicker($0)?.root }
                    ?? ""
                contracts[underlying, default: []].append(entry)
            }
        case ("v3", 3) where parts[1] == "quotes": quotes[parts[2], default: []].append(contentsOf: results)
        case ("v3", 3) where parts[1] == "trades": trades[parts[2], default: []].append(contentsOf: results)
        case ("v2", _) where parts.count >= 7 && parts[1] == "snapshot" && parts[6] == "tickers":
            for entry in json["tickers"]?.array ?? [] {
                if let ticker = entry["ticker"]?.string { snapshots[ticker] = entry }
            }
        case ("v1", 3) where parts[1] == "marketstatus": marketStatus = json
        default: break
        }
    }

    /// REST ticks for tickers that only have stream events (the synthetic session streams them): the same
    /// events in the REST shapes and units (nanoseconds, stock quote sizes in shares).
    mutating func deriveTicks() {
        var derivedQuotes: [String: [JSONValue]] = [:]
        var derivedTrades: [String: [JSONValue]] = [:]
        for frame in frames {
            guard let events = try? JSONValue.parse(frame.text).array else { continue }
            for event in events {
                guard let symbol = event["sym"]?.string, let t = event["t"]?.int64 else { continue }
                let ns = t * 1_000_000
                let option = symbol.hasPrefix("O:")
                switch event["ev"]?.string {
                case "Q" where quotes[symbol] == nil:
                    let lot: Double = option ? 1 : 100
                    derivedQuotes[symbol, default: []].append(
                        .object([
                            ("ask_exchange", event["ax"] ?? .null), ("ask_price", event["ap"] ?? .null),
                            ("ask_size", .number((event["as"]?.double ?? 0) * lot)),
                            ("bid_exchange", event["bx"] ?? .null), ("bid_price", event["bp"] ?? .null),
                            ("bid_size", .number((event["bs"]?.double ?? 0) * lot)),
                            ("sequence_number", event["q"] ?? .null), ("sip_timestamp", .integer(ns)),
                        ]))
                case "T" where trades[symbol] == nil:
                    var members: [(String, JSONValue)] = [
                        ("conditions", event["c"] ?? .array([])), ("exchange", event["x"] ?? .null),
                        ("price", event["p"] ?? .null), ("sequence_number", event["q"] ?? .null),
                        ("sip_timestamp", .integer(ns)), ("participant_timestamp", .integer(ns - 1_000)),
                        ("size", event["s"] ?? .null),
                    ]
                    if let id = event["i"] { members.append(("id", id)) }
                    derivedTrades[symbol, default: []].append(.object(members))
                default: break
                }
            }
        }
        for (symbol, list) in derivedQuotes { quotes[symbol] = list }
        for (symbol, list) in derivedTrades { trades[symbol] = list }
    }

    mutating func finish() {
        for key in bars.keys {
            var seen = Set<Int64>()
            bars[key] = bars[key]?.sorted { ($0["t"]?.int64 ?? 0) < ($1["t"]?.int64 ?? 0) }
                .filter { seen.insert($0["t"]?.int64 ?? 0).inserted }
        }
        for key in chains.keys {
            var seen = Set<String>()
            chains[key] = chains[key]?.sorted {
                ($0["details"]?["ticker"]?.string ?? "") < ($1["details"]?["ticker"]?.string ?? "")
            }
            .filter { seen.insert($0["details"]?["ticker"]?.string ?? "").inserted }
        }
        for key in contracts.keys {
            var seen = Set<String>()
            contracts[key] = contracts[key]?.filter { seen.insert($0["ticker"]?.string ?? "").inserted }
        }
        func newestFirst(_ list: [JSONValue]) -> [JSONValue] {
            list.sorted { ($0["sip_timestamp"]?.int64 ?? 0) > ($1["sip_timestamp"]?.int64 ?? 0) }
        }
        for key in quotes.keys { quotes[key] = quotes[key].map(newestFirst) }
        for key in trades.keys { trades[key] = trades[key].map(newestFirst) }
    }

    /// Every ticker the fake knows (for 404s).
    func knows(_ ticker: String) -> Bool {
        symbols.contains(ticker) || bars.keys.contains { $0.ticker == ticker } || chains[ticker] != nil
            || quotes[ticker] != nil || trades[ticker] != nil || snapshots[ticker] != nil
    }

    /// Adds or replaces a daily or intraday series (tests use it to shape pagination exactly).
    public mutating func setBars(_ ticker: String, multiplier: Int, timespan: String, entries: [JSONValue]) {
        bars[SeriesKey(ticker: ticker, multiplier: multiplier, timespan: timespan)] = entries.sorted {
            ($0["t"]?.int64 ?? 0) < ($1["t"]?.int64 ?? 0)
        }
        if !symbols.contains(ticker) { symbols.append(ticker) }
    }
}
