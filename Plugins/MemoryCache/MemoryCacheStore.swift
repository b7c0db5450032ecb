import CachePluginKit
import PluginKit
import Synchronization

/// The state of one MemoryCache instance: bars per series, chain snapshots, last quotes and selections,
/// bounded in count, behind one lock. All operations are short and never block on I/O.
final class MemoryCacheStore: Sendable {
    struct Limits: Sendable {
        var maximumBars = 2_000_000
        var maximumChains = 10_000
        var maximumLastQuotes = 200_000
        var maximumSelections = 10_000
        var maximumDocumentBytes = 16 * 1024 * 1024
        /// Chain snapshots older than this are never returned, whatever the reader asks (the spec's 24 h TTL).
        var chainTimeToLiveMilliseconds: Int64 = 86_400_000
    }

    struct SeriesKey: Hashable {
        var symbol: String
        var timespan: Timespan
        var multiplier: Int32
    }

    /// Bars of one series sorted by start, plus when the series was last touched (for eviction).
    struct Series {
        var starts: [Int64] = []
        var bars: [Int64: Bar] = [:]
        var lastUsed: UInt64 = 0

        mutating func upsert(_ bar: Bar) -> Bool {
            let isNew = bars.updateValue(bar, forKey: bar.startMilliseconds) == nil
            if isNew {
                let index = Self.lowerBound(starts, bar.startMilliseconds)
                starts.insert(bar.startMilliseconds, at: index)
            }
            return isNew
        }

        static func lowerBound(_ values: [Int64], _ target: Int64) -> Int {
            var low = 0
            var high = values.count
            while low < high {
                let mid = (low + high) / 2
                if values[mid] < target { low = mid + 1 } else { high = mid }
            }
            return low
        }
    }

    struct Document {
        var bytes: [UInt8]
        var updatedMilliseconds: Int64
        var lastUsed: UInt64
    }

    struct State {
        var series: [SeriesKey: Series] = [:]
        var barCount = 0
        var chains: [String: Document] = [:]
        var lastQuotes: [String: LastQuote] = [:]
        var selections: [String: Document] = [:]
        var tick: UInt64 = 0
        var evictedBars = 0

        mutating func nextTick() -> UInt64 {
            tick += 1
            return tick
        }
    }

    let limits: Limits
    private let state = Mutex(State())

    init(limits: Limits) { self.limits = limits }

    // MARK: Bars

    func putBars(_ bars: [Bar], now: Int64) throws(PluginError) {
        try CacheValidation.bars(bars)
        state.withLock { state in
            let tick = state.nextTick()
            for var bar in bars {
                bar.updatedMilliseconds = now
                let key = SeriesKey(symbol: bar.symbol, timespan: bar.timespan, multiplier: bar.multiplier)
                var series = state.series.removeValue(forKey: key) ?? Series()
                if series.upsert(bar) { state.barCount += 1 }
                series.lastUsed = tick
                state.series[key] = series
            }
            evictBars(
                &state,
                protecting: Set(
                    bars.map { SeriesKey(symbol: $0.symbol, timespan: $0.timespan, multiplier: $0.multiplier) }))
        }
    }

    /// Evicts least recently used series (oldest bars first) until the bar count is within bounds.
    private func evictBars(_ state: inout State, protecting: Set<SeriesKey>) {
        while state.barCount > limits.maximumBars {
            let candidates = state.series.filter { !protecting.contains($0.key) }
            let pool = candidates.isEmpty ? state.series : candidates
            guard let victim = pool.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key,
                var series = state.series.removeValue(forKey: victim)
            else { return }
            let excess = state.barCount - limits.maximumBars
            let drop = min(excess, series.starts.count)
            for start in series.starts.prefix(drop) { series.bars.removeValue(forKey: start) }
            series.starts.removeFirst(drop)
            state.barCount -= drop
            state.evictedBars += drop
            if !series.starts.isEmpty { state.series[victim] = series }
        }
    }

