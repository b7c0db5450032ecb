import Host
import PluginAPI
import PluginKit

/// The behaviour every cache plugin must show, as a list of independent checks. Each check gets a fresh,
/// started cache from the caller's factory and a manual clock that the factory must have given the cache,
/// so TTLs are tested without sleeping.
///
/// ```swift
/// @Test(arguments: CacheConformance.checks)
/// func conforms(_ check: CacheConformance.Check) async throws {
///     try await check.run { clock in try makeStartedCache(clock: clock) }
/// }
/// ```
public enum CacheConformance {
    /// Builds a started cache that reads time from `clock` (start it with `startAsync()`).
    public typealias Factory = @Sendable (ManualClock) async throws -> CachePlugin

    public struct Check: Sendable, CustomStringConvertible {
        public let name: String
        let body: @Sendable (ConformanceContext, CachePlugin, ManualClock) async throws -> Void

        public var description: String { name }

        /// Runs the check on a fresh cache; stops and destroys it afterwards. The manual clock starts at
        /// `startingAt` (UTC ms): servers that expire documents by their own wall clock (MongoDB's TTL monitor)
        /// need it near the real time, or they delete what the check just wrote.
        public func run(startingAt wallMilliseconds: Int64 = CacheConformance.origin, _ factory: Factory) async throws {
            let clock = ManualClock(wallNanoseconds: wallMilliseconds * 1_000_000)
            let cache = try await factory(clock)
            do {
                try await body(ConformanceContext(check: name), cache, clock)
            } catch {
                await cache.destroyAsync()
                throw error
            }
            await cache.destroyAsync()
        }
    }

    /// 2025-03-07 15:00:00 UTC: the manual clock's starting wall time.
    public static let origin: Int64 = 1_741_359_600_000

    public static func bar(
        _ symbol: String, _ start: Int64, close: Double = 10, timespan: Timespan = .minute, multiplier: Int32 = 1,
        source: String = "conformance"
    ) -> Bar {
        Bar(
            symbol: symbol, timespan: timespan, multiplier: multiplier, startMilliseconds: start,
            endMilliseconds: start + 60_000, open: close - 0.5, high: close + 1, low: close - 1, close: close,
            volume: 1_000 + Double(start % 997), vwap: close - 0.1, transactions: 42, source: source
        )
    }

    public static func ok(_ result: OperationResult, _ context: ConformanceContext, _ what: String) throws {
        try context.expect(result.isOK, "\(what) failed: \(StatusName.of(result.status)) \(result.message)")
    }

    public static func bars(
        _ cache: CachePlugin, _ context: ConformanceContext, _ query: BarQuery
    ) async throws -> [Bar] {
        let result = await cache.getBars(query)
        try ok(result, context, "get_bars")
        return result.bars
    }

    public static func minuteQuery(
        _ symbol: String, from: Int64 = 0, to: Int64 = 0, limit: UInt32 = 0, descending: Bool = false
    ) -> BarQuery {
        BarQuery(
            ticker: symbol, timespan: .minute, multiplier: 1, fromMilliseconds: from, toMilliseconds: to, limit: limit,
            descending: descending)
    }

