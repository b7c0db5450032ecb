import MarketCalendar
import MassiveWire
import PluginKit
import Testing

@Suite struct StreamFrameTests {
    let decoder = FrameDecoder()

    @Test func decodesAnOptionQuoteWithNanosecondTime() throws {
        let frame =
            #"[{"ev":"Q","sym":"O:SPY251219C00650000","bx":313,"ax":302,"bp":32.3,"ap":32.6,"bs":38,"as":45,"t":1765208712345,"q":1847203311}]"#
        let (events, issues) = decoder.decode(frame)
        #expect(issues.isEmpty)
        guard case .quote(let quote) = try #require(events.first) else {
            Issue.record("not a quote")
            return
        }
        #expect(quote.symbol == "O:SPY251219C00650000")
        #expect(quote.timestampNanoseconds == 1_765_208_712_345_000_000)
        #expect(quote.bidPrice == 32.3 && quote.askPrice == 32.6)
        #expect(quote.bidSize == 38 && quote.askSize == 45)
        #expect(quote.bidExchange == 313 && quote.askExchange == 302)
        #expect(quote.sequence == 1_847_203_311)
        #expect(quote.flags == 0)
    }

    @Test func stockQuoteSizesAreRoundLots() throws {
        let frame =
            #"[{"ev":"Q","sym":"AAPL","bx":11,"bp":277.41,"bs":2,"ax":19,"ap":277.43,"as":3,"c":0,"i":[604],"t":1765208712345,"q":55812093,"z":3}]"#
        let (events, issues) = decoder.decode(frame)
        #expect(issues.isEmpty)
        guard case .quote(let quote) = try #require(events.first) else {
            Issue.record("not a quote")
            return
        }
        #expect(quote.bidSize == 200 && quote.askSize == 300)
    }

    @Test func decodesTradesWithAndWithoutConditions() throws {
        let frame =
            #"[{"ev":"T","sym":"AAPL","x":4,"i":"52983525029461","z":3,"p":277.42,"s":100,"c":[14,41],"t":1765208711987,"q":4009402},{"ev":"T","sym":"O:SPY251219C00650000","x":312,"p":32.45,"s":3,"t":1765208709876,"q":1847199020}]"#
        let (events, issues) = decoder.decode(frame)
        #expect(issues.isEmpty)
        #expect(events.count == 2)
        guard case .trade(let stock) = events[0], case .trade(let option) = events[1] else {
            Issue.record("not trades")
            return
        }
        #expect(stock.conditions == [14, 41] && stock.tradeID == "52983525029461" && stock.size == 100)
        #expect(stock.timestampNanoseconds == 1_765_208_711_987_000_000)
        #expect(option.conditions.isEmpty && option.exchange == 312 && option.price == 32.45)
    }

    @Test func decodesAggregatesOfBothKinds() throws {
        let frame =
            #"[{"ev":"AM","sym":"O:SPY251219C00650000","v":42,"av":6120,"op":31.0,"vw":32.41,"o":32.3,"c":32.45,"h":32.6,"l":32.25,"a":32.04,"z":3,"s":1765208700000,"e":1765208760000},{"ev":"A","sym":"SPY","v":900,"o":1,"c":2,"h":3,"l":0.5,"s":1765208700000}]"#
        let (events, issues) = decoder.decode(frame)
        #expect(issues.isEmpty)
        guard case .aggregate(let minute) = events[0], case .aggregate(let second) = events[1] else {
            Issue.record("not aggregates")
            return
        }
        #expect(minute.timespan == .minute && minute.startMilliseconds == 1_765_208_700_000)
        #expect(minute.endMilliseconds == 1_765_208_760_000 && minute.close == 32.45 && minute.vwap == 32.41)
        #expect(second.timespan == .second && second.endMilliseconds == 1_765_208_701_000 && second.vwap.isNaN)
        #expect(events[0].channel == .aggMinute && events[1].channel == .aggSecond)
    }

    @Test func decodesStatusMessages() {
        let (events, issues) = decoder.decode(
            #"[{"ev":"status","status":"auth_failed","message":"authentication failed"}]"#)
        #expect(issues.isEmpty)
        #expect(events == [.status(StatusEvent(status: "auth_failed", message: "authentication failed"))])
    }

    @Test func shiftsTimestamps() throws {
        let shifted = FrameDecoder(shiftMilliseconds: 86_400_000)
        let (events, _) = shifted.decode(#"[{"ev":"T","sym":"X","p":1,"s":1,"t":1000}]"#)
        guard case .trade(let trade) = try #require(events.first) else {
            Issue.record("not a trade")
            return
        }
        #expect(trade.timestampNanoseconds == (1_000 + 86_400_000) * 1_000_000)
    }

    @Test func skipsBadElementsAndKeepsTheRest() {
        let frame =
            #"[{"ev":"Q","sym":"A","bp":"x","ap":1,"t":1},{"ev":"T","sym":"B","p":2,"s":1,"t":5},{"ev":"Q","sym":"C"},7,{"ev":"XQ","sym":"D"},{"sym":"E"}]"#
        let (events, issues) = decoder.decode(frame)
        #expect(events.count == 1)
        #expect(events.first?.symbol == "B")
        #expect(issues.map(\.element) == [0, 2, 3, 5])
    }

    /// Found by the frame fuzzer (Fuzz/Harnesses/MassiveFramesFuzz.swift): a microsecond-sized `t` wrapped
    /// around when converted to nanoseconds, and an aggregate start beyond Int64 trapped.
    @Test func timesOutOfRangeAreIssuesNotWrappedOrTrapped() {
        let frame =
            #"[{"ev":"Q","sym":"AAPL","bp":1,"ap":2,"t":1765208712812093},{"ev":"T","sym":"B","p":2,"s":1,"t":-9223372036854775807},"#
            + #"{"ev":"A","sym":"C","s":1e30,"o":1,"h":1,"l":1,"c":1},{"ev":"AM","sym":"D","s":1,"e":-9223372036854775807,"o":1,"h":1,"l":1,"c":1},"#
            + #"{"ev":"T","sym":"OK","p":2,"s":1,"t":1765208712812}]"#
        let (events, issues) = decoder.decode(frame)
        #expect(events.map(\.symbol) == ["OK"])
        #expect(issues.map(\.element) == [0, 1, 2, 3])
        #expect(issues.allSatisfy { $0.message.contains("out of range") }, "\(issues)")
        let shifted = FrameDecoder(shiftMilliseconds: Int64.max / 1_000_000)
        #expect(shifted.decode(#"[{"ev":"T","sym":"X","p":1,"s":1,"t":9223372036854}]"#).events.isEmpty)
    }

    @Test func malformedFramesAreIssuesNotTraps() {
        for text in ["", "{", "[", "[{\"ev\":\"T\"", "not json", "{\"ev\":\"T\"}", "[1,]", "[] x", "[\"\\u12\"]"] {
            let (events, issues) = decoder.decode(text)
            #expect(events.isEmpty, "\(text)")
            #expect(!issues.isEmpty, "\(text)")
        }
        // Deep nesting is refused, not recursed into without bound.
        let deep = "[" + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "]"
        #expect(!decoder.decode(deep).issues.isEmpty)
        #expect(decoder.decode("[]").issues.isEmpty)
    }

    @Test func numbersBeyondTheDoubleRangeFailTheirElementOnly() {
        // Found by the fuzz harness: 277e4252087119842 read as an infinite trade price.
        let (events, issues) = decoder.decode(
            #"[{"ev":"T","sym":"AB","p":277e4252087119842,"s":1,"t":1},{"ev":"T","sym":"CD","p":2.5,"s":1,"t":1}]"#)
        #expect(events.map(\.symbol) == ["CD"])
        #expect(issues == [FrameIssue(element: 0, message: "field p is not a finite number")])
    }

    @Test func nullOptionalFieldsAreTolerated() throws {
        let (events, issues) = decoder.decode(#"[{"ev":"T","sym":"AAPL","p":1.5,"s":10,"c":null,"x":null,"t":7}]"#)
        #expect(issues.isEmpty)
        guard case .trade(let trade) = try #require(events.first) else {
            Issue.record("not a trade")
            return
        }
        #expect(trade.exchange == -1 && trade.conditions.isEmpty)
    }

    @Test func encoderRoundTripsThroughTheDecoder() {
        var encoder = FrameEncoder()
        let quote = Quote(
            symbol: "O:QQQ260116P00480000", timestampNanoseconds: 1_765_208_712_345_000_000, bidPrice: 3.15,
            askPrice: 3.2, bidSize: 12, askSize: 30, bidExchange: 302, askExchange: 313, sequence: 9)
        let stockQuote = Quote(
            symbol: "SPY", timestampNanoseconds: 1_765_208_712_346_000_000, bidPrice: 601.01, askPrice: 601.02,
            bidSize: 300, askSize: 500, bidExchange: 11, askExchange: 19, sequence: 10)
        let trade = Trade(
            symbol: "SPY", timestampNanoseconds: 1_765_208_712_400_000_000, price: 601.015, size: 200, exchange: 4,
            conditions: [14], sequence: 11, tradeID: "77")
        let bar = Bar(
            symbol: "SPY", timespan: .minute, multiplier: 1, startMilliseconds: 1_765_208_700_000,
            endMilliseconds: 1_765_208_760_000, open: 600.5, high: 601.2, low: 600.4, close: 601.0, volume: 12_500,
            vwap: 600.87, source: "stream")
        encoder.append(quote)
        encoder.append(stockQuote)
        encoder.append(trade)
        encoder.append(
            bar, day: AggregateDayFields(accumulatedVolume: 1e6, dayOpen: 599, dayVWAP: 600, averageSize: 120))
        encoder.append(StatusEvent(status: "success", message: "subscribed to: Q.SPY"))
        let frame = encoder.take()
        #expect(encoder.isEmpty)
        let (events, issues) = decoder.decode(frame)
        #expect(issues.isEmpty)
        #expect(
            events == [
                .quote(quote), .quote(stockQuote), .trade(trade), .aggregate(bar),
                .status(StatusEvent(status: "success", message: "subscribed to: Q.SPY")),
            ])
    }
}

