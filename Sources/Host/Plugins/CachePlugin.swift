import Logging
import PluginAPI
import PluginKit

/// A range read of cached bars.
public struct BarQuery: Sendable, Equatable {
    public var ticker: String
    public var timespan: Timespan
    public var multiplier: Int32
    public var fromMilliseconds: Int64
    public var toMilliseconds: Int64
    public var limit: UInt32
    public var descending: Bool

    public init(
        ticker: String, timespan: Timespan, multiplier: Int32, fromMilliseconds: Int64 = 0, toMilliseconds: Int64 = 0,
        limit: UInt32 = 0, descending: Bool = false
    ) {
        self.ticker = ticker
        self.timespan = timespan
        self.multiplier = multiplier
        self.fromMilliseconds = fromMilliseconds
        self.toMilliseconds = toMilliseconds
        self.limit = limit
        self.descending = descending
    }
}

/// A loaded cache instance: the host's typed face of `mh_cache_vtable`. Every operation is async and returns
/// the plugin's result; failures are values (status + message), never traps.
public final class CachePlugin: LifecycleBacked, @unchecked Sendable {
    // @unchecked: the vtable copy is immutable and lifecycle state is in `InstanceLifecycle`.
    let lifecycle: InstanceLifecycle
    let table: mh_cache_vtable
    private let timeoutNanoseconds: Int64

    public init(
        plugin: LoadedPlugin, config: JSONValue, slot: String, clock: any HostClock, logger: Logger,
        metrics: MetricsRegistry, requestTimeoutMilliseconds: Int64 = 30_000
    ) throws(PluginLoadError) {
        table = plugin.vtable.assumingMemoryBound(to: mh_cache_vtable.self).pointee
        let services = PluginServices(pluginID: plugin.descriptor.id, logger: logger, clock: clock, metrics: metrics)
        lifecycle = InstanceLifecycle(
            descriptor: plugin.descriptor, services: services,
            calls: LifecycleCalls(
                start: table.start!, stop: table.stop!, destroy: table.destroy!, health: table.health!)
        )
        timeoutNanoseconds = requestTimeoutMilliseconds * 1_000_000
        let create = table.create!
        let hostAPI = services.hostAPI
        try lifecycle.create(slot: slot) { error, out in
            withMHString(config.text) { json in create(hostAPI, json, out, error) }
        }
    }

    private func perform(
        _ what: String, _ body: (UnsafeMutableRawPointer, mh_done_fn, UnsafeMutableRawPointer?) -> mh_status
    ) async -> OperationResult {
        guard let instance = lifecycle.instance else {
            return OperationResult(error: .internalError("cache not created"))
        }
        return await PendingOperations.shared.perform(
            clock: lifecycle.services.clock, timeoutNanoseconds: timeoutNanoseconds,
            what: "cache \(descriptor.id) \(what)"
        ) { done, context in body(instance, done, context) }
    }

    /// Upserts bars (unique by symbol, timespan, multiplier, start).
    public func putBars(_ bars: [Bar]) async -> OperationResult {
        let call = table.put_bars!
        return await perform("put_bars") { instance, done, context in
            Records.withBars(bars) { records, count in call(instance, records, count, done, context) }
        }
    }

    public func getBars(_ query: BarQuery) async -> OperationResult {
        let call = table.get_bars!
        return await perform("get_bars") { instance, done, context in
            withMHString(query.ticker) { ticker in
                var record = mh_bar_query()
                record.struct_size = UInt32(MemoryLayout<mh_bar_query>.stride)
                record.timespan = query.timespan.rawValue
                record.ticker = ticker
                record.multiplier = query.multiplier
                record.limit = query.limit
                record.from_ms = query.fromMilliseconds
                record.to_ms = query.toMilliseconds
                record.descending = query.descending ? 1 : 0
                return call(instance, &record, done, context)
            }
        }
    }

    public func putChain(underlying: String, expiration: String, json: [UInt8]) async -> OperationResult {
        let call = table.put_chain!
        return await perform("put_chain") { instance, done, context in
            withMHString(underlying) { underlying in
                withMHString(expiration) { expiration in
                    withMHBytes(json) { call(instance, underlying, expiration, $0, done, context) }
                }
            }
        }
    }

    public func getChain(underlying: String, expiration: String, maximumAgeMilliseconds: Int64) async -> OperationResult
    {
        let call = table.get_chain!
        return await perform("get_chain") { instance, done, context in
            withMHString(underlying) { underlying in
                withMHString(expiration) { call(instance, underlying, $0, maximumAgeMilliseconds, done, context) }
            }
        }
    }

    public func putLastQuotes(_ quotes: [LastQuote]) async -> OperationResult {
        let call = table.put_last_quotes!
        return await perform("put_last_quotes") { instance, done, context in
            Records.withLastQuotes(quotes) { records, count in call(instance, records, count, done, context) }
        }
    }

    public func getLastQuotes(_ symbols: [String]) async -> OperationResult {
        let call = table.get_last_quotes!
        return await perform("get_last_quotes") { instance, done, context in
            withMHStrings(symbols) { call(instance, $0.baseAddress, $0.count, done, context) }
        }
    }

    public func putSelection(key: String, json: [UInt8]) async -> OperationResult {
        let call = table.put_selection!
        return await perform("put_selection") { instance, done, context in
            withMHString(key) { key in withMHBytes(json) { call(instance, key, $0, done, context) } }
        }
    }

    public func getSelection(key: String) async -> OperationResult {
        let call = table.get_selection!
        return await perform("get_selection") { instance, done, context in
            withMHString(key) { call(instance, $0, done, context) }
        }
    }
}
