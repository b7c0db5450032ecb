import MarketCalendar
import MassiveWire
import PluginKit
import Recording

/// The plugin's configuration (its YAML section, received as JSON).
///
/// ```yaml
/// source: synthetic        # or "file"
/// path: sessions/spy.jsonl # with source: file
/// underlyings: [SPY, QQQ, AAPL]
/// date: 2025-12-08         # synthetic session date; default: the current or last trading day
/// seed: 42
/// window: "04:00-20:00"    # synthetic: New York hours generated (default the whole extended day)
/// speed: 1                 # 1 = real time, N = N times faster, 0 = as fast as possible
/// loop: false
/// timeShift: today         # "none", "today" or a number of milliseconds
/// startAt: now             # "open", "now" or "HH:MM" (New York); default "now" for a synthetic session of
///                          # today (no date) at speed 1, else "open"
/// faults: faults.json      # a fault script file, or the script inline (object or array)
/// ```
public struct ReplayConfiguration: Sendable, Equatable {
    public enum Source: String, Sendable {
        case synthetic
        case file
    }

    public enum Shift: Sendable, Equatable {
        case none
        /// Move the recorded session onto the current (or most recent) trading day.
        case today
        /// Move every instant by whole trading days equal to this many milliseconds rounded to days.
        case milliseconds(Int64)
    }

    /// Where in the session the replay starts.
    public enum StartAt: Sendable, Equatable {
        /// At the start of the recording (or the synthetic window).
        case open
        /// At the current wall-clock time of day: what came before is history (REST look-ups), the stream
        /// continues from now, and a session already over stays over (the market is closed).
        case now
        /// At this New York minute of the session day.
        case time(minuteOfDay: Int)
    }

    public enum Faults: Sendable, Equatable {
        case none
        case path(String)
        case inline(FaultScript)
    }

    public var source: Source = .synthetic
    public var path: String?
    public var underlyings: [String] = ["SPY", "QQQ", "AAPL"]
    public var date: CivilDate?
    public var seed: UInt64 = 1
    /// Synthetic sessions: New York minutes of the day generated.
    public var startMinute = 4 * 60
    public var endMinute = 20 * 60
    public var speed: Double = 1
    public var loop = false
    public var timeShift: Shift = .none
    public var faults: Faults = .none
    public var startAt: StartAt = .open

    public init() {}

    /// The session a synthetic replay without a date plays: today when it is a trading day and (starting at
    /// `now`) its window has begun, else the previous trading day.
    public func sessionDate(wallMilliseconds: Int64, calendar: MarketCalendar = .nyse) -> CivilDate {
        if let date { return date }
        let (today, millisecondsOfDay) = EasternTime.local(atUTC: wallMilliseconds)
        let started = startAt != .now || millisecondsOfDay >= Int64(startMinute) * 60_000
        if calendar.isTradingDay(today), started { return today }
        return calendar.previousTradingDay(before: today).date
    }

