import Logging
import PluginKit
import ServiceLifecycle
import Synchronization

/// Pre-fetches bars into the cache from warm-up hints (`POST /api/market/aggs/warm`) and, when the aggregates
/// worker is enabled (`AGG_WORKER_ENABLED`), for the configured popular symbols. Hints are deduplicated and
/// bounded; the worker goes one fetch at a time, paced, and waits out rate-limit cooldowns.
public final class AggregatesWarmer: Service, Sendable {
    public struct Hint: Hashable, Sendable {
        public var ticker: String
        public var multiplier: Int32
        public var timespan: Timespan
    }

    let service: AggregatesService
    let clock: any HostClock
    let logger: Logger
    let capacity: Int
    let paceMilliseconds: Int64
    let popular: [String]
    private let queue = Mutex<[Hint]>([])

    public init(
        service: AggregatesService, clock: any HostClock, logger: Logger, popular: [String] = [], capacity: Int = 256,
        paceMilliseconds: Int64 = 250
    ) {
        self.service = service
        self.clock = clock
        self.logger = logger
        self.popular = popular
        self.capacity = capacity
        self.paceMilliseconds = paceMilliseconds
    }

    public var queuedCount: Int { queue.withLock { $0.count } }

    /// Queues hints not already queued, up to the capacity. Returns how many were accepted.
    @discardableResult
    public func enqueue(_ hints: [Hint]) -> Int {
        queue.withLock { queue in
            var accepted = 0
            for hint in hints where !queue.contains(hint) && queue.count < capacity {
                queue.append(hint)
                accepted += 1
            }
            return accepted
        }
    }

    /// Warms one queued hint; false when the queue is empty.
    @discardableResult
    public func warmNext() async -> Bool {
        guard let hint = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { return false }
        do {
            _ = try await service.answer(
                AggregatesQuery(ticker: hint.ticker, multiplier: hint.multiplier, timespan: hint.timespan))
        } catch {
            logger.debug("warm-up fetch failed", metadata: ["ticker": "\(hint.ticker)", "error": "\(error.message)"])
        }
        return true
    }

    public func run() async throws {
        if !popular.isEmpty {
            enqueue(
                popular.flatMap {
                    [
                        Hint(ticker: $0, multiplier: 1, timespan: .day),
                        Hint(ticker: $0, multiplier: 1, timespan: .minute),
                    ]
                })
            logger.info("aggregates worker pre-warming popular symbols", metadata: ["symbols": "\(popular)"])
        }
        await withGracefulShutdownHandler {
            while !Task.isCancelled, !Task.isShuttingDownGracefully {
                if service.coolingDown || queuedCount == 0 {
                    await clock.sleep(nanoseconds: 1_000_000_000)
                    continue
                }
                await warmNext()
                await clock.sleep(nanoseconds: paceMilliseconds * 1_000_000)
            }
        } onGracefulShutdown: {
        }
    }
}
