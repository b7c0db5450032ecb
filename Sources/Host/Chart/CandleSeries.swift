import MarketCalendar
import PluginKit

/// The candles of one (ticker, minute timeframe, session mode), built from streamed per-second (`A`) and
/// per-minute (`AM`) aggregates and REST minute bars, kept in a bounded ring buffer. A value type with no
/// locking and no clock: the chart hub owns one per focused series; tests and the benchmark drive it directly.
///
/// Rules (the vendor's, see docs/socketio-events.md):
/// - Candles are labelled by their start; a part updates the candle with the same start (upsert), never appends.
/// - A minute bar (`AM`, or a REST minute bar) is authoritative for its minute: it replaces what the second
///   bars of that minute built, and a re-sent (corrected) minute bar replaces the earlier one.
/// - Second bars may arrive out of order or twice: the open is the earliest second's, the close the latest's,
///   and a repeated second replaces the earlier copy instead of adding to the volume.
/// - `regular` keeps parts starting 09:30–16:00 New York time (13:00 on half days); `extended` 04:00–20:00.
///   The closing print that lands in the 16:00 or 16:01 minute bar is after hours, as in the REST answer.
/// - A minute with no trades has no bar, and no candle is invented for an empty window.
/// - Minute detail is kept for `retention` behind the newest candle; parts older than that are ignored
///   (counted in `ignoredLate`), matching the vendor's 15-minute correction window with room to spare.
public struct CandleSeries: Sendable {
    /// The state of one minute: an authoritative base and the second bars after it.
    struct MinuteCell: Sendable {
        var base: Candle?
        /// Second bars starting before this are already inside `base`.
        var sealedThrough: Int64 = .min
        var fromMinuteBar = false
        var seconds: [Candle] = []
        var mask: UInt64 = 0
        var value: Candle?

        mutating func recompute() {
            var folded = base
            for second in seconds where second.firstPart >= sealedThrough {
                if folded == nil { folded = second } else { folded!.merge(second) }
            }
            value = folded
        }
    }

    public let ticker: String
    public let timeframe: ChartTimeframe
    public let extended: Bool
    public let capacity: Int
    public let period: Int64
    let retention: Int64
    let calendar: MarketCalendar

    /// Ascending by start, at most `capacity`.
    public private(set) var candles: [Candle] = []
    var cells: [Int64: MinuteCell] = [:]
    /// Starts of candles changed since the last `takeChanged()`.
    var changed: [Int64] = []
    var newestMinute: Int64 = .min
    /// The New York day whose session window is cached, and the window.
    var dayFrom: Int64 = 0
    var dayTo: Int64 = -1
    var sessionFrom: Int64 = 0
    var sessionTo: Int64 = 0

    public private(set) var ignoredOutsideSession = 0
    public private(set) var ignoredLate = 0

    public init(
        ticker: String, timeframe: ChartTimeframe, extended: Bool, capacity: Int = 2_000,
        calendar: MarketCalendar = .nyse
    ) {
        self.ticker = ticker
        self.timeframe = timeframe
        self.extended = extended
        self.capacity = max(1, capacity)
        self.calendar = calendar
        period = timeframe.periodMilliseconds
        retention = max(30 * 60_000, 2 * period)
    }

    /// The oldest minute still folded; parts before it are too late.
    var horizon: Int64 {
        guard newestMinute != .min else { return .min }
        let newestCandle = newestMinute - newestMinute % period
        return newestCandle - retention
    }

    // MARK: Session window

    /// True when a part starting at `milliseconds` belongs to this series' session.
    @inline(__always)
    mutating func inSession(_ milliseconds: Int64) -> Bool {
        if milliseconds < dayFrom || milliseconds >= dayTo { loadDay(milliseconds) }
        return milliseconds >= sessionFrom && milliseconds < sessionTo
    }

    mutating func loadDay(_ milliseconds: Int64) {
        let date = EasternTime.local(atUTC: milliseconds).date
        dayFrom = EasternTime.midnight(of: date)
        dayTo = EasternTime.midnight(of: date.adding(days: 1))
        if let day = calendar.tradingDay(date) {
            sessionFrom = extended ? day.preOpen : day.regularOpen
            sessionTo = extended ? day.afterClose : day.regularClose
        } else {
            sessionFrom = 0
            sessionTo = 0
        }
    }

