import PluginKit
import Synchronization

/// The encoded bodies of recent `/api/market/aggs` answers that came wholly from the cache, so a chart that many
/// clients open at once is served without a cache round trip through the plugin ABI and without encoding a year
/// of bars again for every request.
///
/// An entry is used while it is younger than `lifetimeMilliseconds` (host clock) and the service has fetched
/// nothing since it was stored (`AggregatesService.dataVersion`). Only healthy answers served from the cache are
/// kept: provider answers, degraded answers and errors always go through the service. A reused body is at most
/// one lifetime old, far inside the service's own freshness windows (60 s intraday, 300 s daily); a default
/// window's `to` (now) moves in steps of that lifetime.
final class AggregatesResponseCache: Sendable {
    struct Key: Hashable {
        var ticker: String
        var multiplier: Int32
        var timespan: UInt32
        var from: Int64?
        var to: Int64?
        var limit: Int
        var extended: Bool

        init(_ query: AggregatesQuery) {
            ticker = query.ticker
            multiplier = query.multiplier
            timespan = query.timespan.rawValue
            from = query.fromMilliseconds
            to = query.toMilliseconds
            limit = query.limit
            extended = query.sessionMode == .extended
        }

        /// The key as text, for sharing one computation among identical concurrent requests.
        var flightKey: String {
            "\(ticker)|\(multiplier)|\(timespan)|\(from.map(String.init) ?? "-")|\(to.map(String.init) ?? "-")|\(limit)|\(extended)"
        }
    }

    struct Entry {
        var body: [UInt8]
        var storedMilliseconds: Int64
        var dataVersion: UInt64
    }

    let lifetimeMilliseconds: Int64
    let maximumEntries: Int
    private let entries = Mutex<[Key: Entry]>([:])

    init(lifetimeMilliseconds: Int64, maximumEntries: Int = 1_024) {
        self.lifetimeMilliseconds = lifetimeMilliseconds
        self.maximumEntries = maximumEntries
    }

    /// The stored body for `key`, if it is still current.
    func body(for key: Key, now: Int64, dataVersion: UInt64) -> [UInt8]? {
        guard lifetimeMilliseconds > 0 else { return nil }
        return entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.dataVersion == dataVersion, now >= entry.storedMilliseconds,
                now - entry.storedMilliseconds < lifetimeMilliseconds
            else {
                entries[key] = nil
                return nil
            }
            return entry.body
        }
    }

    /// Keeps `body` when `answer` may be reused (healthy and wholly from the cache); true when it was kept.
    @discardableResult
    func store(_ body: [UInt8], for key: Key, answer: AggregatesAnswer, now: Int64, dataVersion: UInt64) -> Bool {
        guard lifetimeMilliseconds > 0, answer.source == "cache", answer.health == "ok", answer.fetchError == nil
        else { return false }
        entries.withLock { entries in
            if entries[key] == nil, entries.count >= maximumEntries { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(body: body, storedMilliseconds: now, dataVersion: dataVersion)
        }
        return true
    }

    /// The `Cache-Control` for a body just stored: shareable for the whole seconds of one lifetime, so the
    /// transport's shared cache and browsers keep it no longer than this cache does. Nil below one second.
    var cacheControl: String? {
        let seconds = lifetimeMilliseconds / 1_000
        return seconds >= 1 ? "public, max-age=\(seconds), s-maxage=\(seconds)" : nil
    }
}
