import MassiveWire
import PluginAPI
import PluginKit
import Testing

@Suite struct RESTDecodingTests {
    @Test func aggregatesFromTheVendorFixture() throws {
        let page = try MassiveREST.aggregates(
            try Fixture.bytes("aggs-AAPL-1-day-2005-04-01-2005-04-04.json"), multiplier: 1, timespan: .day)
        #expect(page.values.count == 2 && page.skipped == 0 && page.nextURL == nil)
        let first = page.values[0]
        #expect(first.symbol == "AAPL" && first.startMilliseconds == 1_112_331_600_000)
        #expect(first.open == 1.5032 && first.high == 1.5064 && first.low == 1.4489 && first.close == 1.4604)
        #expect(first.volume == 642_646_396 && first.vwap == 1.469 && first.transactions == 82_132)
        #expect(first.timespan == .day && first.multiplier == 1 && first.source == "massive")
    }

    @Test func previousDayCarriesItsOwnTicker() throws {
        let page = try MassiveREST.aggregates(try Fixture.bytes("aggs-AAPL-prev.json"))
        #expect(page.values.map(\.symbol) == ["AAPL"])
        #expect(page.values[0].close == 156.8)
    }

    @Test func emptyWindowHasNoResultsKey() throws {
        let body = Array(#"{"ticker":"SPY","queryCount":0,"resultsCount":0,"adjusted":true,"status":"OK"}"#.utf8)
        #expect(try MassiveREST.aggregates(body).values.isEmpty)
    }

    @Test func minuteBarsGetAnEnd() throws {
        let body = Array(#"{"ticker":"SPY","results":[{"o":1,"h":2,"l":0.5,"c":1.5,"v":10,"t":60000},{"o":1}]}"#.utf8)
        let page = try MassiveREST.aggregates(body, multiplier: 5, timespan: .minute)
        #expect(page.values.first?.endMilliseconds == 360_000)
        #expect(page.values.first?.vwap.isNaN == true && page.values.first?.transactions == -1)
        #expect(page.skipped == 1)
    }

    @Test func chainSnapshotToTheNormalizedDocument() throws {
        let (document, next, skipped) = try MassiveREST.chainSnapshot(
            try Fixture.bytes("snapshot-options-chain-AAPL.json"), underlying: "AAPL")
        #expect(next == nil && skipped == 0)
        #expect(document.underlying == "AAPL" && document.underlyingPrice == 159.9606)
        let contract = try #require(document.contracts.first)
        #expect(contract.ticker == "O:AAPL230616C00150000" && contract.right == .call && contract.strike == 150)
        #expect(contract.expiration == "2023-06-16" && contract.bid == 28.9 && contract.ask == 29.25)
        #expect(contract.bidSize == 294 && contract.askSize == 209 && contract.last == 29.25)
        #expect(contract.volume == 8 && contract.openInterest == 8_133)
        #expect(contract.impliedVolatility == 0.3570277203465058 && contract.delta == 0.6436614934293701)
        // The newest of the nanosecond stamps (the trade's), in milliseconds.
        #expect(contract.updatedMilliseconds == 1_678_718_527_714)
        let text = document.json.text
        #expect(
            text.hasPrefix(
                #"{"underlying":"AAPL","underlyingPrice":159.9606,"contracts":[{"ticker":"O:AAPL230616C00150000","type":"call","strike":150,"#
            ))
    }

    @Test func contractSnapshotFromTheVendorFixture() throws {
        let document = try MassiveREST.contractSnapshot(
            try Fixture.bytes("snapshot-option-contract-O-AAPL230616C00150000.json"))
        #expect(document.underlying == "AAPL" && document.contract.gamma == 0.0061735291012820675)
        #expect(document.contract.theta == -0.028227189324641973 && document.contract.vega == 0.6381159723175714)
    }

    @Test func missingGreeksQuoteAndTradeAreUnknownNotErrors() throws {
        let body = Array(
            #"{"status":"OK","results":[{"break_even_price":1,"open_interest":5,"day":{"close":2.5,"volume":3},"details":{"contract_type":"put","exercise_style":"american","expiration_date":"2026-01-16","shares_per_contract":100,"strike_price":480,"ticker":"O:QQQ260116P00480000"},"underlying_asset":{"ticker":"QQQ","price":500.5}},{"details":{"ticker":"broken"}}]}"#
                .utf8)
        let (document, _, skipped) = try MassiveREST.chainSnapshot(body, underlying: "QQQ")
        #expect(skipped == 1)
        let contract = try #require(document.contracts.first)
        #expect(contract.delta == nil && contract.bid == nil && contract.ask == nil && contract.last == 2.5)
        #expect(contract.json["delta"] == .null && contract.json["bid"] == .null)
        #expect(OptionContract(json: contract.json) == contract)
    }

    @Test func contractsReferencePagesAndSingle() throws {
        let page1 = try MassiveREST.contracts(try Fixture.bytes("options-contracts-page1.json"))
        let page2 = try MassiveREST.contracts(try Fixture.bytes("options-contracts-page2.json"))
        #expect(page1.values.count == 10 && page2.values.count == 10)
        #expect(page1.nextURL?.hasPrefix("https://api.massive.com/v3/reference/options/contracts?cursor=") == true)
        #expect(page2.nextURL == nil)
        #expect(
            page1.values[0]
                == ContractReference(
                    ticker: "O:A220520C00065000", underlying: "A", right: .call, strike: 65, expiration: "2022-05-20"))
        let all = page1.values + page2.values
        #expect(ContractReference.expirationsDocument(all).text == #"{"expirations":["2022-05-20"]}"#)
        let single = try MassiveREST.contracts(try Fixture.bytes("options-contract-OEVRI240119C00002500.json"))
        #expect(single.values.map(\.strike) == [2.5] && single.values.first?.underlying == "EVRI")
    }