    /// Parses the configuration object; every problem is reported with the key it concerns.
    public static func parse(_ bytes: [UInt8]) throws(ConfigurationError) -> ReplayConfiguration {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return ReplayConfiguration() }
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw ConfigurationError("the configuration is not JSON: \(error.description)")
        }
        return try parse(json)
    }

    public static func parse(_ json: JSONValue) throws(ConfigurationError) -> ReplayConfiguration {
        guard case .object(let members) = json else { throw ConfigurationError("the configuration must be an object") }
        var config = ReplayConfiguration()
        var sawTimeShift = false
        var sawStartAt = false
        for (key, value) in members where !value.isNull {
            switch key {
            case "source":
                guard let text = value.string, let source = Source(rawValue: text) else {
                    throw ConfigurationError("source must be \"synthetic\" or \"file\"")
                }
                config.source = source
            case "path":
                guard let text = value.string, !text.isEmpty else {
                    throw ConfigurationError("path must be a file path")
                }
                config.path = text
            case "underlyings":
                let list: [String]
                if let text = value.string {
                    list = text.split(separator: ",").map { String($0).trimmingWhitespace() }
                } else if let array = value.array, array.allSatisfy({ $0.string != nil }) {
                    list = array.compactMap(\.string)
                } else {
                    throw ConfigurationError("underlyings must be a list of tickers")
                }
                let cleaned = list.filter { !$0.isEmpty }
                guard !cleaned.isEmpty else { throw ConfigurationError("underlyings must not be empty") }
                config.underlyings = cleaned
            case "date":
                guard let text = value.string, let date = CivilDate(text) else {
                    throw ConfigurationError("date must be YYYY-MM-DD")
                }
                config.date = date
            case "seed":
                if let integer = value.int64, integer >= 0 {
                    config.seed = UInt64(integer)
                } else if let text = value.string, let parsed = UInt64(text) {
                    config.seed = parsed
                } else {
                    throw ConfigurationError("seed must be a non-negative integer")
                }
            case "window":
                guard let text = value.string, let (start, end) = parseWindow(text) else {
                    throw ConfigurationError("window must be \"HH:MM-HH:MM\" in New York time, start before end")
                }
                config.startMinute = start
                config.endMinute = end
            case "speed":
                guard let speed = value.double, speed.isFinite else {
                    throw ConfigurationError("speed must be a number")
                }
                config.speed = speed
            case "loop":
                guard let flag = value.bool else { throw ConfigurationError("loop must be true or false") }
                config.loop = flag
            case "timeShift":
                sawTimeShift = true
                if let text = value.string {
                    switch text {
                    case "none": config.timeShift = .none
                    case "today": config.timeShift = .today
                    default: throw ConfigurationError("timeShift must be \"none\", \"today\" or milliseconds")
                    }
                } else if let milliseconds = value.int64 {
                    config.timeShift = .milliseconds(milliseconds)
                } else {
                    throw ConfigurationError("timeShift must be \"none\", \"today\" or milliseconds")
                }
            case "startAt":
                sawStartAt = true
                switch value.string {
                case "open": config.startAt = .open
                case "now": config.startAt = .now
                case let text?:
                    guard let (minute, _) = parseWindow(text + "-24:00") else {
                        throw ConfigurationError("startAt must be \"open\", \"now\" or \"HH:MM\" (New York time)")
                    }
                    config.startAt = .time(minuteOfDay: minute)
                case nil:
                    throw ConfigurationError("startAt must be \"open\", \"now\" or \"HH:MM\" (New York time)")
                }
            case "faults":
                if let text = value.string {
                    config.faults = .path(text)
                } else {
                    do {
                        config.faults = .inline(try FaultScript.parse(value))
                    } catch {
                        throw ConfigurationError("faults: \(error.message)")
                    }
                }
            default:
                throw ConfigurationError("unknown configuration key \"\(key)\"")
            }
        }
        if config.source == .file, config.path == nil { throw ConfigurationError("source: file needs a path") }
        // A recorded file plays as today unless told otherwise; a synthetic session is generated for its date.
        if !sawTimeShift, config.source == .file { config.timeShift = .today }
        // A synthetic session of today played in real time starts where the day is, not at its window's start.
        if !sawStartAt, config.source == .synthetic, config.date == nil, config.speed == 1 { config.startAt = .now }
        return config
    }
}

/// `"09:30-16:00"` as minutes of the day.
func parseWindow(_ text: String) -> (Int, Int)? {
    func minutes(_ part: Substring) -> Int? {
        let pieces = part.split(separator: ":")
        guard pieces.count == 2, let hour = Int(pieces[0]), let minute = Int(pieces[1]), (0...24).contains(hour),
            (0..<60).contains(minute), hour * 60 + minute <= 24 * 60
        else { return nil }
        return hour * 60 + minute
    }
    let parts = text.split(separator: "-")
    guard parts.count == 2, let start = minutes(parts[0]), let end = minutes(parts[1]), start < end else { return nil }
    return (start, end)
}

/// A configuration problem, reported to the host as MH_INVALID.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
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
