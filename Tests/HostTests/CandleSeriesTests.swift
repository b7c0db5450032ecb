import Host
import MarketCalendar
import PluginKit
import Testing

/// The chart hub's candle folding, driven directly (times from a manual clock or New York wall times).
@Suite("Candle folding")
struct CandleSeriesTests {
    static let monday = CivilDate("2025-12-08")!

    static func at(_ hour: Int, _ minute: Int, _ second: Int = 0, on date: CivilDate = monday) -> Int64 {
        EasternTime.utcMilliseconds(date: date, hour: hour, minute: minute, second: second)
    }

    static func second(
        _ start: Int64, open: Double, high: Double? = nil, low: Double? = nil, close: Double, volume: Double = 100,
        vwap: Double = .nan, transactions: Int64 = 1
    ) -> Bar {
        Bar(
            symbol: "SPY", timespan: .second, multiplier: 1, startMilliseconds: start, open: open,
            high: high ?? max(open, close), low: low ?? min(open, close), close: close, volume: volume, vwap: vwap,
            transactions: transactions)
    }

    static func minute(
        _ start: Int64, open: Double, high: Double, low: Double, close: Double, volume: Double, vwap: Double = .nan
    ) -> Bar {
        Bar(
            symbol: "SPY", timespan: .minute, multiplier: 1, startMilliseconds: start, open: open, high: high,
            low: low, close: close, volume: volume, vwap: vwap)
    }

    static func series(_ timeframe: String = "5m", extended: Bool = false, capacity: Int = 2_000) -> CandleSeries {
        CandleSeries(ticker: "SPY", timeframe: ChartTimeframe(timeframe)!, extended: extended, capacity: capacity)
    }

    @Test("timeframes: accepted spellings, streaming and granularity")
    func timeframes() {
        #expect(ChartTimeframe("5m")?.granularity == "5/minute")
        #expect(ChartTimeframe("1d")?.label == "1D" && ChartTimeframe("1W")?.label == "1W")
        #expect(ChartTimeframe("1H")?.label == "1h")
        #expect(ChartTimeframe("1M") == nil, "1M would read as a month")
        #expect(ChartTimeframe("2m") == nil && ChartTimeframe("") == nil)
        #expect(ChartTimeframe("30m")!.streams && !ChartTimeframe("1h")!.streams && !ChartTimeframe("1D")!.streams)
    }

    @Test("second bars fold into the candle of their window; order of arrival does not matter")
    func outOfOrderSeconds() {
        let bars = [
            Self.second(Self.at(9, 30, 0), open: 100, close: 101, volume: 10, vwap: 100.5, transactions: 2),
            Self.second(Self.at(9, 31, 5), open: 101, high: 103, close: 102, volume: 20, vwap: 102, transactions: 3),
            Self.second(Self.at(9, 32, 59), open: 102, low: 99, close: 100, volume: 30, vwap: 100, transactions: 4),
            Self.second(Self.at(9, 34, 30), open: 100, close: 100.25, volume: 40, vwap: 100.1, transactions: 1),
        ]
        var ordered = Self.series()
        for bar in bars { ordered.apply(bar) }
        var shuffled = Self.series()
        for bar in [bars[2], bars[0], bars[3], bars[1]] { shuffled.apply(bar) }
        #expect(ordered.candles.count == 1)
        let candle = ordered.candles[0]
        #expect(candle.start == Self.at(9, 30))
        #expect(candle.open == 100 && candle.close == 100.25 && candle.high == 103 && candle.low == 99)
        #expect(candle.volume == 100 && candle.transactions == 10)
        #expect(abs(candle.vwap - (100.5 * 10 + 102 * 20 + 100 * 30 + 100.1 * 40) / 100) < 1e-9)
        #expect(shuffled.candles == ordered.candles)
        #expect(ordered.takeChanged().map(\.start) == [Self.at(9, 30)])
        #expect(ordered.takeChanged().isEmpty, "taken once")
    }

    @Test("a second sent twice replaces the first copy instead of adding to the volume")
    func duplicateSecond() {
        var series = Self.series("1m")
        series.apply(Self.second(Self.at(10, 0, 1), open: 50, close: 51, volume: 10))
        series.apply(Self.second(Self.at(10, 0, 2), open: 51, close: 52, volume: 10))
        series.apply(Self.second(Self.at(10, 0, 1), open: 50, high: 55, close: 51, volume: 12))
        #expect(series.candles.count == 1)
        #expect(series.candles[0].volume == 22 && series.candles[0].high == 55 && series.candles[0].close == 52)
    }