    @Test func quotesKeepNanosecondsAcrossPages() throws {
        let page1 = try MassiveREST.quotes(try Fixture.bytes("quotes-AAPL-page1.json"), ticker: "AAPL")
        let page2 = try MassiveREST.quotes(try Fixture.bytes("quotes-AAPL-page2.json"), ticker: "AAPL")
        #expect(page1.values.count == 10 && page2.values.count == 10 && page1.nextURL != nil && page2.nextURL == nil)
        #expect(page1.values[0].timestampNanoseconds == 1_652_191_872_800_638_700)
        #expect(page2.values[0].timestampNanoseconds == 1_652_191_872_690_386_918)
        #expect(
            page1.values[0].bidPrice == 155.85 && page1.values[0].askSize == 3 && page1.values[0].sequence == 19_288_684
        )
        // Newest first, as the vendor sends them.
        let all = page1.values + page2.values
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.timestampNanoseconds >= $1.timestampNanoseconds })
    }

    @Test func tradesAndLastTrade() throws {
        let trades = try MassiveREST.trades(try Fixture.bytes("trades-AAPL-limit2.json"), ticker: "AAPL")
        #expect(trades.values.map(\.price) == [156.43, 157.43])
        #expect(trades.values[0].conditions == [12, 37] && trades.values[0].tradeID == "183276")
        #expect(trades.values[0].timestampNanoseconds == 1_651_181_822_461_979_400)
        let last = try MassiveREST.lastTrade(try Fixture.bytes("last-trade-AAPL.json"))
        #expect(last.symbol == "AAPL" && last.price == 166.25 && last.size == 2 && last.exchange == 4)
        #expect(last.timestampNanoseconds == 1_651_179_319_310_617_300 && last.tradeID == "237688")
    }

    @Test func lastQuoteUsesRoundLots() throws {
        let quote = try MassiveREST.lastQuote(try Fixture.bytes("last-nbbo-AAPL.json"))
        #expect(quote.bidPrice == 155.65 && quote.askPrice == 155.66 && quote.bidSize == 100 && quote.askSize == 1_400)
        #expect(quote.bidExchange == 19 && quote.askExchange == 11)
    }

    @Test func marketStatusNormalized() throws {
        let status = try MassiveREST.marketStatus(try Fixture.bytes("marketstatus-now.json"))
        #expect(status.market == "extended-hours" && status.afterHours && !status.earlyHours)
        #expect(status.serverTime == "2022-04-28T16:48:08-04:00")
        #expect(
            status.json.text
                == #"{"market":"extended-hours","earlyHours":false,"afterHours":true,"serverTime":"2022-04-28T16:48:08-04:00","exchanges":{"nyse":"extended-hours","nasdaq":"extended-hours","otc":"extended-hours"}}"#
        )
    }

    @Test func stockSnapshotsListAndSingle() throws {
        let list = try MassiveREST.tickerSnapshots(try Fixture.bytes("snapshot-stocks-tickers.json"))
        #expect(list.values.count == 1)
        let bcat = list.values[0]
        #expect(bcat.ticker == "BCAT" && bcat.last == 20.506 && bcat.previousClose == 20.63)
        #expect(bcat.change == -0.124 && bcat.changePercent == -0.601 && bcat.volume == 37_216)
        #expect(bcat.updatedMilliseconds == 1_605_192_894_630)
        let single = try MassiveREST.tickerSnapshots(try Fixture.bytes("snapshot-stocks-ticker-AAPL.json"))
        #expect(single.values.first?.ticker == "AAPL" && single.values.first?.last == 159.99)
    }

    @Test func bothErrorShapesAndPlainText() {
        let rate = MassiveREST.error(
            httpStatus: 429,
            body: Array(
                #"{"status":"ERROR","request_id":"x","error":"You've exceeded the maximum requests per minute"}"#.utf8),
            retryAfterSeconds: 6)
        #expect(rate.status == mh_status(MH_RATE_LIMITED) && rate.retryAfterMilliseconds == 6_000)
        #expect(rate.message.hasPrefix("You've exceeded"))
        let noRetry = MassiveREST.error(httpStatus: 429, body: [])
        #expect(noRetry.retryAfterMilliseconds == nil && noRetry.message == "HTTP 429")
        let entitled = MassiveREST.error(
            httpStatus: 403,
            body: Array(#"{"status":"NOT_AUTHORIZED","message":"You are not entitled to this data."}"#.utf8))
        #expect(
            entitled.status == mh_status(MH_NOT_ENTITLED) && entitled.message == "You are not entitled to this data.")
        let missing = MassiveREST.error(httpStatus: 404, body: Array("404 page not found\n".utf8))
        #expect(missing.status == mh_status(MH_NOT_FOUND) && missing.message == "404 page not found")
        #expect(MassiveREST.error(httpStatus: 401, body: []).status == mh_status(MH_UNAUTHORIZED))
        #expect(MassiveREST.error(httpStatus: 503, body: []).status == mh_status(MH_UNAVAILABLE))
        #expect(MassiveREST.error(httpStatus: 400, body: []).status == mh_status(MH_INVALID))
    }

    @Test func bodiesThatAreNotJSONAreUnavailable() {
        #expect(throws: PluginError.self) { try MassiveREST.aggregates(Array("<html>".utf8)) }
        #expect(throws: PluginError.self) { try MassiveREST.lastTrade(Array(#"{"results":{}}"#.utf8)) }
        #expect(throws: PluginError.self) { try MassiveREST.contractSnapshot(Array(#"{"status":"OK"}"#.utf8)) }
    }
}

@Suite struct JSONScannerTests {
    @Test func parsesNumbersExactly() throws {
        #expect(try JSONValue.parse("1652192754171838500") == .integer(1_652_192_754_171_838_500))
        #expect(try JSONValue.parse("32.45") == .number(32.45))
        #expect(try JSONValue.parse("-0.028227189324641973") == .number(-0.028227189324641973))
        #expect(try JSONValue.parse("642646396.0") == .number(642_646_396))
        #expect(try JSONValue.parse("1e3") == .number(1_000))
        #expect(try JSONValue.parse("12345678901234567890123") == .number(1.2345678901234568e22))
    }

    @Test func parsesStringsWithEscapes() throws {
        #expect(try JSONValue.parse(#""a\"b\\c\n\u00e9\ud83d\ude00""#) == .string("a\"b\\c\né😀"))
    }

    @Test func writesWhatItReads() throws {
        let text = #"{"a":[1,2.5,"x",true,false,null],"b":{"c":-3}}"#
        #expect(try JSONValue.parse(text).text == text)
    }

    @Test func rejectsBadDocuments() {
        for text in ["", "[", "{\"a\"}", "{\"a\":}", "tru", "1.", "1e", "-", "\"abc", "[1 2]", "{} {}", "01x"] {
            #expect(throws: JSONError.self, "\(text)") { try JSONValue.parse(text) }
        }
    }
}
