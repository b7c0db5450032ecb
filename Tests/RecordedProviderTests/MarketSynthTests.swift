import MarketCalendar
import MarketSynth
import MassiveWire
import PluginAPI
import PluginKit
import Recording
import ReplayEngine
import Synchronization
import Testing

@Suite struct MarketSynthTests {
    static let date = CivilDate("2025-12-08")!

    static func configuration(seed: UInt64 = 42, underlyings: [String] = ["SPY", "AAPL"]) -> SynthConfiguration {
        // A quarter hour after the open keeps debug-build tests quick; the CLI defaults to the whole day.
        SynthConfiguration(
            underlyings: underlyings, date: date, seed: seed, startMinute: 9 * 60 + 25, endMinute: 9 * 60 + 45)
    }

    static let session = Result { try MarketSynth.generate(configuration()) }

    func events(_ session: SynthSession, feed: String) -> [StreamEvent] {
        let decoder = FrameDecoder()
        return session.frames.filter { $0.feed == feed }.flatMap { decoder.decode($0.text).events }
    }

    @Test func sameSeedSameBytesOtherSeedOtherBytes() throws {
        let first = try Self.session.get()
        let second = try MarketSynth.generate(Self.configuration())
        #expect(first.frames.map(\.text) == second.frames.map(\.text))
        #expect(first.frames.map(\.atMilliseconds) == second.frames.map(\.atMilliseconds))
        #expect(first.exchanges == second.exchanges && first.header == second.header)
        let other = try MarketSynth.generate(Self.configuration(seed: 43))
        #expect(other.frames.map(\.text) != first.frames.map(\.text))
        // Adding an underlying leaves the others' streams unchanged.
        let more = try MarketSynth.generate(Self.configuration(underlyings: ["SPY", "AAPL", "QQQ"]))
        let spy = { (session: SynthSession) in self.events(session, feed: "stocks").filter { $0.symbol == "SPY" } }
        #expect(spy(more) == spy(first))
    }