    func getBars(
        symbol: String, timespan: Timespan, multiplier: Int32, from: Int64, to: Int64, limit: Int, descending: Bool
    ) -> [Bar] {
        state.withLock { state in
            let key = SeriesKey(symbol: symbol, timespan: timespan, multiplier: multiplier)
            guard var series = state.series[key] else { return [] }
            series.lastUsed = state.nextTick()
            state.series[key] = series
            let lower = from > 0 ? Series.lowerBound(series.starts, from) : 0
            let upper = to > 0 ? Series.lowerBound(series.starts, to == Int64.max ? to : to + 1) : series.starts.count
            guard lower < upper else { return [] }
            var starts = series.starts[lower..<upper]
            if limit > 0 {
                starts = descending ? starts.suffix(limit) : starts.prefix(limit)
            }
            let ordered = descending ? Array(starts.reversed()) : Array(starts)
            return ordered.compactMap { series.bars[$0] }
        }
    }

    // MARK: Documents

    func putChain(underlying: String, expiration: String, json: [UInt8], now: Int64) throws(PluginError) {
        try CacheValidation.symbol(underlying)
        try validate(document: json, what: "chain snapshot")
        state.withLock { state in
            let tick = state.nextTick()
            state.chains[Self.chainKey(underlying, expiration)] = Document(
                bytes: json, updatedMilliseconds: now, lastUsed: tick)
            Self.evict(&state.chains, limit: limits.maximumChains)
        }
    }

    func getChain(underlying: String, expiration: String, maximumAge: Int64, now: Int64) -> Document? {
        state.withLock { state in
            let key = Self.chainKey(underlying, expiration)
            guard var document = state.chains[key] else { return nil }
            let age = now - document.updatedMilliseconds
            if age > limits.chainTimeToLiveMilliseconds {
                state.chains.removeValue(forKey: key)
                return nil
            }
            guard maximumAge <= 0 || age <= maximumAge else { return nil }
            document.lastUsed = state.nextTick()
            state.chains[key] = document
            return document
        }
    }

    func putLastQuotes(_ quotes: [LastQuote]) throws(PluginError) {
        for quote in quotes { try CacheValidation.symbol(quote.symbol) }
        state.withLock { state in
            for quote in quotes {
                // A write never moves a symbol back in time: an older update than the stored one is ignored.
                if let existing = state.lastQuotes[quote.symbol],
                    existing.updatedMilliseconds > quote.updatedMilliseconds
                {
                    continue
                }
                state.lastQuotes[quote.symbol] = quote
            }
            if state.lastQuotes.count > limits.maximumLastQuotes {
                let excess = state.lastQuotes.count - limits.maximumLastQuotes
                let oldest = state.lastQuotes.values.sorted { $0.updatedMilliseconds < $1.updatedMilliseconds }.prefix(
                    excess)
                for quote in oldest { state.lastQuotes.removeValue(forKey: quote.symbol) }
            }
        }
    }

    func getLastQuotes(_ symbols: [String]) -> [LastQuote] {
        state.withLock { state in symbols.compactMap { state.lastQuotes[$0] } }
    }

    func putSelection(key: String, json: [UInt8], now: Int64) throws(PluginError) {
        try CacheValidation.key(key)
        try validate(document: json, what: "selection")
        state.withLock { state in
            let tick = state.nextTick()
            state.selections[key] = Document(bytes: json, updatedMilliseconds: now, lastUsed: tick)
            Self.evict(&state.selections, limit: limits.maximumSelections)
        }
    }

    func getSelection(key: String) -> Document? {
        state.withLock { $0.selections[key] }
    }

    // MARK: Health and helpers

    /// Bars held and bars evicted so far, for metrics.
    var barCounts: (held: Int, evicted: Int) { state.withLock { ($0.barCount, $0.evictedBars) } }

    var summary: String {
        state.withLock { state in
            "\(state.barCount) bars in \(state.series.count) series, \(state.chains.count) chains, "
                + "\(state.lastQuotes.count) quotes, \(state.selections.count) selections"
        }
    }

    static func chainKey(_ underlying: String, _ expiration: String) -> String { underlying + "\u{1F}" + expiration }

    private static func evict(_ documents: inout [String: Document], limit: Int) {
        guard documents.count > limit else { return }
        let excess = documents.count - limit
        for key in documents.sorted(by: { $0.value.lastUsed < $1.value.lastUsed }).prefix(excess).map(\.key) {
            documents.removeValue(forKey: key)
        }
    }

    /// The shared document rules, with this cache's own (configurable) size limit on top.
    private func validate(document: [UInt8], what: String) throws(PluginError) {
        try CacheValidation.document(document, what: what)
        guard document.count <= limits.maximumDocumentBytes else {
            throw .invalid(
                "\(what) document is \(document.count) bytes, over the \(limits.maximumDocumentBytes)-byte limit")
        }
    }
}