@Suite struct OptionTickerTests {
    @Test func parsesAndFormats() throws {
        let ticker = try #require(OptionTicker("O:SPY251219C00650000"))
        #expect(ticker.root == "SPY" && ticker.right == .call && ticker.strike == 650)
        #expect(ticker.expiration.description == "2025-12-19")
        #expect(ticker.description == "O:SPY251219C00650000")
        let small = try #require(OptionTicker("O:A220520P00004500"))
        #expect(small.root == "A" && small.strike == 4.5 && small.right == .put)
        #expect(try #require(OptionTicker("EVRI240119C00002500")).description == "O:EVRI240119C00002500")
        let built = OptionTicker(
            root: "SPXW", expiration: try #require(CivilDateFactory.make("2026-01-16")), right: .put, strike: 1234.5)
        #expect(built.description == "O:SPXW260116P01234500")
    }

    @Test func rejectsMalformed() {
        for text in [
            "", "O:", "O:SPY", "O:SPY251219X00650000", "O:SPY251319C00650000", "O:spy251219C00650000",
            "O:SPY25121C00650000", "O:TOOLONGROOT251219C00650000", "O:SPY251219C0065000a",
        ] {
            #expect(OptionTicker(text) == nil, "\(text)")
        }
    }
}

@Suite struct SymbolTableTests {
    @Test func internsAndFindsAcrossGrowth() {
        var table = SymbolTable()
        let symbols = (0..<5_000).map { "O:SPY251219C\(String(100_000 + $0))000" }
        let slots = symbols.map { table.intern($0) }
        #expect(slots == Array(0..<5_000))
        #expect(symbols.map { table.intern($0) } == slots)
        #expect(symbols.map { table.slot(of: $0) } == slots.map { Optional($0) })
        #expect(table.slot(of: "SPY") == nil && table.count == 5_000 && table.symbols[42] == symbols[42])
    }

