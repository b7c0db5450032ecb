import Foundation
import Logging
import PluginKit
import RedisClient
import ServiceLifecycle

/// Everything `markethub serve` runs: the plugins named by the configuration, loaded, validated and created,
/// wired to the host core. Build it, then run `service` in a ServiceGroup.
public final class HostRuntime: Sendable {
    public let configuration: HostConfiguration
    public let clock: any HostClock
    public let logger: Logger
    public let metrics: MetricsRegistry
    public let core: HostCore
    public let provider: ProviderPlugin
    public let cache: CachePlugin
    public let transports: [TransportPlugin]
    public let quoteRouter: QuoteRouter
    public let marketStatus: MarketStatusService
    public let aggregates: AggregatesService
    public let warmer: AggregatesWarmer
    /// Option chain, expirations and contracts (`/api/market/options/...`).
    public let optionChain: OptionChainService
    /// Quotes, trades and watchlist snapshots for REST.
    public let snapshots: MarketSnapshotService
    public let selections: SelectionStore
    public let chartHub: ChartHub
    /// This host's cluster membership (the `cluster:` section); nil on a single host.
    public let cluster: ClusterNode?

    /// Loads and validates every plugin the configuration names, without creating instances (what
    /// `check-config` does). Throws the first problem; refuses two plugins with the same id.
    public static func loadPlugins(
        _ configuration: HostConfiguration, locator: PluginLocator
    ) throws(PluginLoadError) -> [(slot: HostConfiguration.PluginSlot, plugin: LoadedPlugin)] {
        var loaded: [(slot: HostConfiguration.PluginSlot, plugin: LoadedPlugin)] = []
        let expectations: [(HostConfiguration.PluginSlot, PluginKind)] =
            [(configuration.provider, .provider), (configuration.cache, .cache)]
            + configuration.transports.map { ($0, .transport) }
        for (slot, kind) in expectations {
            let path = try locator.resolve(slot.plugin)
            let plugin = try PluginLoader.load(path: path, plugin: slot.plugin, expectedKind: kind, slot: slot.keyPath)
            if let clash = loaded.first(where: { $0.plugin.descriptor.id == plugin.descriptor.id }) {
                throw PluginLoadError(
                    .duplicateID, plugin: slot.plugin,
                    "'\(slot.keyPath)' (\(path)) and '\(clash.slot.keyPath)' (\(clash.plugin.descriptor.path)) are both plugin id \(plugin.descriptor.id)",
                    fix: "configure each plugin once; two instances of one plugin id are not supported"
                )
            }
            loaded.append((slot, plugin))
        }
        return loaded
    }

