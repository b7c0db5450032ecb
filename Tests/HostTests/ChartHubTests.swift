import Foundation
import Host
import Logging
import MarketCalendar
import PluginKit
import Testing

/// The chart hub with the real recorded provider (a synthetic session with fault scripts) and a real cache
/// plugin, on a manual clock. What a transport would send is recorded by `RecordingOutput`; the Socket.IO path
/// itself is covered by Tests/interop/test_markethub_e2e.py.
@Suite("Chart hub", .serialized)
struct ChartHubTests {
    static let monday = CivilDate("2025-12-08")!

    static func at(_ hour: Int, _ minute: Int, _ second: Int = 0, on date: CivilDate = monday) -> Int64 {
        EasternTime.utcMilliseconds(date: date, hour: hour, minute: minute, second: second)
    }

    struct Fixture {
        let runtime: HostRuntime
        let clock: ManualClock
        let output = RecordingOutput()

        var hub: ChartHub { runtime.chartHub }

        func focus(_ client: UInt64, _ symbol: String, _ timeframe: String, mode: String? = nil) async -> JSONValue {
            var members: [(String, JSONValue)] = [("symbol", .string(symbol)), ("timeframe", .string(timeframe))]
            if let mode { members.append(("sessionMode", .string(mode))) }
            return await hub.focus(output: output, clientID: client, arguments: .array([.object(members)]))
        }

        func metric(_ name: String) -> Double { runtime.metrics.value(name) ?? 0 }

        func sent(_ event: String, to client: UInt64) -> [JSONValue] {
            output.all.filter { $0.kind == "send" && $0.target == String(client) && $0.event == event }.map(\.payload)
        }

        func published(_ event: String, room: String) -> [JSONValue] {
            output.all.filter { $0.kind == "publish" && $0.target == room && $0.event == event }.map(\.payload)
        }

        /// Moves time on in one-second steps, so the replay's frames and the hub's work interleave as in life.
        func advance(seconds: Int) {
            for _ in 0..<seconds { clock.advance(byMilliseconds: 1_000) }
        }

        /// Polls (with sleeps) until `condition` holds or five seconds pass.
        func eventually(_ condition: () -> Bool) async -> Bool {
            for _ in 0..<1_500 {
                if condition() { return true }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return condition()
        }

        func close() async { for entry in runtime.instances.reversed() { await entry.instance.destroyAsync() } }
    }

    struct TestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// A synthetic SPY session 09:30–10:30 on Monday 2025-12-08, started at `startAt`, with the clock at `wall`.
    static func fixture(
        wall: Int64 = at(9, 40), date: String = "2025-12-08", startAt: String = "09:40", faults: JSONValue? = nil
    ) async throws -> Fixture {
        var provider: JSONValue = .object([
            ("source", .string("synthetic")), ("underlyings", .array([.string("SPY")])), ("date", .string(date)),
            ("seed", .integer(7)), ("window", .string("09:30-10:30")), ("speed", .integer(1)),
            ("startAt", .string(startAt)),
        ])
        if let faults { provider = provider.setting("faults", to: faults) }
        let configuration = HostConfiguration(
            sourcePath: "test.yaml",
            provider: .init(
                plugin: try TestSupport.builtPlugin("RecordedProvider"), config: provider, keyPath: "provider"),
            cache: .init(plugin: try TestSupport.builtPlugin("MemoryCache"), keyPath: "cache"),
            transports: []
        )
        let clock = ManualClock(wallNanoseconds: wall * 1_000_000)
        let runtime = try HostRuntime(configuration: configuration, clock: clock, logger: Logger(label: "test"))
        for entry in runtime.instances { try await entry.instance.startAsync() }
        return Fixture(runtime: runtime, clock: clock)
    }

