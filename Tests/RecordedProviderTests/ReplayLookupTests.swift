import Foundation
import MarketCalendar
import MassiveWire
import PluginAPI
import PluginKit
import Recording
import ReplayEngine
import Synchronization
import Testing

@Suite struct ReplayLookupTests {
    let option = SampleRecording.option
    let open = SampleRecording.open

    func started(
        speed: Double = 1, timeShift: ReplayConfiguration.Shift = .none, wall: Int64 = SampleRecording.open
    )
        throws -> (ReplayEngine, ManualScheduler)
    {
        let (engine, scheduler, _) = makeEngine(
            try SampleRecording.recording(), speed: speed, timeShift: timeShift, wallMilliseconds: wall)
        engine.start()
        return (engine, scheduler)
    }

    func document(_ result: OperationResult) throws -> JSONValue { try JSONValue.parse(result.json) }

    @Test func dailyBarsUpToTheReplayClock() throws {
        let (engine, _) = try started()
        let result = try lookup(
            engine,
            LookupRequest(
                kind: UInt32(MH_REQUEST_AGGREGATES), ticker: "SPY", multiplier: 1, timespan: Timespan.day.rawValue))
        #expect(result.isOK)
        #expect(result.bars.map(\.close) == [598, 599, 601])
        #expect(
            result.bars.map(\.startMilliseconds)
                == ["2025-12-04", "2025-12-05", "2025-12-08"].map { EasternTime.midnight(of: CivilDate($0)!) })
        let window = try lookup(
            engine,
            LookupRequest(
                kind: UInt32(MH_REQUEST_AGGREGATES), ticker: "SPY", multiplier: 1, timespan: Timespan.day.rawValue,
                fromMilliseconds: EasternTime.midnight(of: CivilDate("2025-12-05")!), limit: 1))
        #expect(window.bars.map(\.close) == [599])
        let twoDay = try lookup(
            engine,
            LookupRequest(
                kind: UInt32(MH_REQUEST_AGGREGATES), ticker: "SPY", multiplier: 2, timespan: Timespan.day.rawValue))
        #expect(
            twoDay.bars.count == 2 && twoDay.bars[0].volume == 2_000 && twoDay.bars[0].high == 600
                && twoDay.bars[0].low == 596)
    }

    @Test func minuteBarsFollowTheReplayAndFold() throws {
        let (engine, scheduler) = try started()
        let minute = LookupRequest(
            kind: UInt32(MH_REQUEST_AGGREGATES), ticker: "SPY", multiplier: 1, timespan: Timespan.minute.rawValue)
        #expect(try lookup(engine, minute).bars.count == 1)
        try engine.seek(toOffset: 10_000)
        scheduler.advance(by: 0)
        // The recording ends ten seconds in: later minutes are still in the future.
        #expect(try lookup(engine, minute).bars.count == 1)
        var five = minute
        five.multiplier = 5
        let folded = try lookup(engine, five).bars
        #expect(
            folded.count == 1 && folded[0].multiplier == 5
                && folded[0].endMilliseconds == folded[0].startMilliseconds + 300_000)
        let unknown = try lookup(
            engine, LookupRequest(kind: UInt32(MH_REQUEST_AGGREGATES), ticker: "ZZZZ", multiplier: 1, timespan: 2))
        #expect(unknown.status == mh_status(MH_NOT_FOUND))
        let badSpan = try lookup(
            engine, LookupRequest(kind: UInt32(MH_REQUEST_AGGREGATES), ticker: "SPY", multiplier: 1, timespan: 99))
        #expect(badSpan.status == mh_status(MH_INVALID))
        let noMonths = try lookup(
            engine,
            LookupRequest(
                kind: UInt32(MH_REQUEST_AGGREGATES), ticker: "SPY", multiplier: 1, timespan: Timespan.month.rawValue))
        #expect(noMonths.isOK && noMonths.bars.isEmpty)
    }

    @Test func chainSnapshotOverlaysTheStream() throws {
        let (engine, scheduler) = try started(speed: 0)
        let request = LookupRequest(kind: UInt32(MH_REQUEST_CHAIN_SNAPSHOT), ticker: "SPY")
        let before = try document(try lookup(engine, request))
        #expect(before["underlyingPrice"]?.double == 600)
        #expect(before["contracts"]?.array?.count == 2)
        scheduler.runUntilIdle()
        let after = try document(try lookup(engine, request))
        let call = try #require(after["contracts"]?.array?.first { $0["ticker"]?.string == option })
        // The last streamed quote (second 9) replaces the snapshot's.
        #expect(abs((call["bid"]?.double ?? 0) - 10.45) < 1e-9 && abs((call["ask"]?.double ?? 0) - 10.65) < 1e-9)
        #expect(call["bidSize"]?.double == 10)
        #expect(after["underlyingPrice"]?.double == 600.9)
        // Its volatility and Greeks are worked out again for that quote, the underlying's last price and the time
        // left (not the snapshot's delta of 0.4): the volatility reprices the midpoint, the delta is N(d1).
        let sigma = try #require(call["iv"]?.double)
        let years =
            Double(EasternTime.utcMilliseconds(date: CivilDate("2025-12-19")!, hour: 16) - open - 10_001)
            / (365 * 86_400_000)
        let (spot, strike, rate) = (600.9, 650.0, 0.04)
        let d1 = (log(spot / strike) + (rate + sigma * sigma / 2) * years) / (sigma * years.squareRoot())
        let d2 = d1 - sigma * years.squareRoot()
        func normal(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
        let price = spot * normal(d1) - strike * exp(-rate * years) * normal(d2)
        // Both are rounded to four places, as the vendor's are.
        #expect(abs(price - 10.55) < 0.01, "iv \(sigma) prices the call at \(price)")
        #expect(abs((call["delta"]?.double ?? 0) - normal(d1)) < 1e-3 && call["delta"]?.double != 0.4)
        // The put has no streamed quote and the recording gave it no Greeks: it stays without them.
        let put = try #require(after["contracts"]?.array?.first { $0["type"]?.string == "put" })
        #expect(put["delta"]?.isNull == true && put["iv"]?.isNull == true)
        let puts = try document(
            try lookup(
                engine, LookupRequest(kind: 2, ticker: "SPY", params: try JSONValue.parse(#"{"contractType":"put"}"#))))
        #expect(puts["contracts"]?.array?.map { $0["strike"]?.double } == [590])
        let strikes = try document(
            try lookup(
                engine, LookupRequest(kind: 2, ticker: "SPY", params: try JSONValue.parse(#"{"strikeMin":600}"#))))
        #expect(strikes["contracts"]?.array?.count == 1)
        let limited = try document(try lookup(engine, LookupRequest(kind: 2, ticker: "SPY", limit: 1)))
        #expect(limited["contracts"]?.array?.count == 1)
        #expect(try lookup(engine, LookupRequest(kind: 2, ticker: "IWM")).status == mh_status(MH_NOT_FOUND))
        let entitled = try lookup(engine, LookupRequest(kind: 2, ticker: "QQQ"))
        #expect(
            entitled.status == mh_status(MH_NOT_ENTITLED) && entitled.message == "You are not entitled to this data.")
        let bad = try lookup(
            engine, LookupRequest(kind: 2, ticker: "SPY", params: try JSONValue.parse(#"{"expiration":"soon"}"#)))
        #expect(bad.status == mh_status(MH_INVALID))
    }

    @Test func contractSnapshotContractsAndExpirations() throws {
        let (engine, _) = try started()
        let snapshot = try document(
            try lookup(engine, LookupRequest(kind: UInt32(MH_REQUEST_CONTRACT_SNAPSHOT), ticker: option)))
        #expect(snapshot["underlying"]?.string == "SPY" && snapshot["contract"]?["strike"]?.double == 650)
        #expect(
            try lookup(engine, LookupRequest(kind: 3, ticker: "O:SPY251219C00999000")).status == mh_status(MH_NOT_FOUND)
        )
        #expect(try lookup(engine, LookupRequest(kind: 3, ticker: "SPY")).status == mh_status(MH_INVALID))
        let contracts = try document(
            try lookup(engine, LookupRequest(kind: UInt32(MH_REQUEST_CONTRACTS), ticker: "SPY")))
        #expect(contracts["contracts"]?.array?.map { $0["ticker"]?.string } == ["O:SPY251219P00590000", option])
        let expirations = try lookup(engine, LookupRequest(kind: UInt32(MH_REQUEST_EXPIRATIONS), ticker: "SPY"))
        #expect(String(decoding: expirations.json, as: UTF8.self) == #"{"expirations":["2025-12-19"]}"#)
    }

    @Test func quotesTradesAndLastTradeComeFromTheStreamSoFar() throws {
        let (engine, scheduler) = try started()
        #expect(
            try lookup(engine, LookupRequest(kind: UInt32(MH_REQUEST_LAST_TRADE), ticker: "SPY")).status
                == mh_status(MH_NOT_FOUND))
        scheduler.advance(by: 3_500_000_000)
        let last = try lookup(engine, LookupRequest(kind: UInt32(MH_REQUEST_LAST_TRADE), ticker: "SPY"))
        #expect(last.trades.map(\.price) == [600.3])
        let quotes = try lookup(engine, LookupRequest(kind: UInt32(MH_REQUEST_QUOTES), ticker: "SPY", limit: 2))
        #expect(quotes.quotes.map(\.sequence) == [4, 3])
        let window = try lookup(
            engine,
            LookupRequest(
                kind: UInt32(MH_REQUEST_TRADES), ticker: "SPY", fromMilliseconds: open + 1_000,
                toMilliseconds: open + 2_000))
        #expect(window.trades.map(\.sequence) == [2])
        #expect(try lookup(engine, LookupRequest(kind: 6, ticker: "NOPE")).status == mh_status(MH_NOT_FOUND))
        #expect(try lookup(engine, LookupRequest(kind: 6, ticker: option)).quotes.count == 4)
    }

    @Test func marketStatusFollowsTheReplayClock() throws {
        // 09:29:55 New York: the last five seconds of the pre-market, then the open.
        var text = SampleRecording.text()
        text = text.replacingFirst(#""start":\#(open)"#, with: #""start":\#(open - 5_000)"#)
            .replacingFirst(#""clockOrigin":\#(open)"#, with: #""clockOrigin":\#(open - 5_000)"#)
        let recording = try RecordingReader.read(Array(text.utf8))
        let (engine, scheduler, _) = makeEngine(recording)
        engine.start()
        let request = LookupRequest(kind: UInt32(MH_REQUEST_MARKET_STATUS), ticker: "")
        let pre = try document(try lookup(engine, request))
        #expect(pre["market"]?.string == "extended-hours" && pre["earlyHours"]?.bool == true)
        #expect(pre["serverTime"]?.string == "2025-12-08T09:29:55-05:00")
        scheduler.advance(by: 6_000_000_000)
        let open = try document(try lookup(engine, request))
        #expect(open["market"]?.string == "open" && open["exchanges"]?["nyse"]?.string == "open")
    }

    @Test func tickerSnapshotsUsePreviousCloseAndTheStream() throws {
        let (engine, scheduler) = try started()
        scheduler.advance(by: 2_500_000_000)
        let result = try document(
            try lookup(
                engine,
                LookupRequest(
                    kind: UInt32(MH_REQUEST_TICKER_SNAPSHOTS), ticker: "",
                    params: try JSONValue.parse(#"{"tickers":["SPY","NOPE"]}"#))))
        let entries = try #require(result["tickers"]?.array)
        #expect(entries.count == 1)
        #expect(entries[0]["last"]?.double == 600.2 && entries[0]["prevClose"]?.double == 599)
        #expect(entries[0]["volume"]?.double == 300)
        #expect(try lookup(engine, LookupRequest(kind: 10, ticker: "")).status == mh_status(MH_INVALID))
        #expect(throws: PluginError.self) { try engine.request(LookupRequest(kind: 42, ticker: "")) { _ in } }
    }

    @Test func recordedTickerSnapshotsAnswerTheWatchlist() throws {
        // AAPL appears only in a recorded watchlist snapshot: no stream, no daily bars.
        let snapshot =
            #"{"status":"OK","count":1,"tickers":[{"ticker":"AAPL","day":{"c":231.5,"v":5100000},"#
            + #""lastTrade":{"p":231.75},"prevDay":{"c":229.25},"updated":1765204200000000000}]}"#
        let line = RecordingLines.rest(
            RESTExchange(
                atMilliseconds: open, path: "/v2/snapshot/locale/us/markets/stocks/tickers", query: "tickers=AAPL",
                body: Array(snapshot.utf8)))
        let (engine, _, _) = makeEngine(
            try SampleRecording.recording(extraLines: [line.trimmingCharacters(in: .newlines)]))
        engine.start()
        let result = try document(
            try lookup(
                engine,
                LookupRequest(
                    kind: UInt32(MH_REQUEST_TICKER_SNAPSHOTS), ticker: "",
                    params: try JSONValue.parse(#"{"tickers":["AAPL"]}"#))))
        let entry = try #require(result["tickers"]?.array?.first)
        #expect(entry["ticker"]?.string == "AAPL")
        #expect(entry["last"]?.double == 231.75 && entry["prevClose"]?.double == 229.25)
        #expect(entry["change"]?.double == 2.5 && entry["volume"]?.double == 5_100_000)
    }

    @Test func timeShiftPlaysTheSessionAsToday() throws {
        // The host clock says Wednesday 2025-12-10; the Monday 2025-12-08 session plays as that day.
        let wednesday = EasternTime.utcMilliseconds(date: CivilDate("2025-12-10")!, hour: 12)
        let (engine, scheduler, sink) = makeEngine(
            try SampleRecording.recording(), speed: 0, timeShift: .today, wallMilliseconds: wednesday)
        try engine.subscribe(["SPY"], channels: .quotes)
        engine.start()
        scheduler.runUntilIdle()
        let first = try #require(sink.quotes.withLock { $0.first })
        #expect(first.timestampNanoseconds == (open + 2 * 86_400_000) * 1_000_000)
        let daily = try lookup(
            engine, LookupRequest(kind: 1, ticker: "SPY", multiplier: 1, timespan: Timespan.day.rawValue))
        // Daily history moves by trading days: Thu 12-04 -> Mon 12-08, Fri 12-05 -> Tue 12-09, Mon 12-08 -> Wed 12-10.
        #expect(
            daily.bars.map(\.startMilliseconds)
                == ["2025-12-08", "2025-12-09", "2025-12-10"].map { EasternTime.midnight(of: CivilDate($0)!) })
        let status = try JSONValue.parse(engine.statusJSON())
        #expect(status["replayTimeMs"]?.int64 == open + 2 * 86_400_000 + 10_001)
    }

    @Test func damagedRecordingsStillReplay() throws {
        var text = SampleRecording.text()
        let lines = text.split(separator: "\n").map(String.init)
        var damaged = lines
        damaged.insert("{broken", at: 3)
        text = damaged.joined(separator: "\n")
        text = String(text.dropLast(40))
        let recording = try RecordingReader.read(Array(text.utf8))
        #expect(recording.truncated && recording.issues.count == 2)
        let (engine, scheduler, sink) = makeEngine(recording, speed: 0)
        try engine.subscribe(["SPY"], channels: .trades)
        engine.start()
        scheduler.runUntilIdle()
        #expect(sink.trades.withLock { $0.count } == 10)
        #expect(engine.health().0 == mh_health_state(MH_HEALTH_DEGRADED))
        #expect(engine.statusJSON().contains(#""truncated":true"#))
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
