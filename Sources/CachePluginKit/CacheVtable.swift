import PluginAPI
import PluginKit
import Synchronization

/// One cache plugin instance: its host, its backend, and the operations in flight.
public final class CacheInstance: Sendable {
    public let host: PluginHost
    public let backend: any CacheBackend
    private struct State {
        var running = false
        var inFlight = 0
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    public init(host: PluginHost, backend: any CacheBackend) {
        self.host = host
        self.backend = backend
    }

    static func from(_ pointer: UnsafeMutableRawPointer?) -> CacheInstance? {
        pointer.map { Unmanaged<CacheInstance>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Accepts an operation: runs `body` on a task and completes `done` exactly once with its outcome.
    func run(
        _ done: mh_done_fn?, _ context: UnsafeMutableRawPointer?,
        _ body: @escaping @Sendable (CacheInstance) async throws(PluginError) -> OperationResult
    ) -> mh_status {
        guard let done else { return mh_status(MH_INVALID) }
        let completion = Completion(done: done, context: context)
        let accepted = state.withLock { state -> Bool in
            guard state.running else { return false }
            state.inFlight += 1
            return true
        }
        guard accepted else {
            completion.fail(.unavailable("cache is not running"))
            return mh_status(MH_OK)
        }
        Task {
            do throws(PluginError) {
                completion.complete(try await body(self))
            } catch {
                completion.fail(error)
            }
            self.finished()
        }
        return mh_status(MH_OK)
    }

    private func finished() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.inFlight -= 1
            guard state.inFlight == 0 else { return [] }
            defer { state.drained = [] }
            return state.drained
        }
        for waiter in waiters { waiter.resume() }
    }

    func start() throws {
        try ControlCalls.wait { [backend] in
            do throws(PluginError) {
                try await backend.start()
            } catch {
                throw error
            }
        }
        state.withLock { $0.running = true }
    }

    /// Refuses new operations, waits for the ones in flight, then lets the backend flush and close.
    func stop() {
        let wasRunning = state.withLock { state -> Bool in
            defer { state.running = false }
            return state.running
        }
        guard wasRunning else { return }
        _ = try? ControlCalls.wait { [self] in
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let idle = state.withLock { state -> Bool in
                    if state.inFlight == 0 { return true }
                    state.drained.append(continuation)
                    return false
                }
                if idle { continuation.resume() }
            }
            await backend.stop()
        }
    }
}

/// Builds the `mh_cache_vtable` of a cache plugin around a `CacheBackend`. The plugin supplies only `create`
/// (which parses its configuration and calls `CacheVtable.instantiate`), because C function pointers cannot
/// carry the backend's type.
public enum CacheVtable {
    public typealias Create =
        @convention(c) (
            UnsafePointer<mh_host_api>?, mh_str, UnsafeMutablePointer<UnsafeMutableRawPointer?>?, mh_errbuf
        ) -> mh_status

    /// The body of a plugin's `create`: wraps the backend built by `make` into an instance.
    public static func instantiate(
        host: UnsafePointer<mh_host_api>?, out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, err: mh_errbuf,
        _ make: (PluginHost) throws(PluginError) -> any CacheBackend
    ) -> mh_status {
        catchingStatus(err) { () throws(PluginError) in
            guard let host, let out else { throw .invalid("create needs a host table and an output pointer") }
            let pluginHost = PluginHost(host)
            let instance = CacheInstance(host: pluginHost, backend: try make(pluginHost))
            out.pointee = Unmanaged.passRetained(instance).toOpaque()
        }
    }