    @Test func framesDecodeCleanlyAndArriveInOrder() throws {
        let session = try Self.session.get()
        let decoder = FrameDecoder()
        #expect(session.frames.count > 500)
        for frame in session.frames { #expect(decoder.decode(frame.text).issues.isEmpty) }
        #expect(zip(session.frames, session.frames.dropFirst()).allSatisfy { $0.atMilliseconds <= $1.atMilliseconds })
        #expect(session.frames.first!.atMilliseconds >= session.header.startMilliseconds)
    }

    @Test func underlyingsTradeAtRealisticLevelsInsideTheirQuotes() throws {
        let session = try Self.session.get()
        var quote: [String: Quote] = [:]
        var tradeCount = 0
        for event in events(session, feed: "stocks") {
            switch event {
            case .quote(let q):
                #expect(q.bidPrice < q.askPrice && q.bidSize >= 100)
                quote[q.symbol] = q
            case .trade(let t):
                let q = try #require(quote[t.symbol])
                #expect(t.price >= q.bidPrice && t.price <= q.askPrice)
                tradeCount += 1
            default: break
            }
        }
        #expect(tradeCount > 1_000)
        let spy = try #require(quote["SPY"])
        let aapl = try #require(quote["AAPL"])
        #expect(spy.bidPrice > 540 && spy.bidPrice < 660)
        #expect(aapl.bidPrice > 200 && aapl.bidPrice < 260)
    }

    @Test func minuteAggregatesAddUpToTheTrades() throws {
        let session = try Self.session.get()
        var volume: [Int64: Double] = [:]
        var bars: [Bar] = []
        for event in events(session, feed: "stocks") where event.symbol == "SPY" {
            if case .trade(let trade) = event {
                volume[trade.timestampNanoseconds / 60_000_000_000 * 60_000, default: 0] += trade.size
            }
            if case .aggregate(let bar) = event, bar.timespan == .minute { bars.append(bar) }
        }
        #expect(bars.count >= 19)
        for bar in bars {
            #expect(bar.volume == volume[bar.startMilliseconds])
            #expect(bar.low <= bar.open && bar.open <= bar.high && bar.low <= bar.close && bar.close <= bar.high)
        }
    }

    @Test func chainHasWeekliesMonthliesAndListedStrikeSpacing() throws {
        let session = try Self.session.get()
        let contracts = try #require(session.contracts["SPY"])
        let expirations = Set(contracts.map(\.expiration)).sorted()
        // Fridays 12-12, 12-19 (also the monthly), 12-26, 01-02; monthlies 12-19, 01-16, 02-20.
        #expect(expirations == ["2025-12-12", "2025-12-19", "2025-12-26", "2026-01-02", "2026-01-16", "2026-02-20"])
        let weekly = contracts.filter { $0.expiration == "2025-12-12" && $0.right == .call }.map(\.strike)
        let gaps = zip(weekly, weekly.dropFirst()).map { $1 - $0 }
        #expect(gaps.min() == 1 && gaps.max() == 5)
        let monthly = contracts.filter { $0.expiration == "2026-01-16" && $0.right == .put }.map(\.strike)
        #expect((monthly.last ?? 0) - (monthly.first ?? 0) > (weekly.last ?? 0) - (weekly.first ?? 0))
    }

    @Test func optionQuotesFollowTheSmileAndWidenAwayFromTheMoney() throws {
        let session = try Self.session.get()
        var lastQuote: [String: Quote] = [:]
        var spot = 0.0
        var near: [Double] = []
        var far: [Double] = []
        for event in events(session, feed: "stocks") {
            if case .trade(let trade) = event, trade.symbol == "SPY" { spot = trade.price }
        }
        for event in events(session, feed: "options") {
            switch event {
            case .quote(let q):
                #expect(q.bidPrice <= q.askPrice && q.bidPrice >= 0)
                lastQuote[q.symbol] = q
            case .trade(let t):
                let q = try #require(lastQuote[t.symbol])
                #expect(t.price >= q.bidPrice && t.price <= q.askPrice)
            default: break
            }
        }
        for (symbol, q) in lastQuote where symbol.hasPrefix("O:SPY251219") && q.bidPrice > 0.5 {
            let strike = try #require(OptionTicker(symbol)).strike
            let relative = (q.askPrice - q.bidPrice) / ((q.askPrice + q.bidPrice) / 2)
            if abs(strike / spot - 1) < 0.01 {
                near.append(relative)
            } else if abs(strike / spot - 1) > 0.04 {
                far.append(relative)
            }
        }
        #expect(!near.isEmpty && !far.isEmpty)
        let nearMean: Double = near.reduce(0, +) / Double(near.count)
        let farMean: Double = far.reduce(0, +) / Double(far.count)
        #expect(nearMean < farMean)
        // Put skew: the OTM put's implied volatility in the snapshot exceeds the equally OTM call's.
        let chain = try #require(session.exchanges.first { $0.path == "/v3/snapshot/options/SPY" })
        let document = try MassiveREST.chainSnapshot(chain.body, underlying: "SPY").document
        let price = try #require(document.underlyingPrice)
        let monthly = document.contracts.filter { $0.expiration == "2026-01-16" }
        let put = try #require(monthly.filter { $0.right == .put && $0.strike < price * 0.93 }.last)
        let call = try #require(monthly.filter { $0.right == .call && $0.strike > price * 1.07 }.first)
        #expect((put.impliedVolatility ?? 0) > (call.impliedVolatility ?? 1))
        #expect(BlackScholes.values(call: true, spot: 100, strike: 100, years: 1, volatility: 0.2, rate: 0).price > 7.9)
    }

    @Test func restAnswersReplayThroughTheEngine() throws {
        let session = try Self.session.get()
        var configuration = ReplayConfiguration()
        configuration.speed = 0
        let scheduler = ManualScheduler(wallMilliseconds: session.header.startMilliseconds)
        let sink = CollectingSink()
        let engine = ReplayEngine(
            recording: session.recording, configuration: configuration, scheduler: scheduler, sink: sink,
            logger: quietLogger)
        try engine.subscribe(["SPY"], channels: [.quotes, .aggMinute])
        engine.start()
        scheduler.runUntilIdle()
        let streamedQuotes = sink.quotes.withLock { $0.count }
        let streamedMinutes = sink.bars.withLock { $0.filter { $0.timespan == .minute }.count }
        #expect(streamedQuotes > 0 && streamedMinutes > 0)
        let daily = try lookup(
            engine,
            LookupRequest(
                kind: UInt32(MH_REQUEST_AGGREGATES), ticker: "SPY", multiplier: 1, timespan: Timespan.day.rawValue))
        #expect(daily.bars.count == 253)
        let weekdays = daily.bars.map { EasternTime.local(atUTC: $0.startMilliseconds).date.weekday }
        #expect(weekdays.allSatisfy { $0 <= 5 })
        let minutes = try lookup(
            engine, LookupRequest(kind: 1, ticker: "SPY", multiplier: 1, timespan: Timespan.minute.rawValue))
        #expect(minutes.bars.count == streamedMinutes)
        let chain = try JSONValue.parse(
            try lookup(
                engine,
                LookupRequest(kind: 2, ticker: "AAPL", params: try JSONValue.parse(#"{"expiration":"2025-12-12"}"#))
            ).json)
        #expect((chain["contracts"]?.array?.count ?? 0) > 20)
        let expirations = try lookup(engine, LookupRequest(kind: UInt32(MH_REQUEST_EXPIRATIONS), ticker: "SPY"))
        #expect(
            String(decoding: expirations.json, as: UTF8.self).hasPrefix(#"{"expirations":["2025-12-12","2025-12-19""#))
        let watch = try JSONValue.parse(
            try lookup(
                engine, LookupRequest(kind: 10, ticker: "", params: try JSONValue.parse(#"{"tickers":["SPY","AAPL"]}"#))
            ).json)
        #expect(watch["tickers"]?.array?.count == 2 && watch["tickers"]?.array?.first?["prevClose"]?.double != nil)
    }

    @Test func refusesWhatItCannotGenerate() {
        #expect(throws: SynthError.self) {
            try MarketSynth.generate(SynthConfiguration(underlyings: ["SPY"], date: CivilDate("2025-12-25")!, seed: 1))
        }
        #expect(throws: SynthError.self) {
            try MarketSynth.generate(SynthConfiguration(underlyings: ["spy"], date: Self.date, seed: 1))
        }
        #expect(throws: SynthError.self) {
            try MarketSynth.generate(SynthConfiguration(underlyings: [], date: Self.date, seed: 1))
        }
        #expect(throws: SynthError.self) {
            try MarketSynth.generate(
                SynthConfiguration(underlyings: ["SPY"], date: Self.date, seed: 1, startMinute: 600, endMinute: 500))
        }
    }
}

@Suite struct OptionHistoryTests {
    @Test func nearTheMoneyContractsHaveDailyBarsEndingWithTodaysTrades() throws {
        let session = try MarketSynthTests.session.get()
        var configuration = ReplayConfiguration()
        configuration.speed = 0
        let scheduler = ManualScheduler(wallMilliseconds: session.header.startMilliseconds)
        let engine = ReplayEngine(
            recording: session.recording, configuration: configuration, scheduler: scheduler, sink: CollectingSink(),
            logger: quietLogger)
        engine.start()
        scheduler.runUntilIdle()
        let optionBars = session.exchanges.filter { $0.path.hasPrefix("/v2/aggs/ticker/O:SPY") }
        #expect(optionBars.count > 50)
        // A front-month monthly near the money: 20 sessions of history, all on weekdays, ending today.
        let monthly = try #require(optionBars.first { $0.path.contains("O:SPY251219C") })
        let ticker = String(monthly.path.split(separator: "/")[3])
        let daily = try lookup(
            engine,
            LookupRequest(
                kind: UInt32(MH_REQUEST_AGGREGATES), ticker: ticker, multiplier: 1, timespan: Timespan.day.rawValue))
        #expect(daily.bars.count >= 20)
        #expect(
            daily.bars.allSatisfy {
                $0.low <= $0.open && $0.open <= $0.high && $0.low <= $0.close && $0.close <= $0.high
            })
        #expect(daily.bars.allSatisfy { EasternTime.local(atUTC: $0.startMilliseconds).date.weekday <= 5 })
        // Weeklies only go back to their listing, five weeks before expiry.
        let weekly = try #require(optionBars.first { $0.path.contains("O:SPY251212") })
        let weeklyTicker = String(weekly.path.split(separator: "/")[3])
        let weeklyBars = try lookup(
            engine, LookupRequest(kind: 1, ticker: weeklyTicker, multiplier: 1, timespan: Timespan.day.rawValue)
        ).bars
        #expect(
            weeklyBars.allSatisfy { EasternTime.local(atUTC: $0.startMilliseconds).date >= CivilDate("2025-11-07")! })
    }
}
