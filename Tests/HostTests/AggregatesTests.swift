import Foundation
import Host
import Logging
import PluginKit
import Testing

/// `/api/market/aggs` end to end through the host's routes, with the recorded provider (synthetic session)
/// and a real cache plugin.
@Suite("Aggregates pipeline", .serialized)
struct AggregatesTests {
    /// Monday 2025-12-08 15:00 UTC = 10:00 New York.
    static let mondayMorning: Int64 = 1_765_206_000_000
    /// Saturday 2025-12-13 15:00 UTC.
    static let saturday: Int64 = 1_765_638_000_000

    struct Fixture {
        let runtime: HostRuntime
        let clock: ManualClock

        func get(_ query: String) async -> (status: Int, body: JSONValue, headers: [(String, String)]) {
            let response = await runtime.core.handle(HTTPRequest(method: "GET", path: "/api/market/aggs", query: query))
            return (response.status, (try? JSONValue.parse(response.body)) ?? .null, response.headers)
        }

        var providerFetches: Double { runtime.metrics.value("markethub_aggs_provider_fetches_total") ?? 0 }

        func close() async { for entry in runtime.instances.reversed() { await entry.instance.destroyAsync() } }
    }

    static func fixture(at wall: Int64 = mondayMorning, faults: JSONValue? = nil) async throws -> Fixture {
        var provider: JSONValue = .object([
            ("source", .string("synthetic")), ("underlyings", .array([.string("SPY")])),
            ("date", .string("2025-12-08")),
            ("seed", .integer(7)), ("window", .string("09:30-10:00")), ("speed", .integer(1)),
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

    @Test("daily bars by default: fetched once from the provider, then served from the cache")
    func cacheFirst() async throws {
        let f = try await Self.fixture()
        let first = await f.get("ticker=SPY")
        #expect(first.status == 200, "\(first.body.text.prefix(300))")
        #expect(first.body["timespan"] == .string("day") && first.body["multiplier"] == .integer(1))
        #expect(first.body["source"] == .string("provider"))
        let bars = try #require(first.body["bars"]?.array)
        #expect(bars.count > 200, "about a year of daily bars, got \(bars.count)")
        let starts = bars.compactMap { $0["t"]?.int64 }
        #expect(starts == starts.sorted())
        #expect(bars.first?["o"]?.double != nil && bars.first?["v"]?.double != nil)
        #expect(f.providerFetches == 1)
        let second = await f.get("ticker=SPY")
        #expect(second.body["source"] == .string("cache"))
        #expect(second.body["bars"]?.array?.count == bars.count)
        #expect(f.providerFetches == 1, "the second request is served from the cache")
        #expect(second.body["health"] == .string("ok"))
        #expect(second.body["marketClosed"] == .bool(false))
        await f.close()
    }

    @Test("a cache answer's body is reused for the same query for one second, then recomputed")
    func responseReuse() async throws {
        let f = try await Self.fixture()
        let fetched = await f.get("ticker=SPY")
        let cached = await f.get("ticker=SPY")
        #expect(cached.body["source"] == .string("cache"))
        let count = try #require(cached.body["bars"]?.array?.count)
        // Only the reusable answer tells shared caches (the transport's) they may keep it, for one lifetime.
        func cacheControl(_ headers: [(String, String)]) -> String? { headers.first { $0.0 == "Cache-Control" }?.1 }
        #expect(cacheControl(fetched.headers) == nil, "a provider answer is not shareable")
        #expect(cacheControl(cached.headers) == "public, max-age=1, s-maxage=1")
        // A bar written behind the service's back (a Saturday, so a start of its own) is not seen while the
        // reused body is current...
        let bar = Bar(
            symbol: "SPY", timespan: .day, multiplier: 1, startMilliseconds: Self.mondayMorning - 2 * 86_400_000,
            open: 600, high: 601, low: 599, close: 600.5, volume: 1e6)
        #expect(await f.runtime.cache.putBars([bar]).isOK)
        let again = await f.get("ticker=SPY")
        #expect(again.body["bars"]?.array?.count == count, "the same query within a second reuses the body")
        // ...and is once the lifetime has passed.
        f.clock.advance(byNanoseconds: 1_100_000_000)
        // Many identical requests after the lifetime (they share one computation) all get the new answer.
        let answers = await withTaskGroup(of: (Int, Int?).self) { group in
            for _ in 0..<50 {
                group.addTask {
                    let answer = await f.get("ticker=SPY")
                    return (answer.status, answer.body["bars"]?.array?.count)
                }
            }
            var out: [(Int, Int?)] = []
            for await answer in group { out.append(answer) }
            return out
        }
        #expect(answers.allSatisfy { $0.0 == 200 && $0.1 == count + 1 }, "a new answer after the lifetime")
        #expect(f.providerFetches == 1)
        await f.close()
    }

    @Test("1,000 concurrent identical cold requests make exactly one provider call while the clock moves")
    func singleFlight() async throws {
        // The provider answers after 200 ms (of the manual clock), so later requests find the first one in flight.
        let latency: JSONValue = .array([
            .object([
                ("kind", .string("latency")), ("atMs", .integer(0)), ("durationMs", .integer(3_600_000)),
                ("latencyMs", .integer(200)),
            ])
        ])
        let f = try await Self.fixture(faults: latency)
        // The clock keeps moving while requests arrive: a window that ends "now" must not make each one different.
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(2))
                f.clock.advance(byNanoseconds: 3_000_000)
            }
        }
        let statuses = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<1_000 { group.addTask { await f.get("ticker=SPY&timespan=day").status } }
            var out: [Int] = []
            for await status in group { out.append(status) }
            return out
        }
        ticker.cancel()
        #expect(statuses.allSatisfy { $0 == 200 })
        #expect(f.providerFetches == 1, "fetches: \(f.providerFetches)")
        await f.close()
    }

    @Test(
        "a rate-limited provider: cached bars with a note and degraded health; nothing cached gives 429 with Retry-After"
    )
    func rateLimited() async throws {
        let faults: JSONValue = .array([
            .object([
                ("kind", .string("rest-429")), ("atMs", .integer(0)), ("durationMs", .integer(3_600_000)),
                ("retryAfterMs", .integer(6_000)),
            ])
        ])
        let f = try await Self.fixture(faults: faults)
        let cold = await f.get("ticker=SPY")
        #expect(cold.status == 429)
        #expect(cold.body["error"] == .string("rate_limited"))
        #expect(cold.headers.contains { $0.0 == "Retry-After" && $0.1 == "6" })
        // Seed the cache as an earlier session would have, then ask again during the cooldown.
        let bar = Bar(
            symbol: "SPY", timespan: .day, multiplier: 1, startMilliseconds: Self.mondayMorning - 3 * 86_400_000,
            open: 600, high: 601, low: 599, close: 600.5, volume: 1e6)
        #expect(await f.runtime.cache.putBars([bar]).isOK)
        let fetchesBefore = f.providerFetches
        let cached = await f.get("ticker=SPY")
        #expect(cached.status == 200)
        #expect(cached.body["bars"]?.array?.count == 1)
        #expect(cached.body["health"] == .string("degraded"))
        #expect(cached.body["note"]?.string?.contains("Rate limited") == true)
        #expect(f.providerFetches == fetchesBefore, "no provider call during the cooldown")
        await f.close()
    }

    @Test("intraday option charts use the underlying's candles")
    func optionIntraday() async throws {
        let f = try await Self.fixture()
        let answer = await f.get("ticker=O:SPY251219C00650000&timespan=minute&multiplier=5")
        #expect(answer.status == 200, "\(answer.body.text.prefix(300))")
        #expect(answer.body["resultTicker"] == .string("SPY"))
        #expect(answer.body["note"]?.string?.contains("underlying") == true)
        #expect(answer.body["resultGranularity"] == .string("5/minute"))
        await f.close()
    }

    @Test("with the market closed, intraday requests use the last session and say so")
    func lastSession() async throws {
        let closed: JSONValue = .array([.object([("kind", .string("market-close")), ("atMs", .integer(0))])])
        let f = try await Self.fixture(at: Self.saturday, faults: closed)
        let answer = await f.get("ticker=SPY&timespan=minute")
        #expect(answer.body["usingLastSession"] == .bool(true), "\(answer.body.text.prefix(300))")
        #expect(answer.body["marketClosed"] == .bool(true))
        #expect(answer.body["note"]?.string?.contains("Market closed") == true)
        await f.close()
    }

    @Test("bad parameters get 400 with a message")
    func badParameters() async throws {
        let f = try await Self.fixture()
        for (query, fragment) in [
            ("", "ticker is required"), ("ticker=$$$", "not a stock"),
            ("ticker=SPY&timespan=fortnight", "timespan must be"),
            ("ticker=SPY&multiplier=0", "multiplier"), ("ticker=SPY&from=yesterday", "from must be"),
            ("ticker=SPY&from=2025-12-05&to=2025-12-01", "from must not be after to"), ("ticker=SPY&limit=-3", "limit"),
            ("ticker=SPY&sessionMode=night", "sessionMode"),
        ] {
            let answer = await f.get(query)
            #expect(answer.status == 400, "\(query)")
            #expect(answer.body["error"] == .string("invalid_request"))
            #expect(answer.body["message"]?.string?.contains(fragment) == true, "\(query): \(answer.body.text)")
        }
        await f.close()
    }

    @Test("warm-up hints are deduplicated and bounded")
    func warmHints() async throws {
        let f = try await Self.fixture()
        let body = Array(#"{"symbols":["SPY","spy","QQQ"],"timeframes":["1/day","5/minute"]}"#.utf8)
        let response = await f.runtime.core.handle(
            HTTPRequest(method: "POST", path: "/api/market/aggs/warm", body: body))
        #expect(response.status == 202)
        let answer = try JSONValue.parse(response.body)
        #expect(answer["accepted"] == .integer(4))
        #expect(answer["duplicates"] == .integer(2))
        #expect(await f.runtime.warmer.warmNext())
        #expect(f.providerFetches == 1)
        let bad = await f.runtime.core.handle(
            HTTPRequest(method: "POST", path: "/api/market/aggs/warm", body: Array("{".utf8)))
        #expect(bad.status == 400)
        await f.close()
    }
}