    /// Loads the plugins and creates their instances (each receives its configuration section). Nothing is
    /// started yet. On failure, instances already created are destroyed.
    public init(
        configuration: HostConfiguration, clock: any HostClock = SystemClock(), logger: Logger,
        metrics: MetricsRegistry = MetricsRegistry(), locator: PluginLocator? = nil
    ) throws(PluginLoadError) {
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        let core = HostCore(logger: logger, metrics: metrics)
        self.core = core
        let base = (configuration.sourcePath as NSString).deletingLastPathComponent
        let locator = locator ?? PluginLocator(configured: configuration.pluginDirectories, relativeTo: base)
        let loaded = try Self.loadPlugins(configuration, locator: locator)
        let timeout = configuration.host.requestTimeoutMilliseconds
        var created: [any PluginInstance] = []
        do throws(PluginLoadError) {
            let cacheSlot = loaded[1]
            let cache = try CachePlugin(
                plugin: cacheSlot.plugin, config: cacheSlot.slot.config, slot: cacheSlot.slot.keyPath, clock: clock,
                logger: logger, metrics: metrics, requestTimeoutMilliseconds: timeout
            )
            created.append(cache)
            let providerSlot = loaded[0]
            let provider = try ProviderPlugin(
                plugin: providerSlot.plugin, config: providerSlot.slot.config, slot: providerSlot.slot.keyPath,
                sink: core,
                clock: clock, logger: logger, metrics: metrics, requestTimeoutMilliseconds: timeout
            )
            created.append(provider)
            var transports: [TransportPlugin] = []
            for entry in loaded.dropFirst(2) {
                let transport = try TransportPlugin(
                    plugin: entry.plugin, config: entry.slot.config, slot: entry.slot.keyPath, handler: core,
                    clock: clock,
                    logger: logger, metrics: metrics
                )
                created.append(transport)
                transports.append(transport)
            }
            self.cache = cache
            self.provider = provider
            self.transports = transports
            let cluster = try Self.makeCluster(
                configuration, provider: provider, transports: transports, clock: clock, logger: logger,
                metrics: metrics)
            self.cluster = cluster
            quoteRouter = QuoteRouter(
                upstream: cluster.map { $0 as any UpstreamSubscriptions } ?? provider, clock: clock, logger: logger,
                metrics: metrics,
                limits: configuration.host.live,
                recall: { symbols in
                    let result = await cache.getLastQuotes(symbols)
                    return result.isOK ? result.lastQuotes : []
                },
                fanOut: cluster.map { $0 as any FanOutBus } ?? LocalFanOut()
            )
        } catch {
            for instance in created.reversed() { instance.destroy() }
            throw error
        }
        marketStatus = MarketStatusService(provider: provider, clock: clock)
        aggregates = AggregatesService(
            provider: provider, cache: cache, status: marketStatus, clock: clock, logger: logger, metrics: metrics,
            sourceName: provider.descriptor.id
        )
        warmer = AggregatesWarmer(
            service: aggregates, clock: clock, logger: logger,
            popular: configuration.host.aggregatesWorkerEnabled ? configuration.host.aggregatesWorkerSymbols : []
        )
        let gate = ProviderGate(provider: provider, clock: clock, metrics: metrics)
        optionChain = OptionChainService(
            gate: gate, cache: cache, status: marketStatus, router: quoteRouter, clock: clock, logger: logger,
            metrics: metrics, options: configuration.host.options)
        snapshots = MarketSnapshotService(
            gate: gate, cache: cache, status: marketStatus, router: quoteRouter, clock: clock, logger: logger,
            cachedQuoteMaximumAgeMilliseconds: configuration.host.live.staleAfterMilliseconds)
        selections = SelectionStore(cache: cache, clock: clock)
        chartHub = ChartHub(
            upstream: cluster.map { $0 as any UpstreamSubscriptions } ?? provider, aggregates: aggregates, cache: cache,
            status: marketStatus, clock: clock,
            logger: logger, metrics: metrics
        )
        quoteRouter.attach(to: core)
        chartHub.attach(to: core)
        cluster?.attach(to: core, remoteSinks: [chartHub])
        core.setRouter(HostRoutes.make(runtime: self))
    }

    /// The cluster member for a `cluster:` section (nil without one); a bad Redis URL is a load error.
    static func makeCluster(
        _ configuration: HostConfiguration, provider: ProviderPlugin, transports: [TransportPlugin],
        clock: any HostClock, logger: Logger, metrics: MetricsRegistry
    ) throws(PluginLoadError) -> ClusterNode? {
        guard let settings = configuration.cluster else { return nil }
        do throws(RedisError) {
            return try ClusterNode(
                configuration: settings, provider: provider, transports: transports, clock: clock, logger: logger,
                metrics: metrics)
        } catch {
            throw PluginLoadError(
                .configRejected, plugin: "cluster", error.message, fix: "set cluster.redisUrl to redis://host:port/db")
        }
    }

    /// Every plugin instance with its slot, in start order.
    public var instances: [(slot: String, instance: any PluginInstance)] {
        [("cache", cache), ("provider", provider)]
            + transports.enumerated().map { ("transports[\($0.offset)]", $0.element) }
    }

    /// The current health of every plugin.
    public func health() -> HealthReport {
        HealthReport(
            entries: instances.map {
                HealthReport.Entry(
                    slot: $0.slot, id: $0.instance.descriptor.id, kind: $0.instance.descriptor.kind,
                    health: $0.instance.health())
            },
            checkedAtMilliseconds: clock.nowMilliseconds,
            cluster: cluster?.health()
        )
    }

    /// The service that starts the plugins in order, waits for shutdown, then drains transports, stops the
    /// provider and flushes the cache.
    public var service: PluginSetService { PluginSetService(runtime: self) }

    /// Every service `serve` runs, in start order (a ServiceGroup shuts them down in reverse, so the quote and
    /// chart bar writers flush before the plugins stop).
    public var services: [any Service] {
        [
            service, QuotePersistenceService(router: quoteRouter, cache: cache, clock: clock, logger: logger),
            ChartBarPersistenceService(hub: chartHub, cache: cache, clock: clock, logger: logger), warmer,
            MarketStatusWatcher(status: marketStatus, router: quoteRouter, clock: clock),
            StaleQuoteSweeper(router: quoteRouter, clock: clock),
        ] + (cluster.map { [$0] } ?? [])
    }
}
