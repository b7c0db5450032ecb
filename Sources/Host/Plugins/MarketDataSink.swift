import PluginAPI
import PluginKit

/// A stream state change reported by a provider.
public struct StreamState: Sendable, Equatable {
    public enum Kind: Int32, Sendable {
        case connecting = 0
        case live = 1
        case degraded = 2
        case rateLimited = 3
        case failed = 4
        case stopped = 5
    }

    public var kind: Kind
    public var feed: String
    public var reason: String
    public var retryAfterMilliseconds: Int64?
    /// After an outage: the window whose data may be missing.
    public var gap: ClosedRange<Int64>?

    public init(
        kind: Kind, feed: String = "", reason: String = "", retryAfterMilliseconds: Int64? = nil,
        gap: ClosedRange<Int64>? = nil
    ) {
        self.kind = kind
        self.feed = feed
        self.reason = reason
        self.retryAfterMilliseconds = retryAfterMilliseconds
        self.gap = gap
    }
}

/// Where the host receives a provider's stream. Implementations must be fast and thread-safe: they are called
/// on the provider's threads, concurrently.
public protocol MarketDataSink: AnyObject, Sendable {
    func receive(quotes: [Quote])
    func receive(trades: [Trade])
    /// Streamed per-second or per-minute aggregates.
    func receive(bars: [Bar])
    func receive(state: StreamState)
    func subscriptionFailed(symbol: String, channels: Channels, error: PluginError)
}