    @Test("two clients focusing one symbol make one upstream subscription, released when both leave")
    func referenceCounting() async throws {
        let f = try await Self.fixture()
        #expect(
            await f.focus(1, "SPY", "5m")
                == .array([
                    .object([
                        ("ok", .bool(true)), ("symbol", .string("SPY")), ("timeframe", .string("5m")),
                        ("streaming", .bool(true)),
                    ])
                ]))
        #expect(await f.focus(2, "spy", "5m")[0]?["ok"] == .bool(true))
        #expect(f.metric("markethub_chart_upstream_subscribes_total") == 1)
        #expect(f.hub.upstreamTickers == ["SPY"] && f.hub.seriesCount == 1)
        #expect(f.sent("chart:snapshot", to: 1).count == 1 && f.sent("chart:snapshot", to: 2).count == 1)
        // A different timeframe of the same ticker is another series on the same upstream subscription.
        #expect(await f.focus(3, "SPY", "1m")[0]?["streaming"] == .bool(true))
        #expect(f.metric("markethub_chart_upstream_subscribes_total") == 1 && f.hub.seriesCount == 2)
        // Focusing something else leaves the previous focus; a daily chart streams nothing.
        #expect(await f.focus(1, "SPY", "1D")[0]?["streaming"] == .bool(false))
        f.hub.unfocus(output: f.output, clientID: 3)
        #expect(f.metric("markethub_chart_upstream_unsubscribes_total") == 0, "client 2 still watches SPY 5m")
        #expect(f.output.all.contains { $0.kind == "leave" && $0.target == "1" && $0.event == "chart:SPY|5m|regular" })
        f.hub.unfocus(output: f.output, clientID: 2)  // what a disconnect does
        #expect(f.metric("markethub_chart_upstream_unsubscribes_total") == 1)
        #expect(f.hub.upstreamTickers.isEmpty && f.hub.seriesCount == 0)
        await f.close()
    }

    @Test("a snapshot on focus, then changed complete candles that match the provider's minute bars")
    func snapshotAndUpdates() async throws {
        let f = try await Self.fixture()
        let ack = await f.focus(1, "SPY", "1m")
        #expect(ack[0]?["ok"] == .bool(true))
        let snapshot = try #require(f.sent("chart:snapshot", to: 1).first)
        #expect(snapshot["symbol"] == .string("SPY") && snapshot["resultTicker"] == .string("SPY"))
        #expect(snapshot["timeframe"] == .string("1m") && snapshot["resultGranularity"] == .string("1/minute"))
        #expect(snapshot["streaming"] == .bool(true) && snapshot["health"] == .string("ok"))
        #expect(snapshot["marketClosed"] == .bool(false) && snapshot["usingLastSession"] == .bool(false))
        #expect(snapshot["marketStatus"]?["market"] == .string("open"))
        let bars = try #require(snapshot["bars"]?.array)
        #expect(bars.first?["t"]?.int64 == Self.at(9, 30), "the session from its open")
        #expect((bars.last?["t"]?.int64 ?? 0) <= Self.at(9, 40))
        #expect(bars.count >= 10)
        #expect(f.output.all.contains { $0.kind == "join" && $0.event == "chart:SPY|1m|regular" })

        f.advance(seconds: 125)
        let updates = f.published("chart:update", room: "chart:SPY|1m|regular")
        #expect(updates.count > 30, "second bars move the running candle: \(updates.count) updates")
        #expect(updates.allSatisfy { $0["health"] == .string("ok") && $0["symbol"] == .string("SPY") })
        var latest: [Int64: JSONValue] = [:]
        for update in updates {
            let changed = update["bars"]?.array ?? []
            let starts = changed.compactMap { $0["t"]?.int64 }
            #expect(starts == starts.sorted(), "oldest first")
            for bar in changed { if let t = bar["t"]?.int64 { latest[t] = bar } }
        }
        // Finished minutes equal the provider's own minute bars: the hub's candles are the vendor's candles.
        let truth = await f.runtime.provider.request(
            ProviderRequest(
                kind: .aggregates, ticker: "SPY", multiplier: 1, timespan: .minute, fromMilliseconds: Self.at(9, 40),
                toMilliseconds: Self.at(9, 41)))
        #expect(truth.bars.count == 2)
        for bar in truth.bars {
            let candle = try #require(latest[bar.startMilliseconds], "no update for \(bar.startMilliseconds)")
            #expect(candle["o"]?.double == bar.open && candle["c"]?.double == bar.close)
            #expect(candle["h"]?.double == bar.high && candle["l"]?.double == bar.low)
            #expect(candle["v"]?.double == bar.volume)
        }
        await f.close()
    }