    public static func make(create: Create) -> UnsafeRawPointer {
        var table = mh_cache_vtable()
        table.struct_size = UInt32(MemoryLayout<mh_cache_vtable>.stride)
        table.create = create
        table.start = { instance, err in
            guard let cache = CacheInstance.from(instance) else { return mh_status(MH_INVALID) }
            return catchingStatus(err) { try cache.start() }
        }
        table.stop = { instance in CacheInstance.from(instance)?.stop() }
        table.destroy = { instance in
            guard let instance else { return }
            Unmanaged<CacheInstance>.fromOpaque(instance).release()
        }
        table.health = { instance, detail in
            guard let cache = CacheInstance.from(instance) else { return mh_health_state(MH_HEALTH_DOWN) }
            let (state, text) = cache.backend.health()
            detail.write(text)
            return state
        }
        table.put_bars = { instance, records, count, done, context in
            guard let cache = CacheInstance.from(instance) else { return mh_status(MH_INVALID) }
            let bars = Records.bars(records, count: count)
            return cache.run(done, context) { cache throws(PluginError) in
                guard let bars else { throw .invalid("malformed bar array") }
                try CacheValidation.bars(bars)
                try await cache.backend.putBars(bars, now: cache.host.nowMilliseconds)
                return OperationResult()
            }
        }
        table.get_bars = { instance, query, done, context in
            guard let cache = CacheInstance.from(instance) else { return mh_status(MH_INVALID) }
            let record = Records.read(UnsafeRawPointer(query), count: 1, as: mh_bar_query.self)?.first
            let request = record.flatMap { record in
                Timespan(rawValue: record.timespan).map {
                    CacheBarQuery(
                        symbol: String(record.ticker), timespan: $0, multiplier: record.multiplier,
                        fromMilliseconds: record.from_ms, toMilliseconds: record.to_ms, limit: Int(record.limit),
                        descending: record.descending != 0
                    )
                }
            }
            return cache.run(done, context) { cache throws(PluginError) in
                guard let request else { throw .invalid("malformed bar query") }
                let (bars, note) = try await cache.backend.getBars(request)
                return OperationResult(message: note, bars: bars)
            }
        }
        table.put_chain = { instance, underlying, expiration, json, done, context in
            guard let cache = CacheInstance.from(instance) else { return mh_status(MH_INVALID) }
            let (underlying, expiration, json) = (String(underlying), String(expiration), json.array)
            return cache.run(done, context) { cache throws(PluginError) in
                try CacheValidation.symbol(underlying)
                try CacheValidation.document(json, what: "chain snapshot")
                try await cache.backend.putChain(
                    underlying: underlying, expiration: expiration, json: json, now: cache.host.nowMilliseconds
                )
                return OperationResult()
            }
        }
        table.get_chain = { instance, underlying, expiration, maximumAge, done, context in
            guard let cache = CacheInstance.from(instance) else { return mh_status(MH_INVALID) }
            let (underlying, expiration) = (String(underlying), String(expiration))
            return cache.run(done, context) { cache throws(PluginError) in
                guard
                    let document = try await cache.backend.getChain(
                        underlying: underlying, expiration: expiration, maximumAge: maximumAge,
                        now: cache.host.nowMilliseconds
                    )
                else { throw .notFound("no chain snapshot for \(underlying) \(expiration) within the age limit") }
                return OperationResult(json: document.json, updatedMilliseconds: document.updatedMilliseconds)
            }
        }
        table.put_last_quotes = { instance, records, count, done, context in
            guard let cache = CacheInstance.from(instance) else { return mh_status(MH_INVALID) }
            let quotes = Records.lastQuotes(records, count: count)
            return cache.run(done, context) { cache throws(PluginError) in
                guard let quotes else { throw .invalid("malformed quote array") }
                for quote in quotes { try CacheValidation.symbol(quote.symbol) }
                try await cache.backend.putLastQuotes(quotes)
                return OperationResult()
            }
        }
        table.get_last_quotes = { instance, symbols, count, done, context in
            guard let cache = CacheInstance.from(instance) else { return mh_status(MH_INVALID) }
            let names = symbols.map { pointer in (0..<count).map { String(pointer[$0]) } } ?? (count == 0 ? [] : nil)
            return cache.run(done, context) { cache throws(PluginError) in
                guard let names else { throw .invalid("missing symbol array") }
                return OperationResult(lastQuotes: try await cache.backend.getLastQuotes(names))
            }
        }
        table.put_selection = { instance, key, json, done, context in
            guard let cache = CacheInstance.from(instance) else { return mh_status(MH_INVALID) }
            let (key, json) = (String(key), json.array)
            return cache.run(done, context) { cache throws(PluginError) in
                try CacheValidation.key(key)
                try CacheValidation.document(json, what: "selection")
                try await cache.backend.putSelection(key: key, json: json, now: cache.host.nowMilliseconds)
                return OperationResult()
            }
        }
        table.get_selection = { instance, key, done, context in
            guard let cache = CacheInstance.from(instance) else { return mh_status(MH_INVALID) }
            let key = String(key)
            return cache.run(done, context) { cache throws(PluginError) in
                guard let document = try await cache.backend.getSelection(key: key) else {
                    throw .notFound("no selection stored under '\(key)'")
                }
                return OperationResult(json: document.json, updatedMilliseconds: document.updatedMilliseconds)
            }
        }
        table.get_extension = { _, _ in nil }
        return PluginExport.permanent(table)
    }
}
