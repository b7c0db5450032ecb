import Logging
import PluginAPI
import PluginKit

/// A look-up sent to a provider (the Swift form of `mh_request`).
public struct ProviderRequest: Sendable {
    public enum Kind: UInt32, Sendable {
        case aggregates = 1
        case chainSnapshot = 2
        case contractSnapshot = 3
        case contracts = 4
        case expirations = 5
        case quotes = 6
        case trades = 7
        case lastTrade = 8
        case marketStatus = 9
        case tickerSnapshots = 10
    }

    public var kind: Kind
    public var ticker: String
    public var multiplier: Int32
    public var timespan: Timespan?
    public var fromMilliseconds: Int64
    public var toMilliseconds: Int64
    public var limit: UInt32
    public var params: JSONValue?

    public init(
        kind: Kind, ticker: String = "", multiplier: Int32 = 0, timespan: Timespan? = nil, fromMilliseconds: Int64 = 0,
        toMilliseconds: Int64 = 0, limit: UInt32 = 0, params: JSONValue? = nil
    ) {
        self.kind = kind
        self.ticker = ticker
        self.multiplier = multiplier
        self.timespan = timespan
        self.fromMilliseconds = fromMilliseconds
        self.toMilliseconds = toMilliseconds
        self.limit = limit
        self.params = params
    }
}

/// A loaded provider instance: the host's typed face of `mh_provider_vtable`.
public final class ProviderPlugin: LifecycleBacked, @unchecked Sendable {
    // @unchecked: the vtable copy is immutable; lifecycle state is in `InstanceLifecycle`; the sink bridge is
    // immutable after init.
    let lifecycle: InstanceLifecycle
    let table: mh_provider_vtable
    private let sinkBridge: SinkBridge
    private let requestTimeoutNanoseconds: Int64
    /// Stream states and look-up outcomes as the host saw them; merged into `health()`.
    public let conditions: UpstreamConditions

    /// Creates an instance of `plugin` with `config`, streaming into `sink`.
    public init(
        plugin: LoadedPlugin, config: JSONValue, slot: String, sink: any MarketDataSink, clock: any HostClock,
        logger: Logger, metrics: MetricsRegistry, requestTimeoutMilliseconds: Int64 = 30_000
    ) throws(PluginLoadError) {
        table = plugin.vtable.assumingMemoryBound(to: mh_provider_vtable.self).pointee
        let services = PluginServices(pluginID: plugin.descriptor.id, logger: logger, clock: clock, metrics: metrics)
        lifecycle = InstanceLifecycle(
            descriptor: plugin.descriptor, services: services,
            calls: LifecycleCalls(
                start: table.start!, stop: table.stop!, destroy: table.destroy!, health: table.health!)
        )
        conditions = UpstreamConditions(clock: clock, logger: logger, metrics: metrics)
        sinkBridge = SinkBridge(sink: sink, logger: services.logger, conditions: conditions)
        requestTimeoutNanoseconds = requestTimeoutMilliseconds * 1_000_000
        let create = table.create!
        let hostAPI = services.hostAPI
        let sinkTable = sinkBridge.hostTable
        try lifecycle.create(slot: slot) { error, out in
            withMHString(config.text) { json in create(hostAPI, json, sinkTable, out, error) }
        }
    }

    /// Sends a look-up and waits for its result (or the host's request timeout).
    public func request(_ request: ProviderRequest) async -> OperationResult {
        guard let instance = lifecycle.instance else {
            return OperationResult(error: .internalError("provider not created"))
        }
        let call = table.request!
        let what = "provider \(descriptor.id) request \(request.kind) \(request.ticker)"
        let result = await PendingOperations.shared.perform(
            clock: lifecycle.services.clock, timeoutNanoseconds: requestTimeoutNanoseconds, what: what
        ) { done, context in
            withMHString(request.ticker) { ticker in
                withMHBytes(request.params?.bytes ?? []) { params in
                    var record = mh_request()
                    record.struct_size = UInt32(MemoryLayout<mh_request>.stride)
                    record.kind = request.kind.rawValue
                    record.ticker = ticker
                    record.multiplier = request.multiplier
                    record.timespan = request.timespan?.rawValue ?? 0
                    record.from_ms = request.fromMilliseconds
                    record.to_ms = request.toMilliseconds
                    record.limit = request.limit
                    record.params_json = params
                    return call(instance, &record, done, context)
                }
            }
        }
        conditions.lookupCompleted(result)
        return result
    }

    /// The plugin's own health, with the stream outages and rate limiting the host has seen merged in.
    public func health() -> PluginHealth { conditions.merged(with: lifecycle.health()) }

    /// Subscribes symbols upstream. Throws the plugin's synchronous refusal.
    public func subscribe(_ symbols: [String], channels: Channels) throws(PluginError) {
        try change(symbols, channels, table.subscribe!)
    }

    public func unsubscribe(_ symbols: [String], channels: Channels) throws(PluginError) {
        try change(symbols, channels, table.unsubscribe!)
    }

    private typealias SubscriptionCall =
        @convention(c) (
            UnsafeMutableRawPointer?, UnsafePointer<mh_str>?, Int, mh_channels, mh_errbuf
        ) -> mh_status

    private func change(_ symbols: [String], _ channels: Channels, _ call: SubscriptionCall) throws(PluginError) {
        guard !symbols.isEmpty else { return }
        guard let instance = lifecycle.instance else { throw .internalError("provider not created") }
        let error = ErrorBuffer()
        let status = withMHStrings(symbols) {
            call(instance, $0.baseAddress, $0.count, channels.rawValue, error.errbuf)
        }
        guard status == mh_status(MH_OK) else {
            throw PluginError(status, error.message.isEmpty ? StatusName.of(status) : error.message)
        }
    }

