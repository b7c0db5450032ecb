import MassiveWire
import PluginKit

/// A bounded newest-last buffer.
struct Ring<Element: Sendable>: Sendable {
    private var storage: [Element] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    mutating func append(_ element: Element) {
        if storage.count < capacity {
            storage.append(element)
        } else {
            storage[head] = element
            head = (head + 1) % capacity
        }
    }

    /// Newest first.
    var newestFirst: [Element] {
        var out: [Element] = []
        out.reserveCapacity(storage.count)
        for index in 0..<storage.count {
            out.append(storage[(head + storage.count - 1 - index) % storage.count])
        }
        return out
    }
}

/// What the stream has shown for one symbol, and which channels of it are subscribed.
struct SymbolState: Sendable {
    static let recentCapacity = 256

    var lastQuote: Quote?
    var lastTrade: Trade?
    var recentQuotes = Ring<Quote>(capacity: SymbolState.recentCapacity)
    var recentTrades = Ring<Trade>(capacity: SymbolState.recentCapacity)
    var dayVolume = 0.0
    var wanted: Channels = []

    mutating func record(_ quote: Quote) {
        lastQuote = quote
        recentQuotes.append(quote)
    }

    mutating func record(_ trade: Trade) {
        lastTrade = trade
        recentTrades.append(trade)
        dayVolume += trade.size
    }

    /// Forgets the stream (a new day or a seek), keeping the subscription.
    mutating func clear() { self = SymbolState(wanted: wanted) }

    init(wanted: Channels = []) { self.wanted = wanted }
}

/// Per-symbol stream state, indexed by a small integer slot so the hot path hashes each symbol once per event.
/// It answers quote, trade and snapshot look-ups so REST answers agree with the stream at the replay position.
struct MarketState: Sendable {
    /// Symbol slots; `symbols` has one entry per interned symbol.
    var table = SymbolTable()
    var symbols: [SymbolState] = []
    private var appliedSubscriptions: UInt64 = .max

    /// The slot of `symbol`, created on first sight.
    mutating func slot(_ symbol: String) -> Int {
        let slot = table.intern(symbol)
        ensure(slot)
        return slot
    }

    /// Makes room for a slot the table handed out.
    @inline(__always)
    mutating func ensure(_ slot: Int) {
        while symbols.count <= slot { symbols.append(SymbolState()) }
    }

    /// Brings the per-slot channel sets up to date with the subscriptions (only when they changed).
    mutating func apply(_ subscriptions: [String: Channels], version: UInt64) {
        guard version != appliedSubscriptions else { return }
        appliedSubscriptions = version
        for index in symbols.indices { symbols[index].wanted = [] }
        for (symbol, channels) in subscriptions { symbols[slot(symbol)].wanted = channels }
    }

    /// Forgets everything streamed so far.
    mutating func clear() {
        for index in symbols.indices { symbols[index].clear() }
    }

    func state(_ symbol: String) -> SymbolState? {
        guard let slot = table.slot(of: symbol), slot < symbols.count else { return nil }
        return symbols[slot]
    }
    func lastQuote(_ symbol: String) -> Quote? { state(symbol)?.lastQuote }
    func lastTrade(_ symbol: String) -> Trade? { state(symbol)?.lastTrade }
    func dayVolume(_ symbol: String) -> Double? { state(symbol).flatMap { $0.lastTrade == nil ? nil : $0.dayVolume } }
    func recentQuotes(_ symbol: String) -> [Quote]? {
        guard let state = state(symbol), state.lastQuote != nil else { return nil }
        return state.recentQuotes.newestFirst
    }
    func recentTrades(_ symbol: String) -> [Trade]? {
        guard let state = state(symbol), state.lastTrade != nil else { return nil }
        return state.recentTrades.newestFirst
    }
}
