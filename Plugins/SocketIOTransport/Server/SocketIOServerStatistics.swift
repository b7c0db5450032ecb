import Synchronization

/// Counters and gauges describing a running server, for metrics. Counters only grow.
public struct SocketIOServerStatistics: Sendable, Equatable {
    /// Connected Socket.IO clients (namespace connections).
    public var clients: Int
    /// Open Engine.IO sessions.
    public var sessions: Int
    /// Messages queued for clients (one per recipient).
    public var messagesQueued: UInt64
    /// Queued messages replaced by a newer one with the same conflation key.
    public var messagesConflated: UInt64
    /// Clients disconnected because their outbound queue stayed over its limit.
    public var slowConsumerDisconnects: UInt64
    /// Client events refused by the per-client rate limit.
    public var eventsRateLimited: UInt64
    /// Sessions closed because of a malformed packet.
    public var protocolErrors: UInt64
    /// Forwarded requests answered from the shared response cache.
    public var httpCacheHits: UInt64 = 0

    /// All zero: the baseline before a server has done anything.
    public static let zero = SocketIOServerStatistics(
        clients: 0, sessions: 0, messagesQueued: 0, messagesConflated: 0, slowConsumerDisconnects: 0,
        eventsRateLimited: 0, protocolErrors: 0
    )
}

/// The server's lock-free counters.
final class StatisticsCounters: Sendable {
    enum Counter {
        case messagesQueued
        case messagesConflated
        case slowConsumerDisconnects
        case eventsRateLimited
        case protocolErrors
    }

    private let messagesQueued = Atomic<UInt64>(0)
    private let messagesConflated = Atomic<UInt64>(0)
    private let slowConsumerDisconnects = Atomic<UInt64>(0)
    private let eventsRateLimited = Atomic<UInt64>(0)
    private let protocolErrors = Atomic<UInt64>(0)

    func add(_ counter: Counter, _ amount: UInt64 = 1) {
        switch counter {
        case .messagesQueued: messagesQueued.add(amount, ordering: .relaxed)
        case .messagesConflated: messagesConflated.add(amount, ordering: .relaxed)
        case .slowConsumerDisconnects: slowConsumerDisconnects.add(amount, ordering: .relaxed)
        case .eventsRateLimited: eventsRateLimited.add(amount, ordering: .relaxed)
        case .protocolErrors: protocolErrors.add(amount, ordering: .relaxed)
        }
    }

    func load(_ counter: Counter) -> UInt64 {
        switch counter {
        case .messagesQueued: messagesQueued.load(ordering: .relaxed)
        case .messagesConflated: messagesConflated.load(ordering: .relaxed)
        case .slowConsumerDisconnects: slowConsumerDisconnects.load(ordering: .relaxed)
        case .eventsRateLimited: eventsRateLimited.load(ordering: .relaxed)
        case .protocolErrors: protocolErrors.load(ordering: .relaxed)
        }
    }
}