    /// A provider extension table by id, or nil.
    public func extensionTable(_ id: String) -> UnsafeRawPointer? {
        guard let instance = lifecycle.instance, let get = table.get_extension else { return nil }
        return get(instance, id)
    }
}

/// The `mh_provider_sink` table the host gives a provider. Copies records into Swift values and forwards them.
final class SinkBridge: Sendable {
    let sink: any MarketDataSink
    let logger: Logger
    let conditions: UpstreamConditions?
    nonisolated(unsafe) let table: UnsafeMutablePointer<mh_provider_sink>

    init(sink: any MarketDataSink, logger: Logger, conditions: UpstreamConditions? = nil) {
        self.sink = sink
        self.logger = logger
        self.conditions = conditions
        table = .allocate(capacity: 1)
        table.initialize(to: mh_provider_sink())
        table.pointee.struct_size = UInt32(MemoryLayout<mh_provider_sink>.stride)
        table.pointee.ctx = Unmanaged.passUnretained(self).toOpaque()
        table.pointee.on_quotes = { ctx, records, count in
            guard let bridge = SinkBridge.from(ctx) else { return }
            guard let quotes = Records.quotes(records, count: count) else { return bridge.malformed("quote") }
            if !quotes.isEmpty { bridge.sink.receive(quotes: quotes) }
        }
        table.pointee.on_trades = { ctx, records, count in
            guard let bridge = SinkBridge.from(ctx) else { return }
            guard let trades = Records.trades(records, count: count) else { return bridge.malformed("trade") }
            if !trades.isEmpty { bridge.sink.receive(trades: trades) }
        }
        table.pointee.on_bars = { ctx, records, count in
            guard let bridge = SinkBridge.from(ctx) else { return }
            guard let bars = Records.bars(records, count: count) else { return bridge.malformed("bar") }
            if !bars.isEmpty { bridge.sink.receive(bars: bars) }
        }
        table.pointee.on_state = { ctx, record in
            guard let bridge = SinkBridge.from(ctx) else { return }
            guard
                let state = Records.read(UnsafeRawPointer(record), count: 1, as: mh_stream_state.self, minimumSize: 8)?
                    .first,
                let kind = StreamState.Kind(rawValue: state.state)
            else { return bridge.malformed("stream state") }
            let stream = StreamState(
                kind: kind, feed: String(state.feed), reason: String(state.reason),
                retryAfterMilliseconds: state.retry_after_ms >= 0 ? state.retry_after_ms : nil,
                gap: state.gap_from_ms > 0 && state.gap_to_ms >= state.gap_from_ms
                    ? state.gap_from_ms...state.gap_to_ms : nil
            )
            bridge.conditions?.streamStateChanged(stream)
            bridge.sink.receive(state: stream)
        }
        table.pointee.on_subscription_error = { ctx, symbol, channels, status, message in
            guard let bridge = SinkBridge.from(ctx) else { return }
            bridge.sink.subscriptionFailed(
                symbol: String(symbol), channels: Channels(rawValue: channels),
                error: PluginError(status, String(message))
            )
        }
    }

    deinit {
        table.deinitialize(count: 1)
        table.deallocate()
    }

    var hostTable: UnsafePointer<mh_provider_sink> { UnsafePointer(table) }

    static func from(_ ctx: UnsafeMutableRawPointer?) -> SinkBridge? {
        guard let ctx else { return nil }
        return Unmanaged<SinkBridge>.fromOpaque(ctx).takeUnretainedValue()
    }

    func malformed(_ what: String) {
        logger.warning(
            "provider sent a malformed \(what) batch; dropped it (plugin bug: check struct_size and strides)")
    }
}

/// The replay-control extension (`MH_EXT_REPLAY_CONTROL`) of a provider that offers it: pause, resume, seek and
/// speed for QA runs against recorded sessions.
public struct ReplayControl: Sendable {
    let provider: ProviderPlugin
    let table: mh_replay_control_v1

    /// The provider's replay control, or nil when it offers none (or an older, smaller table).
    public init?(_ provider: ProviderPlugin) {
        guard let raw = provider.extensionTable(MH_EXT_REPLAY_CONTROL) else { return nil }
        let size = raw.load(as: UInt32.self)
        guard size >= MemoryLayout<mh_replay_control_v1>.size else { return nil }
        self.provider = provider
        table = raw.load(as: mh_replay_control_v1.self)
    }

    public func pause() throws(PluginError) { try call { table.pause?($0) } }
    public func resume() throws(PluginError) { try call { table.resume?($0) } }
    /// Jumps to `offsetMilliseconds` of recording time since the recording's start.
    public func seek(toOffset offsetMilliseconds: Int64) throws(PluginError) {
        try call { table.seek?($0, offsetMilliseconds) }
    }
    public func setSpeed(_ speed: Double) throws(PluginError) { try call { table.set_speed?($0, speed) } }

    /// The provider's JSON description of the replay (position, speed, state).
    public func status() throws(PluginError) -> String {
        let buffer = ErrorBuffer(capacity: 16_384)
        try call { table.status?($0, buffer.errbuf) }
        return buffer.message
    }

    private func call(_ body: (UnsafeMutableRawPointer) -> mh_status?) throws(PluginError) {
        guard let instance = provider.lifecycle.instance else { throw .unavailable("the provider is not running") }
        guard let status = body(instance) else { throw .unsupported("the replay control lacks this function") }
        guard status == mh_status(MH_OK) else { throw PluginError(status, StatusName.of(status)) }
    }
}