    @Test("an option's intraday chart streams its underlying's candles")
    func optionUsesUnderlying() async throws {
        let f = try await Self.fixture()
        let option = "O:SPY251219C00650000"
        let ack = await f.focus(1, option, "5m")
        #expect(ack[0]?["symbol"] == .string(option) && ack[0]?["streaming"] == .bool(true))
        let snapshot = try #require(f.sent("chart:snapshot", to: 1).first)
        #expect(snapshot["resultTicker"] == .string("SPY") && snapshot["symbol"] == .string(option))
        #expect(snapshot["note"]?.string?.contains("underlying") == true)
        #expect(f.hub.upstreamTickers == ["SPY"])
        f.advance(seconds: 30)
        let updates = f.published("chart:update", room: "chart:\(option)|5m|regular")
        #expect(!updates.isEmpty)
        #expect(updates.first?["symbol"] == .string(option) && updates.first?["resultTicker"] == .string("SPY"))
        await f.close()
    }

    @Test("1h and 1D focus: a snapshot and no stream")
    func snapshotOnlyTimeframes() async throws {
        let f = try await Self.fixture()
        #expect(await f.focus(1, "SPY", "1d")[0]?["streaming"] == .bool(false))
        let daily = try #require(f.sent("chart:snapshot", to: 1).first)
        #expect(daily["timeframe"] == .string("1D") && daily["streaming"] == .bool(false))
        #expect((daily["bars"]?.array?.count ?? 0) > 200)
        #expect(await f.focus(1, "SPY", "1h")[0]?["streaming"] == .bool(false))
        #expect(f.sent("chart:snapshot", to: 1).last?["resultGranularity"] == .string("1/hour"))
        #expect(f.hub.upstreamTickers.isEmpty)
        #expect(f.metric("markethub_chart_upstream_subscribes_total") == 0)
        await f.close()
    }

    @Test("a daily snapshot carries exactly the REST answer's fields (two encoders, one JSON)")
    func snapshotMatchesREST() async throws {
        let f = try await Self.fixture()
        _ = await f.focus(1, "SPY", "1D")
        let response = await f.runtime.core.handle(
            HTTPRequest(method: "GET", path: "/api/market/aggs", query: "ticker=SPY"))
        #expect(response.status == 200)
        #expect(response.headers.contains { $0.0 == "Content-Type" && $0.1.hasPrefix("application/json") })
        let rest = try JSONValue.parse(response.body)
        _ = await f.focus(1, "SPY", "1D")
        let snapshot = try #require(f.sent("chart:snapshot", to: 1).last)
        guard case .object(let members) = snapshot else { throw TestFailure("snapshot is not an object") }
        let restFields = members.filter { !["symbol", "timeframe", "streaming"].contains($0.0) }
        #expect(JSONValue.object(restFields) == rest)
        #expect(rest["source"] == .string("cache") && (rest["bars"]?.array?.count ?? 0) > 200)
        await f.close()
    }

    @Test("a stream drop turns health degraded; on recovery the gap is backfilled before updates resume")
    func dropAndRecovery() async throws {
        // The drop loses the stream from 09:42 to 09:44 (offsets from the 09:30 start of the recording).
        let faults: JSONValue = .array([
            .object([("kind", .string("stream-drop")), ("atMs", .integer(720_000)), ("durationMs", .integer(120_000))])
        ])
        let f = try await Self.fixture(faults: faults)
        _ = await f.focus(1, "SPY", "1m")
        let room = "chart:SPY|1m|regular"
        f.advance(seconds: 125)
        #expect(f.hub.health(ticker: "SPY", timeframe: "1m") == "degraded")
        let degraded = f.published("chart:update", room: room).last
        #expect(degraded?["health"] == .string("degraded") && degraded?["bars"] == .array([]))
        let before = f.published("chart:update", room: room).count
        f.advance(seconds: 120)
        #expect(await f.eventually { f.hub.health(ticker: "SPY", timeframe: "1m") == "ok" })
        // The backfill answers asynchronously: wait for the update that carries it, not just for the health.
        let backfilled = await f.eventually {
            f.published("chart:update", room: room).dropFirst(before).contains { ($0["bars"]?.array?.count ?? 0) >= 2 }
        }
        #expect(backfilled)
        let after = f.published("chart:update", room: room).dropFirst(before)
        let recovery = try #require(after.first { ($0["bars"]?.array?.count ?? 0) >= 2 })
        #expect(recovery["health"] == .string("ok"))
        let filled = Set(recovery["bars"]?.array?.compactMap { $0["t"]?.int64 } ?? [])
        #expect(filled.isSuperset(of: [Self.at(9, 42), Self.at(9, 43)]), "the gap minutes: \(filled)")
        #expect(f.metric("markethub_chart_gap_backfills_total") == 1)
        await f.close()
    }

