import PluginAPI

/// Bar timespans, matching `mh_timespan`.
public enum Timespan: UInt32, Sendable, CaseIterable, Codable {
    case second = 1
    case minute = 2
    case hour = 3
    case day = 4
    case week = 5
    case month = 6
    case quarter = 7
    case year = 8

    /// The vendor's and the REST API's spelling ("minute", "day"...).
    public var name: String {
        switch self {
        case .second: "second"
        case .minute: "minute"
        case .hour: "hour"
        case .day: "day"
        case .week: "week"
        case .month: "month"
        case .quarter: "quarter"
        case .year: "year"
        }
    }

    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = match
    }

    /// Nominal length in milliseconds for fixed-length timespans; nil for calendar ones (month and longer).
    public var fixedMilliseconds: Int64? {
        switch self {
        case .second: 1_000
        case .minute: 60_000
        case .hour: 3_600_000
        case .day: 86_400_000
        case .week: 604_800_000
        case .month, .quarter, .year: nil
        }
    }
}

/// Streaming channels, matching `mh_channels`.
public struct Channels: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let quotes = Channels(rawValue: UInt32(MH_CHANNEL_QUOTES))
    public static let trades = Channels(rawValue: UInt32(MH_CHANNEL_TRADES))
    public static let aggSecond = Channels(rawValue: UInt32(MH_CHANNEL_AGG_SECOND))
    public static let aggMinute = Channels(rawValue: UInt32(MH_CHANNEL_AGG_MINUTE))
    public static let all: Channels = [.quotes, .trades, .aggSecond, .aggMinute]
}

/// One NBBO quote.
public struct Quote: Sendable, Equatable {
    public var symbol: String
    public var timestampNanoseconds: Int64
    public var bidPrice: Double
    public var askPrice: Double
    public var bidSize: Double
    public var askSize: Double
    public var bidExchange: Int32
    public var askExchange: Int32
    public var sequence: Int64
    public var flags: UInt32

    public init(
        symbol: String, timestampNanoseconds: Int64, bidPrice: Double, askPrice: Double, bidSize: Double,
        askSize: Double, bidExchange: Int32 = -1, askExchange: Int32 = -1, sequence: Int64 = -1, flags: UInt32 = 0
    ) {
        self.symbol = symbol
        self.timestampNanoseconds = timestampNanoseconds
        self.bidPrice = bidPrice
        self.askPrice = askPrice
        self.bidSize = bidSize
        self.askSize = askSize
        self.bidExchange = bidExchange
        self.askExchange = askExchange
        self.sequence = sequence
        self.flags = flags
    }

    public init(_ record: mh_quote) {
        self.init(
            symbol: String(record.symbol), timestampNanoseconds: record.ts_ns, bidPrice: record.bid_price,
            askPrice: record.ask_price, bidSize: record.bid_size, askSize: record.ask_size,
            bidExchange: record.bid_exchange, askExchange: record.ask_exchange, sequence: record.sequence,
            flags: record.flags
        )
    }

    func record(symbol: mh_str) -> mh_quote {
        mh_quote(
            struct_size: UInt32(MemoryLayout<mh_quote>.stride), flags: flags, symbol: symbol,
            ts_ns: timestampNanoseconds, bid_price: bidPrice, ask_price: askPrice, bid_size: bidSize,
            ask_size: askSize, bid_exchange: bidExchange, ask_exchange: askExchange, sequence: sequence
        )
    }
}

/// One trade.
public struct Trade: Sendable, Equatable {
    public var symbol: String
    public var timestampNanoseconds: Int64
    public var price: Double
    public var size: Double
    public var exchange: Int32
    public var conditions: [Int32]
    public var sequence: Int64
    public var tradeID: String

    public init(
        symbol: String, timestampNanoseconds: Int64, price: Double, size: Double, exchange: Int32 = -1,
        conditions: [Int32] = [], sequence: Int64 = -1, tradeID: String = ""
    ) {
        self.symbol = symbol
        self.timestampNanoseconds = timestampNanoseconds
        self.price = price
        self.size = size
        self.exchange = exchange
        // The ABI record holds eight codes; a list that already fits is kept as is (no copy).
        self.conditions = conditions.count <= 8 ? conditions : Array(conditions.prefix(8))
        self.sequence = sequence
        self.tradeID = tradeID
    }

    public init(_ record: mh_trade) {
        let count = Int(min(record.condition_count, 8))
        let conditions = withUnsafeBytes(of: record.conditions) { raw in
            Array(raw.bindMemory(to: Int32.self).prefix(count))
        }
        self.init(
            symbol: String(record.symbol), timestampNanoseconds: record.ts_ns, price: record.price,
            size: record.size, exchange: record.exchange, conditions: conditions, sequence: record.sequence,
            tradeID: String(record.trade_id)
        )
    }

    func record(symbol: mh_str, tradeID: mh_str) -> mh_trade {
        var record = mh_trade()
        record.struct_size = UInt32(MemoryLayout<mh_trade>.stride)
        record.condition_count = UInt32(conditions.count)
        record.symbol = symbol
        record.ts_ns = timestampNanoseconds
        record.price = price
        record.size = size
        record.exchange = exchange
        withUnsafeMutableBytes(of: &record.conditions) { raw in
            let slots = raw.bindMemory(to: Int32.self)
            for (index, code) in conditions.enumerated() where index < slots.count { slots[index] = code }
        }
        record.sequence = sequence
        record.trade_id = tradeID
        return record
    }
}

