import Logging
import PluginKit
import ServiceLifecycle

/// Writes the chart hub's streamed minute bars to the cache every few seconds (the spec's option_aggregates,
/// `source: "stream"`), so `/api/market/aggs` and a restarted or second host see what the stream delivered
/// without asking the provider for it again. Corrections replace earlier versions of a bar (the cache upserts
/// by ticker, timespan, multiplier and start). A failed write is retried on the next round; on shutdown it
/// writes once more before the cache is stopped.
public struct ChartBarPersistenceService: Service {
    let hub: ChartHub
    let cache: CachePlugin
    let clock: any HostClock
    let intervalMilliseconds: Int64
    let episodes: FailureEpisodes

    public init(
        hub: ChartHub, cache: CachePlugin, clock: any HostClock, logger: Logger, intervalMilliseconds: Int64 = 5_000
    ) {
        self.hub = hub
        self.cache = cache
        self.clock = clock
        self.intervalMilliseconds = intervalMilliseconds
        episodes = FailureEpisodes(logger: logger)
    }

    public func run() async throws {
        await runWriteBehind(clock: clock, intervalMilliseconds: intervalMilliseconds) { await flush() }
    }

    /// Writes every streamed bar not yet cached. Returns how many were written.
    @discardableResult
    public func flush() async -> Int {
        var bars = hub.takeUnsavedBars()
        guard !bars.isEmpty else { return 0 }
        for index in bars.indices { bars[index].source = "stream" }
        let result = await cache.putBars(bars)
        guard result.isOK else {
            hub.restoreUnsaved(bars)
            episodes.failed(
                "persist", "could not cache streamed chart bars; will retry", metadata: ["error": "\(result.message)"])
            return 0
        }
        episodes.succeeded("persist", "streamed chart bars are cached again")
        return bars.count
    }
}