    @Test func decoderSharesOneStringPerSymbol() {
        var table = SymbolTable()
        var slots: [Int] = []
        let frame = Array(
            #"[{"ev":"T","sym":"AAPL","p":1,"s":1,"t":1},{"ev":"T","sym":"MSFT","p":1,"s":1,"t":1},{"ev":"T","sym":"AAPL","p":2,"s":1,"t":2},{"ev":"status","status":"x","message":"y"}]"#
                .utf8)
        let issues = frame.withUnsafeBufferPointer {
            FrameDecoder().decode($0, symbols: &table) { _, slot in slots.append(slot) }
        }
        #expect(issues.isEmpty && slots == [0, 1, 0, -1] && table.symbols == ["AAPL", "MSFT"])
    }
}

@Suite struct FrameKeyMatchingTests {
    @Test func lookalikeMembersAreIgnored() throws {
        let frame =
            #"[{"ev":"T","tt":9,"pp":9,"symbol":"X","sym":"SPY","sy":"Z","p":1.5,"s":2,"ss":7,"t":3,"longer_than_eight":"x","q":4,"x":5}]"#
        let (events, issues) = FrameDecoder().decode(frame)
        #expect(issues.isEmpty)
        #expect(
            events == [
                .trade(
                    Trade(symbol: "SPY", timestampNanoseconds: 3_000_000, price: 1.5, size: 2, exchange: 5, sequence: 4)
                )
            ])
        let (unknown, none) = FrameDecoder().decode(#"[{"ev":"QQ","sym":"SPY"},{"ev":"statusx","sym":"SPY"}]"#)
        #expect(unknown.isEmpty && none.isEmpty)
        let (_, wrongType) = FrameDecoder().decode(#"[{"ev":5,"sym":"SPY"}]"#)
        #expect(wrongType.first?.message == "field ev is not a string")
    }
}