    // MARK: Parts

    /// Folds one streamed aggregate (per-second or per-minute); returns true when a candle changed.
    @discardableResult
    public mutating func apply(_ bar: Bar) -> Bool {
        switch bar.timespan {
        case .second: return applySecond(bar)
        case .minute where bar.multiplier == 1: return applyMinute(bar, sealedThrough: .max, authoritative: true)
        default: return false
        }
    }

    /// A per-second bar.
    @discardableResult
    public mutating func applySecond(_ bar: Bar) -> Bool {
        let start = bar.startMilliseconds
        guard inSession(start) else {
            ignoredOutsideSession += 1
            return false
        }
        let minute = start - start % 60_000
        if minute < horizon {
            ignoredLate += 1
            return false
        }
        let bucket = minute - minute % period
        let part = Candle(start: bucket, bar: bar)
        let bit = UInt64(1) << UInt64((start - minute) / 1_000)
        var needsRecompute = false
        var accepted = true
        withCell(minute) { cell in
            guard start >= cell.sealedThrough else {
                accepted = false
                return
            }
            if cell.mask & bit != 0 {
                // The same second again (a late re-send): replace it, then rebuild the minute.
                if let index = cell.seconds.firstIndex(where: { $0.firstPart == start }) {
                    cell.seconds[index] = part
                } else {
                    cell.seconds.append(part)
                }
                cell.recompute()
                needsRecompute = true
            } else {
                cell.mask |= bit
                cell.seconds.append(part)
                if cell.value == nil { cell.value = part } else { cell.value!.merge(part) }
            }
        }
        guard accepted else { return false }
        noteMinute(minute)
        if needsRecompute {
            rebuild(bucket)
        } else {
            fold(part, into: bucket)
        }
        return true
    }

    /// A per-minute bar: authoritative (`AM`) or a REST bar whose minute was still running when fetched
    /// (`sealedThrough` = the fetch time: later second bars add to it).
    @discardableResult
    public mutating func applyMinute(_ bar: Bar, sealedThrough: Int64, authoritative: Bool) -> Bool {
        let minute = bar.startMilliseconds - bar.startMilliseconds % 60_000
        guard inSession(minute) else {
            ignoredOutsideSession += 1
            return false
        }
        if minute < horizon {
            ignoredLate += 1
            return false
        }
        let bucket = minute - minute % period
        let part = Candle(start: bucket, bar: bar)
        var accepted = true
        withCell(minute) { cell in
            if !authoritative, cell.fromMinuteBar {
                accepted = false
                return
            }
            cell.base = part
            cell.fromMinuteBar = authoritative
            cell.sealedThrough = authoritative ? .max : sealedThrough
            if authoritative {
                cell.seconds = []
                cell.mask = 0
            } else {
                cell.seconds.removeAll { $0.firstPart < sealedThrough }
            }
            cell.recompute()
        }
        guard accepted else { return false }
        noteMinute(minute)
        rebuild(bucket)
        return true
    }

    /// REST minute bars (a backfill), fetched at `fetchedAt`: upserted like minute bars, except that a minute
    /// already corrected by the stream keeps the stream's value, and a minute still running at `fetchedAt`
    /// keeps taking the second bars that follow.
    public mutating func seed(minutes bars: [Bar], fetchedAt: Int64) {
        var sorted: [Bar] = []
        for bar in bars where inSession(bar.startMilliseconds) { sorted.append(bar) }
        sorted.sort { $0.startMilliseconds < $1.startMilliseconds }
        guard let newest = sorted.last?.startMilliseconds else { return }
        // Buckets behind the detail window once the series has caught up are rebuilt whole from the REST
        // minutes (the window starts on a bucket boundary, so a bucket is either all old or all detailed).
        let oldBefore = horizonAfter(newest - newest % 60_000)
        var old: [Candle] = []
        for bar in sorted {
            let minute = bar.startMilliseconds - bar.startMilliseconds % 60_000
            let running = minute + 60_000 > fetchedAt
            if minute < oldBefore, !running {
                let part = Candle(start: minute - minute % period, bar: bar)
                if let last = old.last, last.start == part.start {
                    old[old.count - 1].merge(part)
                } else {
                    old.append(part)
                }
            } else {
                applyMinute(bar, sealedThrough: running ? fetchedAt : .max, authoritative: false)
            }
        }
        for candle in old {
            if let index = index(of: candle.start) { candles[index] = candle } else { insert(candle) }
            markChanged(candle.start)
        }
        prune()
    }

