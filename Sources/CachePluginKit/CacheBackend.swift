import PluginAPI
import PluginKit

/// A range read of bars, as a backend sees it.
public struct CacheBarQuery: Sendable {
    public var symbol: String
    public var timespan: Timespan
    public var multiplier: Int32
    /// Inclusive bounds on bar start; 0 means unbounded.
    public var fromMilliseconds: Int64
    public var toMilliseconds: Int64
    /// 0 means no limit.
    public var limit: Int
    public var descending: Bool
}

/// A stored document (chain snapshot or selection) and when it was stored.
public struct StoredDocument: Sendable {
    public var json: [UInt8]
    public var updatedMilliseconds: Int64

    public init(json: [UInt8], updatedMilliseconds: Int64) {
        self.json = json
        self.updatedMilliseconds = updatedMilliseconds
    }
}

/// What a durable cache implements; `CacheVtable` turns it into an `mh_cache_vtable` with the ABI's threading
/// and completion rules. Inputs arrive validated (`CacheValidation`). Methods may block only by awaiting;
/// blocking C calls belong on the backend's own threads.
public protocol CacheBackend: AnyObject, Sendable {
    /// Connects or opens storage. A backend that cannot reach its storage should not throw: it should report
    /// degraded health and keep retrying, so the host keeps serving from memory and upstream.
    func start() async throws(PluginError)
    /// Flushes and closes. No operation is in flight when it is called.
    func stop() async
    /// Current health and a short detail. Must not block.
    func health() -> (state: mh_health_state, detail: String)

    func putBars(_ bars: [Bar], now: Int64) async throws(PluginError)
    /// Bars of one series; `note` reports anything skipped (e.g. corrupt rows) without failing the read.
    func getBars(_ query: CacheBarQuery) async throws(PluginError) -> (bars: [Bar], note: String)
    func putChain(underlying: String, expiration: String, json: [UInt8], now: Int64) async throws(PluginError)
    /// The snapshot if it is no older than `maximumAge` (0: no reader limit) and the backend's TTL.
    func getChain(
        underlying: String, expiration: String, maximumAge: Int64, now: Int64
    ) async throws(PluginError)
        -> StoredDocument?
    func putLastQuotes(_ quotes: [LastQuote]) async throws(PluginError)
    func getLastQuotes(_ symbols: [String]) async throws(PluginError) -> [LastQuote]
    func putSelection(key: String, json: [UInt8], now: Int64) async throws(PluginError)
    func getSelection(key: String) async throws(PluginError) -> StoredDocument?
}
