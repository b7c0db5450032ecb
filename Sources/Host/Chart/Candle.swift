import PluginKit

/// One OHLCV candle as the chart hub builds it, labelled by its start (UTC epoch ms). Parts (per-second bars,
/// per-minute bars, REST minute bars) fold in any order: the open comes from the earliest part, the close from
/// the latest, so out-of-order arrivals give the same candle as ordered ones.
public struct Candle: Sendable, Equatable {
    public var start: Int64
    public var open: Double
    public var high: Double
    public var low: Double
    public var close: Double
    public var volume: Double
    /// Σ VWAP × volume over the parts; NaN once a part's VWAP is unknown.
    var weighted: Double
    /// Σ transactions; -1 once a part's count is unknown.
    public var transactions: Int64
    /// Starts of the earliest and the latest part.
    var firstPart: Int64
    var lastPart: Int64
    /// False for a candle taken whole from a cache (no minute detail behind it).
    var detailed = true

    /// A one-part candle from a bar (`start` is the candle's start, the bar's start marks the part).
    init(start: Int64, bar: Bar) {
        self.start = start
        open = bar.open
        high = bar.high
        low = bar.low
        close = bar.close
        volume = bar.volume
        weighted = bar.vwap.isFinite ? bar.vwap * bar.volume : .nan
        transactions = bar.transactions
        firstPart = bar.startMilliseconds
        lastPart = bar.startMilliseconds
    }

    /// A candle from explicit values (tests and cached candles).
    public init(
        start: Int64, open: Double, high: Double, low: Double, close: Double, volume: Double, vwap: Double = .nan,
        transactions: Int64 = -1
    ) {
        self.start = start
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        weighted = vwap.isFinite ? vwap * volume : .nan
        self.transactions = transactions
        firstPart = start
        lastPart = start
    }

    /// Volume-weighted average price; NaN when unknown.
    public var vwap: Double { weighted.isNaN || volume <= 0 ? .nan : weighted / volume }

    /// Folds another part (or candle) in.
    @inline(__always)
    mutating func merge(_ other: Candle) {
        if other.firstPart < firstPart {
            open = other.open
            firstPart = other.firstPart
        }
        if other.lastPart >= lastPart {
            close = other.close
            lastPart = other.lastPart
        }
        if other.high > high { high = other.high }
        if other.low < low { low = other.low }
        volume += other.volume
        weighted += other.weighted
        transactions = transactions < 0 || other.transactions < 0 ? -1 : transactions + other.transactions
    }

    /// Same market values (what a client sees), ignoring bookkeeping.
    public func sameValues(_ other: Candle) -> Bool {
        func same(_ a: Double, _ b: Double) -> Bool { a == b || (a.isNaN && b.isNaN) }
        return start == other.start && open == other.open && high == other.high && low == other.low
            && close == other.close && volume == other.volume && same(vwap, other.vwap)
            && transactions == other.transactions
    }

    public static func == (lhs: Candle, rhs: Candle) -> Bool { lhs.sameValues(rhs) }

    /// The wire shape `{"t","o","h","l","c","v","vw","n"}`, appended to `out`.
    func appendJSON(to out: inout String) {
        out += "{\"t\":" + String(start)
        out += ",\"o\":" + JSONNumber.text(open)
        out += ",\"h\":" + JSONNumber.text(high)
        out += ",\"l\":" + JSONNumber.text(low)
        out += ",\"c\":" + JSONNumber.text(close)
        out += ",\"v\":" + JSONNumber.text(volume)
        let average = vwap
        out += ",\"vw\":" + (average.isFinite ? JSONNumber.text(average) : "null")
        out += ",\"n\":" + (transactions >= 0 ? String(transactions) : "null") + "}"
    }
}