    @Test("a 429 storm: chart:error, one provider call for many focuses, cached candles when there are some")
    func rateLimitStorm() async throws {
        let faults: JSONValue = .array([
            .object([
                ("kind", .string("rest-429")), ("atMs", .integer(0)), ("durationMs", .integer(3_600_000)),
                ("retryAfterMs", .integer(30_000)),
            ])
        ])
        let f = try await Self.fixture(faults: faults)
        let fetchesBefore = f.metric("markethub_aggs_provider_fetches_total")
        #expect(await f.focus(1, "SPY", "5m")[0]?["ok"] == .bool(true))
        let error = try #require(f.sent("chart:error", to: 1).first)
        #expect(error["code"] == .string("rate_limited") && error["timeframe"] == .string("5m"))
        #expect(f.sent("chart:snapshot", to: 1).isEmpty, "a cold cache has nothing to show")
        for (client, timeframe) in [(2, "1m"), (3, "15m"), (4, "30m")] {
            _ = await f.focus(UInt64(client), "SPY", timeframe)
            #expect(f.sent("chart:error", to: UInt64(client)).first?["code"] == .string("rate_limited"))
        }
        #expect(f.metric("markethub_aggs_provider_fetches_total") - fetchesBefore == 1, "the cooldown holds")
        // The stream still builds candles, marked degraded until a backfill succeeds.
        f.advance(seconds: 20)
        let updates = f.published("chart:update", room: "chart:SPY|5m|regular")
        #expect(!updates.isEmpty && updates.allSatisfy { $0["health"] == .string("degraded") })
        // With candles in the cache, a failed backfill still shows them.
        let cached = (0..<3).map { index in
            Bar(
                symbol: "SPY", timespan: .minute, multiplier: 15,
                startMilliseconds: Self.at(9, 30) + Int64(index) * 900_000, open: 600, high: 601, low: 599,
                close: 600.5, volume: 1_000)
        }
        #expect(await f.runtime.cache.putBars(cached).isOK)
        f.hub.unfocus(output: f.output, clientID: 3)
        _ = await f.focus(5, "SPY", "15m")
        #expect(f.sent("chart:error", to: 5).first?["code"] == .string("rate_limited"))
        let snapshot = try #require(f.sent("chart:snapshot", to: 5).first)
        #expect(snapshot["health"] == .string("degraded"))
        #expect(snapshot["bars"]?.array?.first?["t"]?.int64 == Self.at(9, 30))
        #expect(snapshot["note"]?.string?.contains("cached") == true)
        await f.close()
    }

    @Test("a failed backfill is retried on a timer while the stream is quiet, and health recovers")
    func backfillRetriedWhileQuiet() async throws {
        // A 429 window from 09:40 for a minute; the replay starts at 09:40, inside it.
        let faults: JSONValue = .array([
            .object([
                ("kind", .string("rest-429")), ("atMs", .integer(600_000)), ("durationMs", .integer(60_000)),
                ("retryAfterMs", .integer(1_000)),
            ])
        ])
        let f = try await Self.fixture(faults: faults)
        #expect(await f.focus(1, "SPY", "5m")[0]?["ok"] == .bool(true))
        #expect(f.sent("chart:error", to: 1).first?["code"] == .string("rate_limited"))
        // No bars from here on: the replay is paused past the window, so only the timer can retry.
        let control = try #require(ReplayControl(f.runtime.provider))
        try control.pause()
        try control.seek(toOffset: 900_000)
        let fetches = f.metric("markethub_aggs_provider_fetches_total")
        f.advance(seconds: 10)
        #expect(f.metric("markethub_aggs_provider_fetches_total") == fetches, "no retry before its delay")
        f.advance(seconds: 6)
        let room = "chart:SPY|5m|regular"
        let recovered = await f.eventually {
            f.published("chart:update", room: room).contains {
                $0["health"] == .string("ok") && !($0["bars"]?.array?.isEmpty ?? true)
            }
        }
        #expect(recovered, "the retried backfill's candles and health reach the room")
        #expect(f.metric("markethub_aggs_provider_fetches_total") - fetches == 1)
        #expect(try control.status().contains("paused"))
        await f.close()
    }

