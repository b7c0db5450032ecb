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

/// What the replayed stream has shown so far, per symbol: it answers quote, trade and snapshot look-ups so
/// that REST answers agree with the stream at the replay position.
struct MarketState: Sendable {
    static let recentCapacity = 1_000

    var lastQuote: [String: Quote] = [:]
    var lastTrade: [String: Trade] = [:]
    var recentQuotes: [String: Ring<Quote>] = [:]
    var recentTrades: [String: Ring<Trade>] = [:]
    var dayVolume: [String: Double] = [:]
    var dayOpen: [String: Double] = [:]

    mutating func record(_ quote: Quote) {
        lastQuote[quote.symbol] = quote
        recentQuotes[quote.symbol, default: Ring(capacity: Self.recentCapacity)].append(quote)
    }

    mutating func record(_ trade: Trade) {
        lastTrade[trade.symbol] = trade
        recentTrades[trade.symbol, default: Ring(capacity: Self.recentCapacity)].append(trade)
        dayVolume[trade.symbol, default: 0] += trade.size
        if dayOpen[trade.symbol] == nil { dayOpen[trade.symbol] = trade.price }
    }
}
