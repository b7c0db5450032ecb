import MarketCalendar
import MarketSynth
import PluginAPI
import PluginKit
import ReplayEngine
import Synchronization
import Testing

/// `startAt`: a synthetic session of today starts where the day is; earlier data is history.
@Suite struct ReplayStartTests {
    static let date = CivilDate("2025-12-08")!
    /// 09:30–10:00 New York on Monday 2025-12-08 (EST, UTC-5).
    static let session = Result {
        try MarketSynth.generate(
            SynthConfiguration(underlyings: ["SPY"], date: date, seed: 5, startMinute: 570, endMinute: 600))
    }

    static func newYork(_ hour: Int, _ minute: Int, on date: CivilDate = date) -> Int64 {
        EasternTime.utcMilliseconds(date: date, hour: hour, minute: minute)
    }

    func parse(_ text: String) throws -> ReplayConfiguration {
        try ReplayConfiguration.parse(Array(text.utf8))
    }

    @Test func defaultsAndParsing() throws {
        #expect(try parse(#"{"source":"synthetic"}"#).startAt == .now, "a session of today in real time")
        #expect(try parse(#"{"source":"synthetic","date":"2025-12-08"}"#).startAt == .open)
        #expect(try parse(#"{"source":"synthetic","speed":20}"#).startAt == .open)
        #expect(try parse(#"{"source":"file","path":"x.jsonl"}"#).startAt == .open)
        #expect(try parse(#"{"startAt":"09:45","date":"2025-12-08"}"#).startAt == .time(minuteOfDay: 585))
        #expect(try parse(#"{"startAt":"open"}"#).startAt == .open)
        for bad in [#"{"startAt":"noon"}"#, #"{"startAt":"25:00"}"#, #"{"startAt":5}"#] {
            #expect {
                try parse(bad)
            } throws: { error in
                (error as? ConfigurationError)?.message.contains("startAt") == true
            }
        }
    }

    @Test func sessionDateFollowsTheWallClock() throws {
        let now = try parse(#"{"source":"synthetic"}"#)
        let friday = CivilDate("2025-12-05")!
        #expect(now.sessionDate(wallMilliseconds: Self.newYork(3, 0)) == friday, "before 04:00: the last session")
        #expect(now.sessionDate(wallMilliseconds: Self.newYork(10, 0)) == Self.date)
        #expect(now.sessionDate(wallMilliseconds: Self.newYork(22, 0)) == Self.date, "evening: today's session")
        let saturday = CivilDate("2025-12-13")!
        #expect(now.sessionDate(wallMilliseconds: Self.newYork(12, 0, on: saturday)) == CivilDate("2025-12-12")!)
        let open = try parse(#"{"source":"synthetic","speed":2}"#)
        #expect(open.sessionDate(wallMilliseconds: Self.newYork(3, 0)) == Self.date)
    }

    func engine(
        startAt: ReplayConfiguration.StartAt, wall: Int64
    ) throws -> (
        ReplayEngine, ManualScheduler, CollectingSink
    ) {
        var configuration = ReplayConfiguration()
        configuration.startAt = startAt
        configuration.date = Self.date
        let scheduler = ManualScheduler(wallMilliseconds: wall)
        let sink = CollectingSink()
        let engine = ReplayEngine(
            recording: try Self.session.get().recording, configuration: configuration, scheduler: scheduler,
            sink: sink, logger: quietLogger)
        return (engine, scheduler, sink)
    }

    @Test func startingNowMakesTheMorningHistory() throws {
        let wall = Self.newYork(9, 45)
        let (engine, scheduler, sink) = try engine(startAt: .now, wall: wall)
        try engine.subscribe(["SPY"], channels: [.trades, .aggMinute])
        engine.start()
        // History is there before anything streams: the last trade and the minute bars up to now.
        let last = try lookup(engine, LookupRequest(kind: UInt32(MH_REQUEST_LAST_TRADE), ticker: "SPY"))
        let lastTrade = try #require(last.trades.first)
        #expect(lastTrade.timestampNanoseconds / 1_000_000 < wall)
        #expect(lastTrade.timestampNanoseconds / 1_000_000 > wall - 60_000)
        let minutes = try lookup(
            engine, LookupRequest(kind: 1, ticker: "SPY", multiplier: 1, timespan: Timespan.minute.rawValue))
        #expect(minutes.bars.first?.startMilliseconds == Self.newYork(9, 30))
        #expect(minutes.bars.count == 15 || minutes.bars.count == 16, "\(minutes.bars.count) minute bars")
        #expect(minutes.bars.allSatisfy { $0.startMilliseconds <= wall })
        // The stream continues from now: nothing from before 09:45 is delivered again.
        scheduler.advance(by: 90_000_000_000)
        let trades = sink.trades.withLock { $0 }
        #expect(!trades.isEmpty)
        #expect(trades.allSatisfy { $0.timestampNanoseconds / 1_000_000 >= wall - 1_000 })
        let bars = sink.bars.withLock { $0 }
        #expect(bars.map(\.startMilliseconds) == [Self.newYork(9, 44), Self.newYork(9, 45)])
        let status = try JSONValue.parse(engine.statusJSON())
        #expect((status["positionMs"]?.int64 ?? 0) >= 15 * 60_000 + 85_000, "the replay moved on from 09:45")
    }

    @Test func anExplicitTimeOfDayStartsThere() throws {
        let (engine, scheduler, sink) = try engine(startAt: .time(minuteOfDay: 9 * 60 + 50), wall: Self.newYork(9, 30))
        try engine.subscribe(["SPY"], channels: [.aggMinute])
        engine.start()
        scheduler.advance(by: 61_000_000_000)
        // The 09:49 minute bar is published just after 09:50, so it is the first thing streamed.
        #expect(sink.bars.withLock { $0.map(\.startMilliseconds) } == [Self.newYork(9, 49), Self.newYork(9, 50)])
    }

    @Test func aSessionAlreadyOverStaysOverWithoutAFault() throws {
        let (engine, scheduler, sink) = try engine(startAt: .now, wall: Self.newYork(21, 0))
        try engine.subscribe(["SPY"], channels: [.quotes, .trades, .aggMinute])
        engine.start()
        scheduler.runUntilIdle()
        #expect(sink.quotes.withLock { $0.isEmpty } && sink.bars.withLock { $0.isEmpty })
        #expect(!sink.states.withLock { $0.contains { $0.kind == .degraded } }, "the market closing is no fault")
        #expect(engine.health().0 == mh_health_state(MH_HEALTH_OK))
        let minutes = try lookup(
            engine, LookupRequest(kind: 1, ticker: "SPY", multiplier: 1, timespan: Timespan.minute.rawValue))
        #expect(minutes.bars.count == 30)
        let status = try JSONValue.parse(
            try lookup(engine, LookupRequest(kind: UInt32(MH_REQUEST_MARKET_STATUS), ticker: "")).json)
        #expect(status["market"] == .string("closed"), "\(status.text)")
    }
}