    public static let checks: [Check] = [
        Check(name: "bars round-trip every field and get updated_ms from the host clock") { context, cache, clock in
            var original = bar("SPY", origin)
            original.transactions = 1234
            var unknownVWAP = bar("SPY", origin + 60_000)
            unknownVWAP.vwap = .nan
            unknownVWAP.transactions = -1
            try ok(await cache.putBars([original, unknownVWAP]), context, "put_bars")
            let read = try await bars(cache, context, minuteQuery("SPY"))
            try context.expect(read.count == 2, "expected 2 bars, read \(read.count)")
            var expected = original
            expected.updatedMilliseconds = clock.nowMilliseconds
            try context.expect(read[0] == expected, "first bar changed in the round trip: \(read[0]) vs \(expected)")
            try context.expect(read[1].vwap.isNaN, "an unknown VWAP (NaN) must read back as NaN, got \(read[1].vwap)")
            try context.expect(read[1].transactions == -1, "unknown transactions must read back as -1")
        },
        Check(name: "an identical upsert does not duplicate a bar") { context, cache, _ in
            let bars1 = (0..<10).map { bar("QQQ", origin + Int64($0) * 60_000) }
            try ok(await cache.putBars(bars1), context, "put_bars")
            try ok(await cache.putBars(bars1), context, "put_bars again")
            let read = try await bars(cache, context, minuteQuery("QQQ"))
            try context.expect(read.count == 10, "expected 10 bars after writing the same 10 twice, read \(read.count)")
        },
        Check(name: "a corrected bar overwrites the bar with the same start") { context, cache, clock in
            try ok(await cache.putBars([bar("AAPL", origin, close: 10)]), context, "put_bars")
            clock.advance(byMilliseconds: 5_000)
            try ok(await cache.putBars([bar("AAPL", origin, close: 11, source: "correction")]), context, "put_bars")
            let read = try await bars(cache, context, minuteQuery("AAPL"))
            try context.expect(read.count == 1, "expected 1 bar, read \(read.count)")
            try context.expect(
                read.first?.close == 11, "the correction must win, read close \(read.first?.close ?? .nan)")
            try context.expect(read.first?.source == "correction", "source must follow the latest write")
            try context.expect(
                read.first?.updatedMilliseconds == clock.nowMilliseconds,
                "updated_ms must move to the correction's time"
            )
        },
        Check(name: "range reads are inclusive, ascending and unbounded at 0") { context, cache, _ in
            let all = (0..<20).map { bar("IWM", origin + Int64($0) * 60_000) }
            try ok(await cache.putBars(all.shuffled()), context, "put_bars")
            let middle = try await bars(
                cache, context, minuteQuery("IWM", from: origin + 5 * 60_000, to: origin + 9 * 60_000))
            try context.expect(
                middle.map(\.startMilliseconds) == (5...9).map { origin + Int64($0) * 60_000 },
                "from/to must be inclusive and ascending, got \(middle.map(\.startMilliseconds))"
            )
            let open = try await bars(cache, context, minuteQuery("IWM"))
            try context.expect(open.count == 20, "from=0,to=0 must read everything, read \(open.count)")
            let fromOnly = try await bars(cache, context, minuteQuery("IWM", from: origin + 15 * 60_000))
            try context.expect(fromOnly.count == 5, "from only must read to the end, read \(fromOnly.count)")
            let empty = try await bars(cache, context, minuteQuery("IWM", from: origin + 100 * 60_000))
            try context.expect(empty.isEmpty, "a range with no bars must read empty, read \(empty.count)")
        },
        Check(name: "limit keeps the oldest ascending and the newest descending") { context, cache, _ in
            let all = (0..<10).map { bar("DIA", origin + Int64($0) * 60_000) }
            try ok(await cache.putBars(all), context, "put_bars")
            let first = try await bars(cache, context, minuteQuery("DIA", limit: 3))
            try context.expect(
                first.map(\.startMilliseconds) == (0..<3).map { origin + Int64($0) * 60_000 },
                "ascending limit 3 must return the 3 oldest in order"
            )
            let last = try await bars(cache, context, minuteQuery("DIA", limit: 3, descending: true))
            try context.expect(
                last.map(\.startMilliseconds) == [9, 8, 7].map { origin + Int64($0) * 60_000 },
                "descending limit 3 must return the 3 newest, newest first, got \(last.map(\.startMilliseconds))"
            )
        },
        Check(name: "series are keyed by symbol, timespan and multiplier") { context, cache, _ in
            try ok(
                await cache.putBars([
                    bar("SPY", origin, timespan: .minute, multiplier: 1),
                    bar("SPY", origin, timespan: .minute, multiplier: 5),
                    bar("SPY", origin, timespan: .day, multiplier: 1),
                    bar("spy", origin, timespan: .minute, multiplier: 1),
                ]),
                context, "put_bars"
            )
            for (timespan, multiplier, symbol) in [
                (Timespan.minute, Int32(1), "SPY"), (.minute, 5, "SPY"), (.day, 1, "SPY"), (.minute, 1, "spy"),
            ] {
                let read = try await bars(
                    cache, context, BarQuery(ticker: symbol, timespan: timespan, multiplier: multiplier)
                )
                try context.expect(
                    read.count == 1,
                    "series \(symbol) \(multiplier)/\(timespan) must hold exactly its one bar, read \(read.count)")
            }
        },
        Check(name: "chain snapshots round-trip and honour the reader's maximum age") { context, cache, clock in
            let document = Array(#"{"underlying":"SPY","contracts":[]}"#.utf8)
            try ok(
                await cache.putChain(underlying: "SPY", expiration: "2025-03-21", json: document), context, "put_chain")
            let stored = clock.nowMilliseconds
            clock.advance(byMilliseconds: 60_000)
            let fresh = await cache.getChain(
                underlying: "SPY", expiration: "2025-03-21", maximumAgeMilliseconds: 120_000)
            try ok(fresh, context, "get_chain within the age limit")
            try context.expect(fresh.json == document, "chain document changed in the round trip")
            try context.expect(fresh.updatedMilliseconds == stored, "updated_ms must be the time it was stored")
            let stale = await cache.getChain(
                underlying: "SPY", expiration: "2025-03-21", maximumAgeMilliseconds: 30_000)
            try context.expect(
                stale.status == mh_status(MH_NOT_FOUND),
                "a snapshot older than max_age_ms must be MH_NOT_FOUND, got \(StatusName.of(stale.status))"
            )
            let other = await cache.getChain(underlying: "SPY", expiration: "2025-03-28", maximumAgeMilliseconds: 0)
            try context.expect(other.status == mh_status(MH_NOT_FOUND), "another expiration must be MH_NOT_FOUND")
        },
        Check(name: "chain snapshots expire after 24 hours whatever the reader asks") { context, cache, clock in
            let document = Array(#"{"underlying":"QQQ","contracts":[]}"#.utf8)
            try ok(
                await cache.putChain(underlying: "QQQ", expiration: "2025-03-21", json: document), context, "put_chain")
            clock.advance(byMilliseconds: 23 * 3_600_000)
            try ok(
                await cache.getChain(underlying: "QQQ", expiration: "2025-03-21", maximumAgeMilliseconds: 0), context,
                "get_chain at 23 hours"
            )
            clock.advance(byMilliseconds: 2 * 3_600_000)
            let expired = await cache.getChain(underlying: "QQQ", expiration: "2025-03-21", maximumAgeMilliseconds: 0)
            try context.expect(expired.status == mh_status(MH_NOT_FOUND), "a 25-hour-old chain must be gone")
        },
        Check(name: "last quotes round-trip; unknown symbols are omitted; newer wins") { context, cache, _ in
            let quote = LastQuote(
                symbol: "O:SPY250321C00570000", bidPrice: 1.2, askPrice: 1.3, lastPrice: .nan, midpoint: 1.25,
                updatedMilliseconds: origin)
            try ok(await cache.putLastQuotes([quote]), context, "put_last_quotes")
            let read = await cache.getLastQuotes(["O:SPY250321C00570000", "O:SPY250321C00999000"])
            try ok(read, context, "get_last_quotes")
            try context.expect(
                read.lastQuotes == [quote], "expected exactly the stored quote back, got \(read.lastQuotes)")
            var newer = quote
            newer.bidPrice = 1.4
            newer.updatedMilliseconds = origin + 1_000
            try ok(await cache.putLastQuotes([newer]), context, "put_last_quotes newer")
            let again = await cache.getLastQuotes([quote.symbol])
            try context.expect(again.lastQuotes.first?.bidPrice == 1.4, "the newer quote must replace the older")
        },
        Check(name: "selections round-trip, overwrite, and are MH_NOT_FOUND when absent") { context, cache, _ in
            let missing = await cache.getSelection(key: "global")
            try context.expect(missing.status == mh_status(MH_NOT_FOUND), "an absent selection must be MH_NOT_FOUND")
            let first = Array(#"{"underlying":"SPY"}"#.utf8)
            let second = Array(#"{"underlying":"QQQ","contract":"O:QQQ250321P00480000"}"#.utf8)
            try ok(await cache.putSelection(key: "global", json: first), context, "put_selection")
            try ok(await cache.putSelection(key: "global", json: second), context, "put_selection overwrite")
            let read = await cache.getSelection(key: "global")
            try ok(read, context, "get_selection")
            try context.expect(read.json == second, "the second selection must replace the first")
        },
        Check(name: "a large batch is stored whole and read back in order") { context, cache, _ in
            let all = (0..<20_000).map { bar("TSLA", origin + Int64($0) * 60_000, close: Double($0)) }
            try ok(await cache.putBars(all.reversed()), context, "put_bars of 20000")
            let read = try await bars(cache, context, minuteQuery("TSLA"))
            try context.expect(read.count == 20_000, "expected 20000 bars, read \(read.count)")
            try context.expect(
                zip(read, read.dropFirst()).allSatisfy { $0.startMilliseconds < $1.startMilliseconds },
                "bars must read back ascending"
            )
            try context.expect(read.last?.close == 19_999, "the last bar must be the newest")
        },
        Check(name: "odd tickers round-trip exactly; an empty one is rejected with MH_INVALID") { context, cache, _ in
            for symbol in ["O:SPY251219C00650000", "brk.b", "I:SPX", "ÄPFEL€", "X:BTC-USD"] {
                try ok(await cache.putBars([bar(symbol, origin)]), context, "put_bars for \(symbol)")
                let read = try await bars(cache, context, minuteQuery(symbol))
                try context.expect(read.count == 1 && read[0].symbol == symbol, "ticker \(symbol) did not round-trip")
            }
            let rejected = await cache.putBars([bar("", origin)])
            try context.expect(
                rejected.status == mh_status(MH_INVALID),
                "an empty ticker must be MH_INVALID, got \(StatusName.of(rejected.status))")
            try context.expect(!rejected.message.isEmpty, "a rejection must say why")
        },
        Check(name: "a rejected write loses nothing already stored") { context, cache, _ in
            try ok(await cache.putBars([bar("NVDA", origin)]), context, "put_bars")
            var broken = bar("NVDA", origin + 60_000)
            broken.open = .nan
            let rejected = await cache.putBars([broken])
            try context.expect(
                rejected.status == mh_status(MH_INVALID),
                "a non-finite price must be MH_INVALID, got \(StatusName.of(rejected.status))")
            let read = try await bars(cache, context, minuteQuery("NVDA"))
            try context.expect(
                read.count == 1 && read[0].startMilliseconds == origin, "the stored bar must survive a rejected write")
        },
        Check(name: "concurrent writers of the same keys leave exactly one bar per key") { context, cache, _ in
            let writers = 8
            let keys = 500
            await withTaskGroup(of: OperationResult.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        await cache.putBars(
                            (0..<keys).map { bar("AMD", origin + Int64($0) * 60_000, close: Double(writer)) })
                    }
                }
                for await _ in group {}
            }
            let read = try await bars(cache, context, minuteQuery("AMD"))
            try context.expect(
                read.count == keys, "expected \(keys) bars after \(writers) concurrent writers, read \(read.count)")
            try context.expect(
                read.allSatisfy { (0..<Double(writers)).contains($0.close) }, "every bar must hold one writer's values"
            )
        },
        Check(name: "odd symbols work for last quotes, chains and selections; control characters are rejected") {
            context, cache, _ in
            let symbols = ["O:SPY251219C00650000", "brk.b", "ÄPFEL€", "I:SPX", "a|b|c"]
            let quotes = symbols.enumerated().map { index, symbol in
                LastQuote(
                    symbol: symbol, bidPrice: Double(index), askPrice: Double(index) + 0.1, lastPrice: .nan,
                    midpoint: .nan, updatedMilliseconds: origin + Int64(index))
            }
            try ok(await cache.putLastQuotes(quotes), context, "put_last_quotes of odd symbols")
            let read = await cache.getLastQuotes(symbols)
            try ok(read, context, "get_last_quotes of odd symbols")
            try context.expect(
                Set(read.lastQuotes.map(\.symbol)) == Set(symbols) && read.lastQuotes.count == symbols.count,
                "every odd symbol must round-trip once, got \(read.lastQuotes.map(\.symbol))")
            for symbol in ["O:SPY", "ÄPFEL€"] {
                let document = Array(#"{"underlying":"x"}"#.utf8)
                try ok(
                    await cache.putChain(underlying: symbol, expiration: "2025-03-21", json: document), context,
                    "put_chain for \(symbol)")
                let chain = await cache.getChain(
                    underlying: symbol, expiration: "2025-03-21", maximumAgeMilliseconds: 0)
                try context.expect(chain.isOK && chain.json == document, "chain for \(symbol) did not round-trip")
            }
            let key = "user:42/ÄÖ € \"quoted\""
            let selection = Array(#"{"underlying":"SPY"}"#.utf8)
            try ok(await cache.putSelection(key: key, json: selection), context, "put_selection with an odd key")
            let selected = await cache.getSelection(key: key)
            try context.expect(selected.isOK && selected.json == selection, "an odd selection key must round-trip")
            for bad in ["SPY\u{0}", "TAB\tBED", String(repeating: "X", count: 65)] {
                let rejected = await cache.putBars([bar(bad, origin)])
                try context.expect(
                    rejected.status == mh_status(MH_INVALID) && !rejected.message.isEmpty,
                    "ticker \(bad.debugDescription) must be MH_INVALID with a reason, got \(StatusName.of(rejected.status))"
                )
                let quote = LastQuote(
                    symbol: bad, bidPrice: 1, askPrice: 1, lastPrice: 1, midpoint: 1, updatedMilliseconds: origin)
                let rejectedQuote = await cache.putLastQuotes([quote])
                try context.expect(
                    rejectedQuote.status == mh_status(MH_INVALID),
                    "a quote for \(bad.debugDescription) must be MH_INVALID")
            }
        },
        Check(name: "a large batch of last quotes is stored whole and read back") { context, cache, _ in
            let quotes = (0..<2_000).map {
                LastQuote(
                    symbol: "O:SPY250321C\(fiveDigits($0))000", bidPrice: Double($0), askPrice: Double($0) + 0.05,
                    lastPrice: Double($0), midpoint: Double($0) + 0.025, updatedMilliseconds: origin)
            }
            try ok(await cache.putLastQuotes(quotes), context, "put_last_quotes of 2000")
            let read = await cache.getLastQuotes(quotes.map(\.symbol))
            try ok(read, context, "get_last_quotes of 2000")
            try context.expect(read.lastQuotes.count == 2_000, "expected 2000 quotes, read \(read.lastQuotes.count)")
            let byTicker = Dictionary(uniqueKeysWithValues: read.lastQuotes.map { ($0.symbol, $0) })
            try context.expect(
                quotes.allSatisfy { byTicker[$0.symbol] == $0 }, "every quote must read back exactly as written")
        },
        Check(name: "reports healthy while running") { context, cache, _ in
            let health = cache.health()
            try context.expect(
                health.state == .ok, "a started cache must be healthy, got \(health.state): \(health.detail)")
        },
    ]
}

/// A zero-padded five-digit number.
private func fiveDigits(_ value: Int) -> String {
    let digits = "\(value)"
    return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
}
