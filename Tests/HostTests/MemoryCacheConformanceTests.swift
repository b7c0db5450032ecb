import Host
import Logging
import PluginConformance
import PluginKit
import Testing

@Suite("MemoryCache passes the cache conformance kit")
struct MemoryCacheConformanceTests {
    @Test(arguments: CacheConformance.checks)
    func conforms(_ check: CacheConformance.Check) async throws {
        try await check.run { clock in
            let path = try TestSupport.builtPlugin("MemoryCache")
            let plugin = try PluginLoader.load(path: path, plugin: "MemoryCache", expectedKind: .cache)
            let cache = try CachePlugin(
                plugin: plugin, config: .object([]), slot: "cache", clock: clock, logger: Logger(label: "test"),
                metrics: MetricsRegistry()
            )
            try await cache.startAsync()
            return cache
        }
    }

    @Test("bounds are enforced: the least recently used series loses its oldest bars")
    func boundedMemory() async throws {
        let clock = ManualClock(wallNanoseconds: CacheConformance.origin * 1_000_000)
        let plugin = try PluginLoader.load(
            path: try TestSupport.builtPlugin("MemoryCache"), plugin: "MemoryCache", expectedKind: .cache)
        let metrics = MetricsRegistry()
        let cache = try CachePlugin(
            plugin: plugin, config: .object([("maxBars", .integer(100))]), slot: "cache", clock: clock,
            logger: Logger(label: "test"), metrics: metrics
        )
        try await cache.startAsync()
        func bars(_ symbol: String, _ count: Int) -> [Bar] {
            (0..<count).map {
                Bar(
                    symbol: symbol, timespan: .minute, multiplier: 1, startMilliseconds: Int64($0) * 60_000, open: 1,
                    high: 1, low: 1, close: 1, volume: 1)
            }
        }
        #expect(await cache.putBars(bars("OLD", 80)).isOK)
        #expect(await cache.putBars(bars("NEW", 60)).isOK)
        let old = await cache.getBars(BarQuery(ticker: "OLD", timespan: .minute, multiplier: 1))
        let new = await cache.getBars(BarQuery(ticker: "NEW", timespan: .minute, multiplier: 1))
        #expect(new.bars.count == 60, "the series just written is kept whole")
        #expect(old.bars.count == 40, "the older series gives up its 40 oldest bars")
        let oldest: Int64? = old.bars.first?.startMilliseconds
        #expect(oldest == 2_400_000, "the oldest kept bar starts at minute 40")
        #expect(metrics.value("markethub_memory_cache_bars") == 100, "plugin metrics reach the host registry")
        #expect(metrics.value("markethub_memory_cache_evicted_bars") == 40)
        #expect(metrics.render().contains("markethub_memory_cache_bars 100"))
        await cache.destroyAsync()
    }

    @Test("an unknown or invalid configuration key is refused with its name")
    func badConfig() throws {
        let plugin = try PluginLoader.load(
            path: try TestSupport.builtPlugin("MemoryCache"), plugin: "MemoryCache", expectedKind: .cache)
        for (config, fragment) in [
            (JSONValue.object([("maxBar", .integer(5))]), "unknown key 'maxBar'"),
            (.object([("maxBars", .integer(0))]), "maxBars must be a positive integer"),
            (.object([("chainTtlMs", .string("1d"))]), "chainTtlMs must be a positive integer"),
        ] {
            let error = #expect(throws: PluginLoadError.self) {
                try CachePlugin(
                    plugin: plugin, config: config, slot: "cache", clock: SystemClock(), logger: Logger(label: "test"),
                    metrics: MetricsRegistry()
                )
            }
            #expect(error?.description.contains(fragment) == true, "\(error?.description ?? "no error")")
        }
    }

    @Test("operations after stop fail cleanly instead of hanging")
    func afterStop() async throws {
        let plugin = try PluginLoader.load(
            path: try TestSupport.builtPlugin("MemoryCache"), plugin: "MemoryCache", expectedKind: .cache)
        let cache = try CachePlugin(
            plugin: plugin, config: .object([]), slot: "cache", clock: SystemClock(), logger: Logger(label: "test"),
            metrics: MetricsRegistry()
        )
        try await cache.startAsync()
        cache.stop()
        let result = await cache.getSelection(key: "global")
        #expect(result.status == 5, "MH_UNAVAILABLE after stop")
        cache.destroy()
    }
}