    @Test("streamed minute bars of focused symbols are written behind to the cache, each once")
    func streamedBarsPersisted() async throws {
        let f = try await Self.fixture()
        #expect(await f.focus(1, "SPY", "1m")[0]?["ok"] == .bool(true))
        f.advance(seconds: 150)
        let room = "chart:SPY|1m|regular"
        #expect(await f.eventually { f.published("chart:update", room: room).count >= 2 })
        let writer = ChartBarPersistenceService(
            hub: f.hub, cache: f.runtime.cache, clock: f.clock, logger: Logger(label: "test"))
        let written = await writer.flush()
        #expect(written >= 2, "two minutes of bars streamed, \(written) written")
        #expect(await writer.flush() == 0, "nothing new: nothing written again")
        let stored = await f.runtime.cache.getBars(
            BarQuery(
                ticker: "SPY", timespan: .minute, multiplier: 1, fromMilliseconds: Self.at(9, 30),
                toMilliseconds: Self.at(9, 45)))
        let streamed = stored.bars.filter { $0.source == "stream" }
        #expect(streamed.count == written, "stored: \(stored.bars.map { ($0.startMilliseconds, $0.source) })")
        // The cached bars are the candles the clients were sent.
        let sent = f.published("chart:update", room: room).flatMap { $0["bars"]?.array ?? [] }
        for bar in streamed {
            let candle = sent.last { $0["t"]?.int64 == bar.startMilliseconds }
            #expect(candle?["c"]?.double == bar.close && candle?["v"]?.double == bar.volume)
        }
        await f.close()
    }

    @Test("a cold cache with the market closed: the last session, marked so")
    func closedMarketColdCache() async throws {
        let closed: JSONValue = .array([.object([("kind", .string("market-close")), ("atMs", .integer(0))])])
        let saturday = Self.at(12, 0, on: CivilDate("2025-12-13")!)
        let f = try await Self.fixture(wall: saturday, date: "2025-12-12", startAt: "16:00", faults: closed)
        #expect(await f.focus(1, "SPY", "5m")[0]?["ok"] == .bool(true))
        let snapshot = try #require(f.sent("chart:snapshot", to: 1).first)
        #expect(snapshot["marketClosed"] == .bool(true) && snapshot["usingLastSession"] == .bool(true))
        #expect(snapshot["note"]?.string?.contains("Market closed") == true)
        let bars = try #require(snapshot["bars"]?.array)
        let friday = CivilDate("2025-12-12")!
        #expect(bars.first?["t"]?.int64 == Self.at(9, 30, on: friday))
        #expect(bars.count == 12, "09:30–10:30 in 5-minute candles, got \(bars.count)")
        await f.close()
    }

    @Test("bad requests get a clear error and change nothing")
    func badRequests() async throws {
        let f = try await Self.fixture()
        let timeframe = await f.focus(1, "SPY", "2h")
        #expect(timeframe[0]?["ok"] == .bool(false) && timeframe[0]?["error"] == .string("invalid_request"))
        #expect(timeframe[0]?["message"]?.string?.contains("1m 5m 15m 30m 1h 1D 1W") == true)
        let symbol = await f.focus(1, "not a ticker!", "5m")
        #expect(symbol[0]?["error"] == .string("invalid_symbol"))
        let mode = await f.focus(1, "SPY", "5m", mode: "overnight")
        #expect(mode[0]?["error"] == .string("invalid_request"))
        let empty = await f.hub.focus(output: f.output, clientID: 1, arguments: .array([]))
        #expect(empty[0]?["error"] == .string("invalid_request"))
        #expect(f.sent("chart:error", to: 1).count == 4)
        #expect(f.hub.seriesCount == 0 && f.hub.upstreamTickers.isEmpty)
        await f.close()
    }
}
