/// The monotonic time source for heartbeats, connect timeouts, rate limits and slow-client grace.
/// Injected so an embedding host can drive it from its own clock.
public struct ServerClock: Sendable {
    /// Monotonic nanoseconds, arbitrary origin.
    public var now: @Sendable () -> Int64

    public init(now: @escaping @Sendable () -> Int64) { self.now = now }

    /// The process's continuous clock.
    public static let system: ServerClock = {
        let origin = ContinuousClock.now
        return ServerClock {
            let elapsed = ContinuousClock.now - origin
            return elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        }
    }()
}

/// A token bucket: `rate` tokens per second up to `burst`.
struct TokenBucket: Sendable {
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var updated: Int64

    init(rate: Double, burst: Int, now: Int64) {
        self.rate = rate
        self.burst = Double(burst)
        self.tokens = Double(burst)
        self.updated = now
    }

    /// Takes one token if available.
    mutating func take(now: Int64) -> Bool {
        let elapsed = Double(max(0, now - updated)) / 1_000_000_000
        tokens = min(burst, tokens + elapsed * rate)
        updated = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