/// One OHLCV bar, labelled by its start.
public struct Bar: Sendable, Equatable {
    public var symbol: String
    public var timespan: Timespan
    public var multiplier: Int32
    public var startMilliseconds: Int64
    public var endMilliseconds: Int64
    public var open: Double
    public var high: Double
    public var low: Double
    public var close: Double
    public var volume: Double
    /// NaN when unknown.
    public var vwap: Double
    /// -1 when unknown.
    public var transactions: Int64
    /// When a cache stored it; 0 otherwise.
    public var updatedMilliseconds: Int64
    public var source: String

    public init(
        symbol: String, timespan: Timespan, multiplier: Int32, startMilliseconds: Int64, endMilliseconds: Int64 = 0,
        open: Double, high: Double, low: Double, close: Double, volume: Double, vwap: Double = .nan,
        transactions: Int64 = -1, updatedMilliseconds: Int64 = 0, source: String = ""
    ) {
        self.symbol = symbol
        self.timespan = timespan
        self.multiplier = multiplier
        self.startMilliseconds = startMilliseconds
        self.endMilliseconds = endMilliseconds
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.vwap = vwap
        self.transactions = transactions
        self.updatedMilliseconds = updatedMilliseconds
        self.source = source
    }

    /// Decodes a record; returns nil when its timespan is unknown to this build.
    public init?(_ record: mh_bar) {
        guard let timespan = Timespan(rawValue: record.timespan) else { return nil }
        self.init(
            symbol: String(record.symbol), timespan: timespan, multiplier: record.multiplier,
            startMilliseconds: record.start_ms, endMilliseconds: record.end_ms, open: record.open,
            high: record.high, low: record.low, close: record.close, volume: record.volume, vwap: record.vwap,
            transactions: record.transactions, updatedMilliseconds: record.updated_ms, source: String(record.source)
        )
    }

    /// Equality that treats two NaN VWAPs as equal (NaN means "unknown").
    public static func == (lhs: Bar, rhs: Bar) -> Bool {
        lhs.symbol == rhs.symbol && lhs.timespan == rhs.timespan && lhs.multiplier == rhs.multiplier
            && lhs.startMilliseconds == rhs.startMilliseconds && lhs.endMilliseconds == rhs.endMilliseconds
            && lhs.open == rhs.open && lhs.high == rhs.high && lhs.low == rhs.low && lhs.close == rhs.close
            && lhs.volume == rhs.volume && (lhs.vwap == rhs.vwap || (lhs.vwap.isNaN && rhs.vwap.isNaN))
            && lhs.transactions == rhs.transactions && lhs.updatedMilliseconds == rhs.updatedMilliseconds
            && lhs.source == rhs.source
    }

    func record(symbol: mh_str, source: mh_str) -> mh_bar {
        var record = mh_bar()
        record.struct_size = UInt32(MemoryLayout<mh_bar>.stride)
        record.timespan = timespan.rawValue
        record.symbol = symbol
        record.multiplier = multiplier
        record.start_ms = startMilliseconds
        record.end_ms = endMilliseconds
        record.open = open
        record.high = high
        record.low = low
        record.close = close
        record.volume = volume
        record.vwap = vwap
        record.transactions = transactions
        record.updated_ms = updatedMilliseconds
        record.source = source
        return record
    }
}

/// Last known values of one symbol (the spec's option_quotes).
public struct LastQuote: Sendable, Equatable {
    public var symbol: String
    public var bidPrice: Double
    public var askPrice: Double
    public var lastPrice: Double
    public var midpoint: Double
    public var updatedMilliseconds: Int64

    public init(
        symbol: String, bidPrice: Double, askPrice: Double, lastPrice: Double, midpoint: Double,
        updatedMilliseconds: Int64
    ) {
        self.symbol = symbol
        self.bidPrice = bidPrice
        self.askPrice = askPrice
        self.lastPrice = lastPrice
        self.midpoint = midpoint
        self.updatedMilliseconds = updatedMilliseconds
    }

    public init(_ record: mh_last_quote) {
        self.init(
            symbol: String(record.symbol), bidPrice: record.bid_price, askPrice: record.ask_price,
            lastPrice: record.last_price, midpoint: record.midpoint, updatedMilliseconds: record.updated_ms
        )
    }

    /// Equality that treats two NaN prices as equal (NaN means "unknown").
    public static func == (lhs: LastQuote, rhs: LastQuote) -> Bool {
        func same(_ a: Double, _ b: Double) -> Bool { a == b || (a.isNaN && b.isNaN) }
        return lhs.symbol == rhs.symbol && same(lhs.bidPrice, rhs.bidPrice) && same(lhs.askPrice, rhs.askPrice)
            && same(lhs.lastPrice, rhs.lastPrice) && same(lhs.midpoint, rhs.midpoint)
            && lhs.updatedMilliseconds == rhs.updatedMilliseconds
    }

    func record(symbol: mh_str) -> mh_last_quote {
        mh_last_quote(
            struct_size: UInt32(MemoryLayout<mh_last_quote>.stride), reserved0: 0, symbol: symbol,
            bid_price: bidPrice, ask_price: askPrice, last_price: lastPrice, midpoint: midpoint,
            updated_ms: updatedMilliseconds
        )
    }
}
