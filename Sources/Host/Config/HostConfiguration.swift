import Logging
import PluginKit

/// The host's configuration, read from YAML (see `ConfigurationLoader` and docs/configuration.md).
public struct HostConfiguration: Sendable {
    /// One plugin slot: which library to load and the section handed to it as JSON.
    public struct PluginSlot: Sendable {
        /// A plugin name ("MemoryCache", resolved to lib<Name>.so in the plugin directories) or a path.
        public var plugin: String
        /// The plugin's own configuration, passed to its `create` as a JSON object.
        public var config: JSONValue
        /// Where the slot was declared ("config.yaml:12:3"), for error messages.
        public var location: String
        /// The slot's key path ("provider", "transports[1]").
        public var keyPath: String

        public init(plugin: String, config: JSONValue = .object([]), location: String = "", keyPath: String) {
            self.plugin = plugin
            self.config = config
            self.location = location
            self.keyPath = keyPath
        }
    }

    /// Host behaviour that is not a plugin's business.
    public struct HostOptions: Sendable {
        /// Level of host and plugin logs.
        public var logLevel: Logger.Level = .info
        /// How long the host waits for a plugin to complete an asynchronous operation.
        public var requestTimeoutMilliseconds: Int64 = 30_000
        /// How long shutdown waits for transports to drain before stopping providers and caches.
        public var shutdownGraceMilliseconds: Int64 = 5_000
        /// Whether the aggregates worker pre-warms popular symbols (`AGG_WORKER_ENABLED`).
        public var aggregatesWorkerEnabled = false
        /// Symbols the aggregates worker pre-warms.
        public var aggregatesWorkerSymbols: [String] = ["SPY", "QQQ", "AAPL"]
        /// Limits of the live quote router.
        public var live = QuoteRouter.Limits()
        /// Option chain settings (`host.options`): rate and dividend yield for computed Greeks, chain refresh.
        public var options = OptionChainService.Options()

        public init() {}
    }

    /// The file this configuration came from, or "<inline>".
    public var sourcePath: String
    /// Directories searched for plugins given by name, before the executable's own directory.
    public var pluginDirectories: [String]
    public var host: HostOptions
    public var provider: PluginSlot
    public var cache: PluginSlot
    public var transports: [PluginSlot]
    /// The `cluster:` section; nil runs a single host that needs no Redis.
    public var cluster: ClusterConfiguration? = nil

    public init(
        sourcePath: String, pluginDirectories: [String] = [], host: HostOptions = HostOptions(), provider: PluginSlot,
        cache: PluginSlot, transports: [PluginSlot]
    ) {
        self.sourcePath = sourcePath
        self.pluginDirectories = pluginDirectories
        self.host = host
        self.provider = provider
        self.cache = cache
        self.transports = transports
    }

    /// Every slot, in load order.
    public var slots: [PluginSlot] { [provider, cache] + transports }
}