    @Test("a minute bar overwrites what its seconds built; a corrected minute bar overwrites again")
    func minuteCorrections() {
        var series = Self.series("5m")
        series.apply(Self.second(Self.at(9, 35, 10), open: 10, close: 11, volume: 5))
        series.apply(Self.second(Self.at(9, 36, 10), open: 11, close: 12, volume: 5))
        _ = series.takeChanged()
        series.apply(Self.minute(Self.at(9, 35), open: 10, high: 11.5, low: 9.5, close: 11, volume: 50))
        #expect(series.candles[0].volume == 55 && series.candles[0].low == 9.5 && series.candles[0].high == 12)
        // Seconds of a minute whose AM has arrived are ignored (the AM is the minute's final word).
        series.apply(Self.second(Self.at(9, 35, 40), open: 30, close: 30, volume: 1_000))
        #expect(series.candles[0].volume == 55)
        // The vendor re-sends the 09:35 minute corrected, after the 09:36 one.
        series.apply(Self.minute(Self.at(9, 36), open: 11, high: 12.5, low: 10.8, close: 12.2, volume: 60))
        series.apply(Self.minute(Self.at(9, 35), open: 10, high: 11.5, low: 9.0, close: 11, volume: 70))
        let candle = series.candles[0]
        #expect(candle.volume == 130 && candle.low == 9.0 && candle.high == 12.5)
        #expect(candle.open == 10 && candle.close == 12.2)
        #expect(series.takeChanged().map(\.start) == [Self.at(9, 35)])
    }

    @Test("a late minute bar updates the older candle and reports it, oldest first")
    func lateMinute() {
        var series = Self.series("5m")
        series.apply(Self.minute(Self.at(9, 40), open: 5, high: 6, low: 4, close: 5.5, volume: 10))
        series.apply(Self.minute(Self.at(9, 45), open: 5.5, high: 6, low: 5, close: 5.8, volume: 10))
        _ = series.takeChanged()
        series.apply(Self.second(Self.at(9, 46, 0), open: 5.8, close: 5.9, volume: 1))
        series.apply(Self.minute(Self.at(9, 44), open: 5.5, high: 7, low: 5.5, close: 6.5, volume: 3))
        let changed = series.takeChanged()
        #expect(changed.map(\.start) == [Self.at(9, 40), Self.at(9, 45)])
        #expect(changed[0].close == 6.5 && changed[0].high == 7 && changed[0].volume == 13)
    }

    @Test("regular sessions: 09:30 is in, 09:29 and 16:00 are out; the closing print in the 16:01 bar is after hours")
    func sessionEdges() {
        var regular = Self.series("5m")
        var extended = Self.series("5m", extended: true)
        let bars = [
            Self.minute(Self.at(9, 29), open: 1, high: 1, low: 1, close: 1, volume: 1),
            Self.minute(Self.at(9, 30), open: 2, high: 2, low: 2, close: 2, volume: 2),
            Self.minute(Self.at(15, 59), open: 3, high: 3, low: 3, close: 3, volume: 3),
            Self.minute(Self.at(16, 0), open: 4, high: 4, low: 4, close: 4, volume: 4),
            // The closing auction print lands in the 16:01 minute bar.
            Self.minute(Self.at(16, 1), open: 5, high: 5, low: 5, close: 5, volume: 500),
        ]
        for bar in bars {
            regular.apply(bar)
            extended.apply(bar)
        }
        #expect(regular.candles.map(\.start) == [Self.at(9, 30), Self.at(15, 55)])
        #expect(regular.candles.last?.close == 3, "the last regular candle closes at the 15:59 bar")
        #expect(regular.ignoredOutsideSession == 3)
        #expect(extended.candles.map(\.start) == [Self.at(9, 25), Self.at(9, 30), Self.at(15, 55), Self.at(16, 0)])
        #expect(extended.candles.last?.volume == 504 && extended.candles.last?.close == 5)
        var early = Self.series("1m", extended: true)
        early.apply(Self.minute(Self.at(3, 59), open: 1, high: 1, low: 1, close: 1, volume: 1))
        early.apply(Self.minute(Self.at(4, 0), open: 1, high: 1, low: 1, close: 1, volume: 1))
        early.apply(Self.minute(Self.at(20, 0), open: 1, high: 1, low: 1, close: 1, volume: 1))
        #expect(early.candles.map(\.start) == [Self.at(4, 0)])
    }

