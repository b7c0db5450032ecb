import Foundation
import PluginKit

/// A chart timeframe a client can focus: `1m 5m 15m 30m` stream live candles; `1h 1D 1W` are served as a
/// snapshot only (the client refreshes them by REST).
public struct ChartTimeframe: Sendable, Hashable, CustomStringConvertible {
    /// The canonical label sent back to clients ("5m", "1D").
    public let label: String
    public let multiplier: Int32
    public let timespan: Timespan

    public static let all: [ChartTimeframe] = [
        .init(label: "1m", multiplier: 1, timespan: .minute), .init(label: "5m", multiplier: 5, timespan: .minute),
        .init(label: "15m", multiplier: 15, timespan: .minute), .init(label: "30m", multiplier: 30, timespan: .minute),
        .init(label: "1h", multiplier: 1, timespan: .hour), .init(label: "1D", multiplier: 1, timespan: .day),
        .init(label: "1W", multiplier: 1, timespan: .week),
    ]

    init(label: String, multiplier: Int32, timespan: Timespan) {
        self.label = label
        self.multiplier = multiplier
        self.timespan = timespan
    }

    /// Parses a client's timeframe (`1m 5m 15m 30m 1h 1D 1W`, also `1d`, `1w`, `1H`); nil when unknown.
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let lowered = trimmed.lowercased()
        // Minutes are lower-case "m" only: "1M" would read as a month to a trader.
        let match = Self.all.first { candidate in
            switch candidate.timespan {
            case .minute: candidate.label == trimmed
            default: candidate.label.lowercased() == lowered
            }
        }
        guard let match else { return nil }
        self = match
    }

    /// True for the intraday minute timeframes the hub streams.
    public var streams: Bool { timespan == .minute }

    /// Candle width in milliseconds (fixed for every supported timeframe).
    public var periodMilliseconds: Int64 { (timespan.fixedMilliseconds ?? 86_400_000) * Int64(multiplier) }

    /// `"5/minute"`, like the REST API's `resultGranularity`.
    public var granularity: String { "\(multiplier)/\(timespan.name)" }

    public var description: String { label }

    public static var accepted: String { all.map(\.label).joined(separator: " ") }
}
