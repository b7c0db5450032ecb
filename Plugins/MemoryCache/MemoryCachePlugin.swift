import PluginAPI
import PluginKit
import Synchronization

/// MemoryCache: a complete cache plugin that keeps everything in process memory — bounded in count, with the
/// chain snapshot TTL the spec asks for, safe under concurrent callers. Nothing survives a restart; use it
/// for QA and tests (the embedded durable cache is the default for operators).
///
/// Configuration keys (all optional):
/// - `maxBars` (int, default 2000000): bars kept across all series; least recently used series lose their
///   oldest bars first.
/// - `maxChains` (int, default 10000), `maxLastQuotes` (int, default 200000), `maxSelections` (int, default
///   10000): entry bounds, least recently used evicted first.
/// - `chainTtlMs` (int, default 86400000): chain snapshots older than this are never returned.
/// - `maxDocumentBytes` (int, default 16777216): largest chain or selection document accepted.
final class MemoryCache: Sendable {
    let host: PluginHost
    let store: MemoryCacheStore
    private let running = Atomic<Bool>(false)

    init(host: PluginHost, config: String) throws(PluginError) {
        self.host = host
        store = MemoryCacheStore(limits: try Self.limits(from: config))
    }

    static func limits(from text: String) throws(PluginError) -> MemoryCacheStore.Limits {
        var limits = MemoryCacheStore.Limits()
        guard !text.isEmpty else { return limits }
        let object: JSONValue
        do {
            object = try JSONValue.parse(text)
        } catch {
            throw .invalid("configuration is not valid JSON (\(error))")
        }
        guard case .object(let members) = object else { throw .invalid("configuration must be an object") }
        func positive(_ key: String) throws(PluginError) -> Int? {
            guard let value = object[key] else { return nil }
            guard let number = value.int64, number > 0 else { throw .invalid("\(key) must be a positive integer") }
            return Int(number)
        }
        let known = ["maxBars", "maxChains", "maxLastQuotes", "maxSelections", "chainTtlMs", "maxDocumentBytes"]
        if let unknown = members.map(\.0).first(where: { !known.contains($0) }) {
            throw .invalid("unknown key '\(unknown)'; known keys: \(known.joined(separator: ", "))")
        }
        if let value = try positive("maxBars") { limits.maximumBars = value }
        if let value = try positive("maxChains") { limits.maximumChains = value }
        if let value = try positive("maxLastQuotes") { limits.maximumLastQuotes = value }
        if let value = try positive("maxSelections") { limits.maximumSelections = value }
        if let value = try positive("chainTtlMs") { limits.chainTimeToLiveMilliseconds = Int64(value) }
        if let value = try positive("maxDocumentBytes") { limits.maximumDocumentBytes = value }
        return limits
    }

    static func from(_ instance: UnsafeMutableRawPointer?) -> MemoryCache? {
        instance.map { Unmanaged<MemoryCache>.fromOpaque($0).takeUnretainedValue() }
    }

    var isRunning: Bool { running.load(ordering: .acquiring) }

    func setRunning(_ value: Bool) { running.store(value, ordering: .releasing) }

    /// Runs one operation: completes `done` exactly once with its result (synchronously: nothing here waits).
    static func operation(
        _ instance: UnsafeMutableRawPointer?, _ done: mh_done_fn?, _ context: UnsafeMutableRawPointer?,
        _ body: (MemoryCache) throws -> OperationResult
    ) -> mh_status {
        guard let cache = from(instance), let done else { return mh_status(MH_INVALID) }
        let completion = Completion(done: done, context: context)
        guard cache.isRunning else {
            completion.fail(.unavailable("memory cache is not running"))
            return mh_status(MH_OK)
        }
        completion.complete { try body(cache) }
        return mh_status(MH_OK)
    }
}

