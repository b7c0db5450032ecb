import MassiveWire
import PluginKit

/// What the stream has shown for one symbol, and which channels of it are subscribed.
struct SymbolState: Sendable {
    var lastQuote: Quote?
    var lastTrade: Trade?
    var dayVolume = 0.0
    var wanted: Channels = []

    mutating func record(_ quote: consuming Quote) {
        lastQuote = quote
    }

    mutating func record(_ trade: consuming Trade) {
        dayVolume += trade.size
        lastTrade = trade
    }

    /// Forgets the stream (a new day or a seek), keeping the subscription.
    mutating func clear() { self = SymbolState(wanted: wanted) }

    init(wanted: Channels = []) { self.wanted = wanted }
}

/// Per-symbol stream state, indexed by a small integer slot so the hot path hashes each symbol once per event.
/// It answers last-trade and snapshot look-ups so REST answers agree with the stream at the replay position;
/// it keeps no tick history (recent quotes and trades are found by reading the replayed frames backwards).
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
}
