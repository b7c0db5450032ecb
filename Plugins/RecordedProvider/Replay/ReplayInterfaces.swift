import PluginAPI
import PluginKit

/// Where a replay gets time from. The plugin passes the host's clock and timers; tests pass a manual clock, so
/// every replay is paced by time the caller controls.
public protocol ReplayScheduler: Sendable {
    /// Wall time, UTC nanoseconds since the epoch.
    var wallNanoseconds: Int64 { get }
    /// Monotonic nanoseconds (arbitrary origin).
    var monotonicNanoseconds: Int64 { get }
    /// Runs `action` once after `delay` monotonic nanoseconds; returns false when the timer was refused.
    func schedule(afterNanoseconds delay: Int64, _ action: @escaping @Sendable () -> Void) -> Bool
}

/// A stream state change, the Swift form of `mh_stream_state`.
public struct StreamStateEvent: Sendable, Equatable {
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
    public var retryAfterMilliseconds: Int64
    public var gapFromMilliseconds: Int64
    public var gapToMilliseconds: Int64

    public init(
        kind: Kind, feed: String = "", reason: String = "", retryAfterMilliseconds: Int64 = -1,
        gapFromMilliseconds: Int64 = 0, gapToMilliseconds: Int64 = 0
    ) {
        self.kind = kind
        self.feed = feed
        self.reason = reason
        self.retryAfterMilliseconds = retryAfterMilliseconds
        self.gapFromMilliseconds = gapFromMilliseconds
        self.gapToMilliseconds = gapToMilliseconds
    }
}

/// What a replay pushes out: the Swift form of `mh_provider_sink`. Calls for one replay never overlap.
public protocol ReplaySink: Sendable {
    func quotes(_ quotes: [Quote])
    func trades(_ trades: [Trade])
    func bars(_ bars: [Bar])
    func state(_ state: StreamStateEvent)
    func subscriptionError(symbol: String, channels: Channels, status: mh_status, message: String)
}