// Both tables are allocated once and never written again (plugins are never unloaded), so sharing them
// across threads is safe.
nonisolated(unsafe) let vtable: UnsafeRawPointer = {
    var table = mh_cache_vtable()
    table.struct_size = UInt32(MemoryLayout<mh_cache_vtable>.stride)
    table.create = { host, config, out, err in
        catchingStatus(err) { () throws(PluginError) in
            guard let host, let out else { throw .invalid("create needs a host table and an output pointer") }
            let cache = try MemoryCache(host: PluginHost(host), config: String(config))
            out.pointee = Unmanaged.passRetained(cache).toOpaque()
        }
    }
    table.start = { instance, _ in
        guard let cache = MemoryCache.from(instance) else { return mh_status(MH_INVALID) }
        cache.setRunning(true)
        cache.host.log(mh_log_level(MH_LOG_INFO), "memory cache ready (contents do not survive a restart)")
        return mh_status(MH_OK)
    }
    table.stop = { instance in MemoryCache.from(instance)?.setRunning(false) }
    table.destroy = { instance in
        guard let instance else { return }
        Unmanaged<MemoryCache>.fromOpaque(instance).release()
    }
    table.health = { instance, detail in
        guard let cache = MemoryCache.from(instance) else { return mh_health_state(MH_HEALTH_DOWN) }
        guard cache.isRunning else {
            detail.write("stopped")
            return mh_health_state(MH_HEALTH_DOWN)
        }
        detail.write(cache.store.summary)
        return mh_health_state(MH_HEALTH_OK)
    }
    table.put_bars = { instance, records, count, done, context in
        MemoryCache.operation(instance, done, context) { cache in
            guard let bars = Records.bars(records, count: count) else {
                throw PluginError.invalid("malformed bar array")
            }
            try cache.store.putBars(bars, now: cache.host.nowMilliseconds)
            let counts = cache.store.barCounts
            cache.host.metric(
                mh_metric_kind(MH_METRIC_GAUGE_SET), "markethub_memory_cache_bars", value: Double(counts.held))
            cache.host.metric(
                mh_metric_kind(MH_METRIC_GAUGE_SET), "markethub_memory_cache_evicted_bars",
                value: Double(counts.evicted)
            )
            return OperationResult()
        }
    }
    table.get_bars = { instance, query, done, context in
        MemoryCache.operation(instance, done, context) { cache in
            guard let query = Records.read(UnsafeRawPointer(query), count: 1, as: mh_bar_query.self)?.first,
                let timespan = Timespan(rawValue: query.timespan)
            else { throw PluginError.invalid("malformed bar query") }
            let bars = cache.store.getBars(
                symbol: String(query.ticker), timespan: timespan, multiplier: query.multiplier, from: query.from_ms,
                to: query.to_ms, limit: Int(query.limit), descending: query.descending != 0
            )
            return OperationResult(bars: bars)
        }
    }
    table.put_chain = { instance, underlying, expiration, json, done, context in
        MemoryCache.operation(instance, done, context) { cache in
            try cache.store.putChain(
                underlying: String(underlying), expiration: String(expiration), json: json.array,
                now: cache.host.nowMilliseconds
            )
            return OperationResult()
        }
    }
    table.get_chain = { instance, underlying, expiration, maximumAge, done, context in
        MemoryCache.operation(instance, done, context) { cache in
            guard
                let document = cache.store.getChain(
                    underlying: String(underlying), expiration: String(expiration), maximumAge: maximumAge,
                    now: cache.host.nowMilliseconds
                )
            else {
                throw PluginError.notFound(
                    "no chain snapshot for \(String(underlying)) \(String(expiration)) within the age limit")
            }
            return OperationResult(json: document.bytes, updatedMilliseconds: document.updatedMilliseconds)
        }
    }
    table.put_last_quotes = { instance, records, count, done, context in
        MemoryCache.operation(instance, done, context) { cache in
            guard let quotes = Records.lastQuotes(records, count: count) else {
                throw PluginError.invalid("malformed quote array")
            }
            try cache.store.putLastQuotes(quotes)
            return OperationResult()
        }
    }
    table.get_last_quotes = { instance, symbols, count, done, context in
        MemoryCache.operation(instance, done, context) { cache in
            guard count == 0 || symbols != nil else { throw PluginError.invalid("missing symbol array") }
            let names = (0..<count).map { String(symbols![$0]) }
            return OperationResult(lastQuotes: cache.store.getLastQuotes(names))
        }
    }
    table.put_selection = { instance, key, json, done, context in
        MemoryCache.operation(instance, done, context) { cache in
            try cache.store.putSelection(key: String(key), json: json.array, now: cache.host.nowMilliseconds)
            return OperationResult()
        }
    }
    table.get_selection = { instance, key, done, context in
        MemoryCache.operation(instance, done, context) { cache in
            guard let document = cache.store.getSelection(key: String(key)) else {
                throw PluginError.notFound("no selection stored under '\(String(key))'")
            }
            return OperationResult(json: document.bytes, updatedMilliseconds: document.updatedMilliseconds)
        }
    }
    table.get_extension = { _, _ in nil }
    return PluginExport.permanent(table)
}()

nonisolated(unsafe) let descriptor = PluginExport.makeDescriptor(
    kind: mh_kind(MH_KIND_CACHE), id: "markethub.memory-cache", version: "1.0.0",
    description: "In-memory cache: bounded, TTL-aware, nothing survives a restart (QA and tests)", vtable: vtable
)

@c(markethub_plugin_entry_v1)
public func markethubPluginEntry(_ major: UInt16, _ minor: UInt16) -> UnsafePointer<mh_plugin>? {
    PluginExport.entry(hostMajor: major, descriptor: descriptor)
}
