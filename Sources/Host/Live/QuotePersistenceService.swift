import Logging
import PluginKit
import ServiceLifecycle

/// Writes the quote router's changed last quotes to the cache every few seconds (the spec's option_quotes),
/// so a restart or a second instance recovers last known values. A failed write is retried on the next round;
/// on shutdown it writes once more before the cache is stopped.
public struct QuotePersistenceService: Service {
    let router: QuoteRouter
    let cache: CachePlugin
    let clock: any HostClock
    let logger: Logger
    let intervalMilliseconds: Int64
    let episodes: FailureEpisodes

    public init(
        router: QuoteRouter, cache: CachePlugin, clock: any HostClock, logger: Logger,
        intervalMilliseconds: Int64 = 5_000
    ) {
        self.router = router
        self.cache = cache
        self.clock = clock
        self.logger = logger
        self.intervalMilliseconds = intervalMilliseconds
        episodes = FailureEpisodes(logger: logger)
    }

    public func run() async throws {
        await runWriteBehind(clock: clock, intervalMilliseconds: intervalMilliseconds) { await flush() }
    }

    /// Writes every changed quote once. Returns how many were written.
    @discardableResult
    public func flush() async -> Int {
        let quotes = router.takeDirtyQuotes()
        guard !quotes.isEmpty else { return 0 }
        let result = await cache.putLastQuotes(quotes)
        guard result.isOK else {
            router.restoreDirty(quotes)
            episodes.failed(
                "persist", "could not persist last quotes; will retry", metadata: ["error": "\(result.message)"])
            return 0
        }
        episodes.succeeded("persist", "last quotes persisted again")
        return quotes.count
    }
}

/// The loop of a write-behind service: `flush` every `intervalMilliseconds` of `clock` until graceful shutdown,
/// then once more, so what was collected last is written before the cache plugin stops.
func runWriteBehind(
    clock: any HostClock, intervalMilliseconds: Int64, _ flush: @Sendable () async -> Void
) async {
    await withGracefulShutdownHandler {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            await clock.sleep(nanoseconds: intervalMilliseconds * 1_000_000)
            await flush()
        }
    } onGracefulShutdown: {
        // The loop notices on its next wake-up; the final flush below runs either way.
    }
    await flush()
}