    /// Whole candles from a cache (a fallback when the backfill failed): kept until minute detail replaces them.
    public mutating func seed(candles bars: [Bar]) {
        for bar in bars where inSession(bar.startMilliseconds) {
            let bucket = bar.startMilliseconds - bar.startMilliseconds % period
            var candle = Candle(start: bucket, bar: bar)
            candle.detailed = false
            if let index = index(of: bucket) {
                if !candles[index].detailed { candles[index] = candle }
            } else {
                insert(candle)
            }
        }
    }

    /// The candles changed since the last call, oldest first.
    public mutating func takeChanged() -> [Candle] {
        guard !changed.isEmpty else { return [] }
        var starts = changed
        changed.removeAll(keepingCapacity: true)
        starts.sort()
        var out: [Candle] = []
        out.reserveCapacity(starts.count)
        var previous = Int64.min
        for start in starts where start != previous {
            previous = start
            if let index = index(of: start) { out.append(candles[index]) }
        }
        return out
    }

    /// Number of minutes holding detail (bounded by `retention`).
    public var detailMinutes: Int { cells.count }

    // MARK: Internals

    @inline(__always)
    mutating func withCell(_ minute: Int64, _ body: (inout MinuteCell) -> Void) {
        body(&cells[minute, default: MinuteCell()])
    }

    /// The horizon the series would have once `minute` is its newest.
    func horizonAfter(_ minute: Int64) -> Int64 {
        let newest = max(newestMinute, minute)
        return newest - newest % period - retention
    }

    @inline(__always)
    mutating func noteMinute(_ minute: Int64) {
        guard minute > newestMinute else { return }
        let newCandle = minute - minute % period != newestMinute - newestMinute % period
        newestMinute = minute
        if newCandle { prune() }
    }

    /// Drops minute detail behind the horizon.
    mutating func prune() {
        let limit = horizon
        guard limit != .min, cells.count > Int(retention / 60_000) + Int(period / 60_000) else { return }
        cells = cells.filter { $0.key >= limit }
    }

    /// Index of the candle starting at `start`, searching from the newest end (where nearly every hit is).
    @inline(__always)
    func index(of start: Int64) -> Int? {
        var index = candles.count - 1
        if index >= 0, candles[index].start == start { return index }
        if index >= 1, candles[index - 1].start == start { return index - 1 }
        var low = 0
        var high = candles.count
        while low < high {
            let middle = (low + high) / 2
            if candles[middle].start < start { low = middle + 1 } else { high = middle }
        }
        index = low
        return index < candles.count && candles[index].start == start ? index : nil
    }

    @inline(__always)
    mutating func fold(_ part: Candle, into bucket: Int64) {
        if let index = index(of: bucket), candles[index].detailed {
            candles[index].merge(part)
            markChanged(bucket)
        } else {
            rebuild(bucket)
        }
    }

    /// Recomputes the candle at `bucket` from its minutes' detail.
    mutating func rebuild(_ bucket: Int64) {
        var folded: Candle?
        var minute = bucket
        while minute < bucket + period {
            if let value = cells[minute]?.value {
                if folded == nil { folded = value } else { folded!.merge(value) }
            }
            minute += 60_000
        }
        if let index = index(of: bucket) {
            if let folded { candles[index] = folded } else { candles.remove(at: index) }
        } else if let folded {
            insert(folded)
        }
        markChanged(bucket)
    }

    mutating func insert(_ candle: Candle) {
        if let last = candles.last, last.start < candle.start {
            candles.append(candle)
        } else {
            var low = 0
            var high = candles.count
            while low < high {
                let middle = (low + high) / 2
                if candles[middle].start < candle.start { low = middle + 1 } else { high = middle }
            }
            candles.insert(candle, at: low)
        }
        if candles.count > capacity { candles.removeFirst(candles.count - capacity) }
    }

    @inline(__always)
    mutating func markChanged(_ bucket: Int64) {
        if changed.last != bucket { changed.append(bucket) }
    }
}
