import Foundation
import MarketCalendar
import MassiveWire
import PluginKit
import Recording

/// One generated frame: when it arrives, on which connection, and its JSON text.
public struct SynthFrame: Sendable {
    public let atMilliseconds: Int64
    public let feed: String
    public let text: String
}

/// A generated session: a recording header, REST answers and the stream, ready to replay or write.
public struct SynthSession: Sendable {
    public let header: RecordingHeader
    public let exchanges: [RESTExchange]
    public let frames: [SynthFrame]
    /// The option contracts listed per underlying (for summaries and tests).
    public let contracts: [String: [ContractReference]]

    /// The session as an in-memory recording (what `source: synthetic` replays).
    public var recording: Recording {
        var entries: [RecordingEntry] = exchanges.map { .rest($0) }
        entries.reserveCapacity(exchanges.count + frames.count)
        for frame in frames {
            entries.append(
                .frame(atMilliseconds: frame.atMilliseconds, feed: frame.feed, bytes: Array(frame.text.utf8)))
        }
        return Recording(header: header, entries: entries)
    }

    /// Writes the session in the recording format (JSON lines): header, REST answers, then frames in time order.
    public func write(to path: String) throws(RecordingError) {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw .io("cannot create \(path)")
        }
        let writer = try RecordingWriter(path: path, header: header)
        for exchange in exchanges { writer.append(exchange) }
        for (index, frame) in frames.enumerated() {
            writer.appendFrame(atMilliseconds: frame.atMilliseconds, feed: frame.feed, frame: frame.text.utf8)
            if index % 10_000 == 0 { try writer.flush() }
        }
        try writer.close()
    }
}

/// Generates realistic, deterministic market sessions: for a seed, the same bytes every time.
///
/// Underlyings follow a geometric random walk whose volatility has the intraday U shape (busy open and
/// close, quiet midday, quieter extended hours) plus occasional jumps; the stock NBBO moves in cents and
/// trades print at or inside it. Option chains list weekly and monthly expirations with strikes tight near
/// the money and wider away; values come from Black–Scholes on a skewed smile; option quotes widen away
/// from the money and near expiry; option trades happen at or inside the quote, often near the money and
/// rarely far from it. Per-second and per-minute aggregates are built from the trades themselves, and the
/// REST answers (a year of daily bars, minute bars, daily bars of near-the-money options, chain snapshot,
/// contracts, watchlist snapshot) agree with the stream.
public enum MarketSynth {
    static let calendar = MarketCalendar.nyse

    public static func generate(_ configuration: SynthConfiguration) throws(SynthError) -> SynthSession {
        guard !configuration.underlyings.isEmpty else { throw SynthError("no underlyings to generate") }
        guard Set(configuration.underlyings).count == configuration.underlyings.count else {
            throw SynthError("underlyings are listed twice")
        }
        for symbol in configuration.underlyings {
            guard !symbol.isEmpty, symbol.utf8.count <= 6,
                symbol.utf8.allSatisfy({ ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) })
            else { throw SynthError("\(symbol) is not a plain stock ticker (A–Z, 0–9, up to 6 characters)") }
        }
        guard let day = calendar.tradingDay(configuration.date) else {
            throw SynthError(
                "\(configuration.date) is not a trading day (\(calendar.kind(of: configuration.date).rawValue))")
        }
        guard configuration.startMinute < configuration.endMinute, configuration.startMinute >= 0,
            configuration.endMinute <= 24 * 60
        else { throw SynthError("the session window must be a non-empty range of minutes within the day") }
        let start = max(day.preOpen, minute(configuration.date, configuration.startMinute))
        let end = min(day.afterClose, minute(configuration.date, configuration.endMinute))
        guard start < end else { throw SynthError("the session window lies outside the trading day") }

        var exchanges: [RESTExchange] = []
        var stockEvents: [(Int64, String)] = []
        var optionEvents: [(Int64, String)] = []
        var contractsByUnderlying: [String: [ContractReference]] = [:]
        var snapshots: [JSONValue] = []
        var symbols: [String] = configuration.underlyings
        for symbol in configuration.underlyings {
            var generator = UnderlyingGenerator(
                profile: configuration.profile(symbol), configuration: configuration, day: day, start: start, end: end)
            let output = generator.run()
            exchanges.append(contentsOf: output.exchanges)
            stockEvents.append(contentsOf: output.stockEvents)
            optionEvents.append(contentsOf: output.optionEvents)
            contractsByUnderlying[symbol] = output.contracts
            symbols.append(contentsOf: output.contracts.map(\.ticker))
            snapshots.append(output.tickerSnapshot)
        }
        exchanges.append(
            RESTExchange(
                atMilliseconds: start, path: "/v2/snapshot/locale/us/markets/stocks/tickers",
                query: "tickers=" + configuration.underlyings.joined(separator: ","),
                body: Array(
                    JSONValue.object([
                        ("status", .string("OK")), ("count", .integer(Int64(snapshots.count))),
                        ("tickers", .array(snapshots)),
                    ]).text.utf8)))
        let status = calendar.status(at: start)
        exchanges.append(
            RESTExchange(
                atMilliseconds: start, path: "/v1/marketstatus/now",
                body: Array(
                    MarketStatusDocument(
                        market: status.market, earlyHours: status.earlyHours, afterHours: status.afterHours,
                        serverTime: status.serverTime,
                        exchanges: [("nyse", status.market), ("nasdaq", status.market), ("otc", status.market)]
                    ).json.text.utf8)))
        let frames = group(stockEvents, feed: "stocks") + group(optionEvents, feed: "options")
        let ordered = frames.enumerated().sorted {
            ($0.element.atMilliseconds, $0.offset) < ($1.element.atMilliseconds, $1.offset)
        }.map(\.element)
        let header = RecordingHeader(
            createdAt: EasternTime.rfc3339(atUTC: start), source: "synthetic", symbols: symbols,
            startMilliseconds: start, endMilliseconds: end, sessionDate: configuration.date.description,
            seed: configuration.seed)
        return SynthSession(header: header, exchanges: exchanges, frames: ordered, contracts: contractsByUnderlying)
    }

    static func minute(_ date: CivilDate, _ minuteOfDay: Int) -> Int64 {
        EasternTime.utcMilliseconds(date: date, hour: minuteOfDay / 60, minute: minuteOfDay % 60)
    }

    /// Groups events into vendor frames: what arrives within the same 50 ms on one connection shares a frame.
    static func group(_ events: [(Int64, String)], feed: String) -> [SynthFrame] {
        let sorted = events.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element)
        var frames: [SynthFrame] = []
        var bucket: Int64 = .min
        var elements: [String] = []
        var last: Int64 = 0
        func close() {
            guard !elements.isEmpty else { return }
            frames.append(
                SynthFrame(atMilliseconds: last, feed: feed, text: "[" + elements.joined(separator: ",") + "]"))
            elements.removeAll(keepingCapacity: true)
        }
        for (at, element) in sorted {
            let slot = at / 50
            if slot != bucket {
                close()
                bucket = slot
            }
            elements.append(element)
            last = at
        }
        close()
        return frames
    }
}