    @Test("daylight saving: the regular session opens at 14:30 UTC in winter and 13:30 UTC in summer")
    func daylightSaving() throws {
        // 2025-03-07 is a Friday in EST; 2025-03-10 the Monday after clocks moved forward; 2025-11-03 the Monday
        // after they moved back.
        let cases: [(String, Int64)] = [
            ("2025-03-07", 1_741_357_800_000), ("2025-03-10", 1_741_613_400_000), ("2025-11-03", 1_762_180_200_000),
        ]
        for (text, openUTC) in cases {
            let date = try #require(CivilDate(text))
            #expect(Self.at(9, 30, on: date) == openUTC, "\(text)")
            var series = Self.series("30m")
            // An hour before the open in UTC terms of the other season must stay out.
            series.apply(Self.minute(openUTC - 3_600_000, open: 1, high: 1, low: 1, close: 1, volume: 1))
            series.apply(Self.minute(openUTC - 60_000, open: 1, high: 1, low: 1, close: 1, volume: 1))
            series.apply(Self.minute(openUTC, open: 2, high: 2, low: 2, close: 2, volume: 1))
            series.apply(Self.minute(openUTC + 29 * 60_000, open: 3, high: 3, low: 3, close: 3, volume: 1))
            series.apply(Self.minute(openUTC + 30 * 60_000, open: 4, high: 4, low: 4, close: 4, volume: 1))
            #expect(series.candles.map(\.start) == [openUTC, openUTC + 1_800_000], "\(text)")
            #expect(series.candles.first?.close == 3)
        }
    }

    @Test("empty windows stay empty: no candle is invented for minutes without trades")
    func emptyWindows() {
        var series = Self.series("5m")
        series.apply(Self.minute(Self.at(10, 0), open: 1, high: 1, low: 1, close: 1, volume: 1))
        series.apply(Self.minute(Self.at(10, 17), open: 2, high: 2, low: 2, close: 2, volume: 1))
        #expect(series.candles.map(\.start) == [Self.at(10, 0), Self.at(10, 15)])
        // A weekend or holiday has no session at all.
        var holiday = Self.series("1m", extended: true)
        holiday.apply(
            Self.minute(Self.at(10, 0, on: CivilDate("2025-12-25")!), open: 1, high: 1, low: 1, close: 1, volume: 1))
        #expect(holiday.candles.isEmpty)
    }

    @Test("the ring buffer keeps the newest candles; minute detail stays bounded; very late parts are ignored")
    func bounded() {
        var series = Self.series("1m", capacity: 3)
        for minute in 0..<200 {
            let start = Self.at(9, 30) + Int64(minute) * 60_000
            series.apply(Self.second(start + 1_000, open: 1, close: 2))
            series.apply(Self.minute(start, open: 1, high: 2, low: 1, close: 2, volume: 1))
        }
        #expect(series.candles.map(\.start) == [197, 198, 199].map { Self.at(9, 30) + $0 * 60_000 })
        #expect(series.detailMinutes <= 35, "\(series.detailMinutes)")
        series.apply(Self.minute(Self.at(9, 30), open: 9, high: 9, low: 9, close: 9, volume: 9))
        #expect(series.ignoredLate == 1)
    }

    @Test("a REST backfill: finished minutes are final, the running minute keeps taking later seconds")
    func restSeed() {
        let clock = ManualClock(wallNanoseconds: Self.at(10, 2, 30) * 1_000_000)
        var series = Self.series("5m")
        // The stream's corrected 10:00 bar arrived before the backfill answered: it wins.
        series.apply(Self.minute(Self.at(10, 0), open: 7, high: 8, low: 6, close: 7.5, volume: 100))
        series.seed(
            minutes: [
                Self.minute(Self.at(9, 58), open: 5, high: 6, low: 5, close: 6, volume: 10),
                Self.minute(Self.at(10, 0), open: 1, high: 1, low: 1, close: 1, volume: 1),
                Self.minute(Self.at(10, 1), open: 7.5, high: 7.7, low: 7.4, close: 7.6, volume: 20),
                // Running when fetched at 10:02:30: holds the seconds up to then.
                Self.minute(Self.at(10, 2), open: 7.6, high: 7.8, low: 7.5, close: 7.7, volume: 30),
            ], fetchedAt: clock.nowMilliseconds)
        #expect(series.candles.map(\.start) == [Self.at(9, 55), Self.at(10, 0)])
        #expect(series.candles[1].volume == 150 && series.candles[1].low == 6)
        clock.advance(byMilliseconds: 5_000)
        // A second from before the fetch is already inside the REST bar; one after it adds.
        series.apply(Self.second(Self.at(10, 2, 10), open: 7.6, close: 7.6, volume: 1_000))
        series.apply(Self.second(Self.at(10, 2, 31), open: 7.7, high: 9, close: 8, volume: 5))
        #expect(series.candles[1].volume == 155 && series.candles[1].high == 9 && series.candles[1].close == 8)
        // Then the AM for 10:02 settles the minute.
        series.apply(Self.minute(Self.at(10, 2), open: 7.6, high: 9, low: 7.5, close: 8, volume: 40))
        #expect(series.candles[1].volume == 160)
    }
}
