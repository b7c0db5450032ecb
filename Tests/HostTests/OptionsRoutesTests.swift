import Foundation
import Host
import Logging
import PluginKit
import Testing

/// The option chain, contract, selection, quote, trade and watchlist routes through the host's routes, with the
/// recorded provider (a synthetic SPY session) and real cache plugins.
@Suite("Options and snapshot routes", .serialized)
struct OptionsRoutesTests {
    /// Monday 2025-12-08 15:00 UTC = 10:00 New York.
    static let mondayMorning: Int64 = 1_765_206_000_000

    struct Fixture {
        let runtime: HostRuntime
        let clock: ManualClock

        func request(
            _ path: String, method: String = "GET", query: String = "", body: String = "", subject: String = ""
        ) async -> (status: Int, body: JSONValue, headers: [(String, String)]) {
            let response = await runtime.core.handle(
                HTTPRequest(method: method, path: path, query: query, body: Array(body.utf8), authSubject: subject))
            return (response.status, (try? JSONValue.parse(response.body)) ?? .null, response.headers)
        }

        func providerRequests(_ kind: String) -> Double {
            runtime.metrics.value("markethub_options_provider_requests_total", labels: [("kind", kind)]) ?? 0
        }

        func close() async { for entry in runtime.instances.reversed() { await entry.instance.destroyAsync() } }
    }

    static func providerConfig(faults: JSONValue? = nil) -> JSONValue {
        var provider: JSONValue = .object([
            ("source", .string("synthetic")), ("underlyings", .array([.string("SPY")])),
            ("date", .string("2025-12-08")), ("seed", .integer(7)), ("window", .string("09:30-10:00")),
            ("speed", .integer(1)),
        ])
        if let faults { provider = provider.setting("faults", to: faults) }
        return provider
    }

    static func fixture(
        faults: JSONValue? = nil, cache: HostConfiguration.PluginSlot? = nil
    ) async throws -> Fixture {
        let configuration = HostConfiguration(
            sourcePath: "test.yaml",
            provider: .init(
                plugin: try TestSupport.builtPlugin("RecordedProvider"), config: providerConfig(faults: faults),
                keyPath: "provider"),
            cache: try cache ?? .init(plugin: TestSupport.builtPlugin("MemoryCache"), keyPath: "cache"),
            transports: []
        )
        let clock = ManualClock(wallNanoseconds: mondayMorning * 1_000_000)
        let runtime = try HostRuntime(configuration: configuration, clock: clock, logger: Logger(label: "test"))
        for entry in runtime.instances { try await entry.instance.startAsync() }
        return Fixture(runtime: runtime, clock: clock)
    }

    static let legKeys = [
        "ticker", "type", "strike", "expiration", "bid", "ask", "last", "midpoint", "volume", "openInterest", "iv",
        "delta", "gamma", "theta", "vega", "greeksSource", "updatedAt", "freshness",
    ]

    static func keys(_ value: JSONValue?) -> [String] {
        guard case .object(let members) = value else { return [] }
        return members.map(\.0)
    }

    @Test("expirations: listed dates from today on, with days to expiry and the monthly flag")
    func expirations() async throws {
        let f = try await Self.fixture()
        let answer = await f.request("/api/market/options/expirations/spy")
        #expect(answer.status == 200, "\(answer.body.text.prefix(300))")
        #expect(answer.body["underlying"] == .string("SPY"))
        let entries = try #require(answer.body["expirations"]?.array)
        #expect(!entries.isEmpty)
        let dates = entries.compactMap { $0["date"]?.string }
        #expect(dates == dates.sorted() && dates.allSatisfy { $0 >= "2025-12-08" })
        #expect(entries.allSatisfy { ($0["daysToExpiry"]?.int64 ?? -1) >= 0 && $0["monthly"]?.bool != nil })
        // The third Friday of December 2025 is the 19th.
        if let december = entries.first(where: { $0["date"] == .string("2025-12-19") }) {
            #expect(december["monthly"] == .bool(true))
        }
        #expect(await f.request("/api/market/options/expirations/ZZZZ").status == 404)
        #expect(await f.request("/api/market/options/expirations/$$$").status == 400)
        #expect(await f.request("/api/market/options/expirations/O:SPY251219C00650000").status == 400)
        await f.close()
    }

    @Test("the chain: nearest expiration by default, strikes ascending, call and put legs, cached per expiration")
    func chainShape() async throws {
        let f = try await Self.fixture()
        let listed = await f.request("/api/market/options/expirations/SPY")
        let nearest = try #require(listed.body["expirations"]?[0]?["date"]?.string)
        let first = await f.request("/api/market/options/chain/SPY")
        #expect(first.status == 200, "\(first.body.text.prefix(300))")
        let body = first.body
        #expect(
            Self.keys(body) == [
                "underlying", "underlyingPrice", "updatedAt", "source", "note", "health", "marketStatus",
                "expirations",
            ])
        #expect(body["source"] == .string("provider") && body["health"] == .string("ok"))
        #expect((body["underlyingPrice"]?.double ?? 0) > 0)
        let groups = try #require(body["expirations"]?.array)
        #expect(groups.count == 1 && groups[0]["expiration"] == .string(nearest))
        let rows = try #require(groups[0]["strikes"]?.array)
        #expect(rows.count > 4)
        let strikes = rows.compactMap { $0["strike"]?.double }
        #expect(strikes == strikes.sorted() && Set(strikes).count == strikes.count)
        for row in rows {
            for side in ["call", "put"] where row[side] != .null {
                let leg = try #require(row[side])
                #expect(Self.keys(leg) == Self.legKeys)
                #expect(leg["type"] == .string(side) && leg["strike"] == row["strike"])
                #expect(leg["expiration"] == .string(nearest))
                #expect(leg["freshness"] == .string("stale"), "REST-served legs never claim to be live")
            }
        }
        #expect(f.providerRequests("chainSnapshot") == 1)
        let second = await f.request("/api/market/options/chain/SPY")
        #expect(second.body["source"] == .string("cache"))
        #expect(second.body["expirations"]?[0]?["strikes"]?.array?.count == rows.count)
        #expect(f.providerRequests("chainSnapshot") == 1, "the second request is served from the cache")
        // After the refresh interval the provider is asked again.
        f.clock.advance(byMilliseconds: 61_000)
        #expect(await f.request("/api/market/options/chain/SPY").body["source"] == .string("provider"))
        await f.close()
    }

    @Test("strikes=N keeps the strike nearest the money and N each side; strikeMin and strikeMax bound it")
    func atmWindow() async throws {
        let f = try await Self.fixture()
        let all = await f.request("/api/market/options/chain/SPY")
        let price = try #require(all.body["underlyingPrice"]?.double)
        let every = try #require(all.body["expirations"]?[0]?["strikes"]?.array).compactMap { $0["strike"]?.double }
        let nearest = try #require(every.min { abs($0 - price) < abs($1 - price) })
        let windowed = await f.request("/api/market/options/chain/SPY", query: "strikes=2")
        let strikes = try #require(windowed.body["expirations"]?[0]?["strikes"]?.array).compactMap {
            $0["strike"]?.double
        }
        let index = try #require(every.firstIndex(of: nearest))
        #expect(strikes == Array(every[max(0, index - 2)...min(every.count - 1, index + 2)]))
        #expect(strikes.contains(nearest))
        let low = every[every.count / 4]
        let high = every[every.count * 3 / 4]
        let bounded = await f.request("/api/market/options/chain/SPY", query: "strikeMin=\(low)&strikeMax=\(high)")
        let kept = try #require(bounded.body["expirations"]?[0]?["strikes"]?.array).compactMap { $0["strike"]?.double }
        #expect(kept == every.filter { $0 >= low && $0 <= high })
        for (query, fragment) in [
            ("strikes=0", "strikes must be"), ("strikes=abc", "strikes must be"),
            ("expiration=2025-13-01", "not a date"), ("strikeMin=10&strikeMax=5", "strikeMin must not be above"),
            ("strikeMin=-1", "strikeMin must be"),
        ] {
            let answer = await f.request("/api/market/options/chain/SPY", query: query)
            #expect(answer.status == 400, "\(query)")
            #expect(answer.body["message"]?.string?.contains(fragment) == true, "\(query): \(answer.body.text)")
        }
        #expect(await f.request("/api/market/options/chain/ZZZZ").status == 404)
        await f.close()
    }

    @Test("Greeks and IV the provider left out are computed from the mid price and marked computed")
    func computedGreeks() async throws {
        let f = try await Self.fixture()
        let listed = await f.request("/api/market/options/expirations/SPY")
        let dates = try #require(listed.body["expirations"]?.array).compactMap { $0["date"]?.string }
        let answer = await f.request(
            "/api/market/options/chain/SPY", query: "expiration=" + dates.prefix(4).joined(separator: ","))
        #expect(answer.status == 200)
        // What the provider itself sends for the same expirations.
        var withoutGreeks: Set<String> = []
        for date in dates.prefix(4) {
            let raw = await f.runtime.provider.request(
                ProviderRequest(
                    kind: .chainSnapshot, ticker: "SPY", params: .object([("expiration", .string(date))])))
            for contract in try JSONValue.parse(raw.json)["contracts"]?.array ?? []
            where contract["delta"] == nil || contract["delta"] == .null {
                if let ticker = contract["ticker"]?.string { withoutGreeks.insert(ticker) }
            }
        }
        var computed = 0
        var fromProvider = 0
        for group in answer.body["expirations"]?.array ?? [] {
            for row in group["strikes"]?.array ?? [] {
                for side in ["call", "put"] {
                    guard let leg = row[side], leg != .null, let ticker = leg["ticker"]?.string else { continue }
                    if withoutGreeks.contains(ticker) {
                        #expect(leg["greeksSource"] == .string("computed"), "\(ticker)")
                        let delta = try #require(leg["delta"]?.double, "\(ticker) delta")
                        #expect(abs(delta) > 0.9 && abs(delta) <= 1, "deep in the money: \(ticker) Δ=\(delta)")
                        computed += 1
                    } else if leg["greeksSource"] == .string("provider") {
                        fromProvider += 1
                    }
                    if leg["midpoint"] != .null, leg["greeksSource"] != .null {
                        #expect(leg["gamma"]?.double != nil && leg["vega"]?.double != nil)
                    }
                }
            }
        }
        #expect(computed == withoutGreeks.count)
        #expect(fromProvider > 0)
        await f.close()
    }

    @Test("a contract with its underlying; invalid or unknown symbols get 400 or 404")
    func contract() async throws {
        let f = try await Self.fixture()
        let chain = await f.request("/api/market/options/chain/SPY", query: "strikes=1")
        let ticker = try #require(chain.body["expirations"]?[0]?["strikes"]?[1]?["call"]?["ticker"]?.string)
        let answer = await f.request("/api/market/options/contracts/\(ticker)")
        #expect(answer.status == 200, "\(answer.body.text.prefix(300))")
        #expect(Array(Self.keys(answer.body).prefix(2)) == ["underlying", "underlyingPrice"])
        #expect(answer.body["underlying"] == .string("SPY") && answer.body["ticker"] == .string(ticker))
        #expect(answer.body["iv"]?.double != nil && answer.body["delta"]?.double != nil)
        #expect(answer.body["openInterest"]?.double != nil)
        #expect(await f.request("/api/market/options/contracts/SPY").status == 400)
        let unknown = await f.request("/api/market/options/contracts/O:SPY300118C00001000")
        #expect(unknown.status == 404 && unknown.body["error"] == .string("not_found"))
        await f.close()
    }

    @Test("selection: validated, stored per subject, 404 before anything is stored")
    func selection() async throws {
        let f = try await Self.fixture()
        let empty = await f.request("/api/market/options/selection")
        #expect(empty.status == 404 && empty.body["error"] == .string("not_found"))
        let body = #"{"underlying":"spy","expiration":"2025-12-19","contract":"O:SPY251219C00610000"}"#
        let saved = await f.request("/api/market/options/selection", method: "POST", body: body)
        #expect(saved.status == 200, "\(saved.body.text)")
        #expect(saved.body["underlying"] == .string("SPY") && saved.body["updatedAt"] == .integer(Self.mondayMorning))
        let loaded = await f.request("/api/market/options/selection")
        #expect(loaded.status == 200 && loaded.body == saved.body)
        #expect(await f.request("/api/market/options/selection", subject: "bearer").status == 404)
        for bad in [
            "{", #"{"underlying":"SPY","expiration":"2025-12-19"}"#,
            #"{"underlying":"SPY","expiration":"2025-12-20","contract":"O:SPY251219C00610000"}"#,
            #"{"underlying":"O:SPY251219C00610000","expiration":"2025-12-19","contract":"O:SPY251219C00610000"}"#,
            #"{"underlying":"SPY","expiration":"12/19/2025","contract":"O:SPY251219C00610000"}"#,
        ] {
            let answer = await f.request("/api/market/options/selection", method: "POST", body: bad)
            #expect(answer.status == 400, "\(bad)")
            #expect(answer.body["error"] == .string("invalid_request"))
        }
        await f.close()
    }

    @Test("a selection survives a host restart with the durable EmbeddedCache")
    func selectionSurvivesRestart() async throws {
        let directory = try TestSupport.makeDirectory()
        let cache = HostConfiguration.PluginSlot(
            plugin: try TestSupport.builtPlugin("EmbeddedCache"),
            config: .object([("path", .string(directory + "/cache.sqlite"))]), keyPath: "cache")
        let first = try await Self.fixture(cache: cache)
        let body = #"{"underlying":"SPY","expiration":"2025-12-19","contract":"O:SPY251219P00600000"}"#
        let saved = await first.request("/api/market/options/selection", method: "POST", body: body)
        #expect(saved.status == 200)
        await first.close()
        let second = try await Self.fixture(cache: cache)
        let loaded = await second.request("/api/market/options/selection")
        #expect(loaded.status == 200, "\(loaded.body.text)")
        #expect(loaded.body == saved.body)
        await second.close()
    }

    @Test("quotes: the live value while streaming, else the provider or the cache, never claiming live")
    func quotes() async throws {
        let f = try await Self.fixture()
        let chain = await f.request("/api/market/options/chain/SPY", query: "strikes=1")
        let ticker = try #require(chain.body["expirations"]?[0]?["strikes"]?[1]?["put"]?["ticker"]?.string)
        let rest = await f.request("/api/market/quotes/\(ticker)")
        #expect(rest.status == 200, "\(rest.body.text)")
        #expect(rest.body["source"] == .string("provider") || rest.body["source"] == .string("cache"))
        #expect(rest.body["freshness"] == .string("stale"))
        #expect(rest.body["symbol"] == .string(ticker) && rest.body["crossed"] != nil)
        // A client subscribes; the stream delivers a quote; REST now answers with the streamed value.
        let output = RecordingOutput()
        _ = await f.runtime.quoteRouter.subscribe(output: output, clientID: 1, arguments: .array([.string(ticker)]))
        f.runtime.core.receive(quotes: [
            Quote(
                symbol: ticker, timestampNanoseconds: Self.mondayMorning * 1_000_000, bidPrice: 4.1, askPrice: 4.3,
                bidSize: 5, askSize: 7, sequence: Int64.max - 1)
        ])
        let live = await f.request("/api/market/quotes/\(ticker)")
        #expect(live.body["source"] == .string("live") && live.body["freshness"] == .string("live"))
        #expect(live.body["bid"] == .number(4.1) && live.body["midpoint"]?.double.map { abs($0 - 4.2) < 1e-9 } == true)
        // The chain's leg shows the streamed quote as live too.
        let merged = await f.request("/api/market/options/chain/SPY", query: "strikes=1")
        let leg = try #require(merged.body["expirations"]?[0]?["strikes"]?[1]?["put"])
        #expect(leg["bid"] == .number(4.1) && leg["freshness"] == .string("live"))
        #expect(await f.request("/api/market/quotes/not%20a%20symbol").status == 400)
        #expect(await f.request("/api/market/quotes/ZZZZ").status == 404)
        await f.close()
    }

    @Test("trades: recent prints oldest first, limit validated")
    func trades() async throws {
        let f = try await Self.fixture()
        f.clock.advance(byMilliseconds: 60_000)
        let answer = await f.request("/api/market/trades/SPY", query: "limit=20")
        #expect(answer.status == 200, "\(answer.body.text.prefix(300))")
        #expect(answer.body["symbol"] == .string("SPY"))
        let trades = try #require(answer.body["trades"]?.array)
        #expect(trades.count <= 20)
        let times = trades.compactMap { $0["timestamp"]?.int64 }
        #expect(times == times.sorted())
        #expect(trades.allSatisfy { Self.keys($0) == ["price", "size", "exchange", "conditions", "timestamp"] })
        #expect(await f.request("/api/market/trades/SPY", query: "limit=0").status == 400)
        #expect(await f.request("/api/market/trades/SPY", query: "limit=5000").status == 400)
        #expect(await f.request("/api/market/trades/ZZZZ").status == 404)
        await f.close()
    }

    @Test("watchlist: one item per ticker; unknown and invalid tickers carry an error")
    func watchlist() async throws {
        let f = try await Self.fixture()
        let answer = await f.request("/api/market/watchlist", query: "tickers=spy,ZZZZ,$$$,SPY")
        #expect(answer.status == 200, "\(answer.body.text)")
        let items = try #require(answer.body["items"]?.array)
        #expect(items.map { $0["ticker"] } == [.string("SPY"), .string("ZZZZ"), .string("$$$")])
        #expect(items[0]["last"]?.double != nil && items[0]["error"] == nil)
        #expect(items[0]["freshness"] == .string("stale"))
        for key in ["change", "changePercent", "volume", "updatedAt"] { #expect(items[0][key] != nil, "\(key)") }
        #expect(items[1]["error"] == .string("not_found"))
        #expect(items[2]["error"] == .string("invalid_symbol"))
        #expect(await f.request("/api/market/watchlist").status == 400)
        let many = (0..<51).map { "T\($0)" }.joined(separator: ",")
        #expect(await f.request("/api/market/watchlist", query: "tickers=\(many)").status == 400)
        await f.close()
    }

    @Test("a rate-limited provider: 429 with Retry-After when nothing is cached, else the cached chain with a note")
    func rateLimited() async throws {
        let faults: JSONValue = .array([
            .object([
                ("kind", .string("rest-429")), ("atMs", .integer(0)), ("durationMs", .integer(3_600_000)),
                ("retryAfterMs", .integer(7_000)),
            ])
        ])
        let f = try await Self.fixture(faults: faults)
        let cold = await f.request("/api/market/options/chain/SPY", query: "expiration=2025-12-19")
        #expect(cold.status == 429)
        #expect(cold.headers.contains { $0.0 == "Retry-After" && $0.1 == "7" })
        #expect(await f.request("/api/market/options/expirations/SPY").status == 429)
        // A snapshot an earlier request stored, two minutes old.
        let contract = JSONValue.object([
            ("ticker", .string("O:SPY251219C00610000")), ("type", .string("call")), ("strike", .number(610)),
            ("expiration", .string("2025-12-19")), ("bid", .number(9.5)), ("ask", .number(9.9)),
        ])
        let document = JSONValue.object([
            ("underlying", .string("SPY")), ("underlyingPrice", .number(612)), ("contracts", .array([contract])),
        ])
        #expect(
            await f.runtime.cache.putChain(underlying: "SPY", expiration: "2025-12-19", json: document.bytes).isOK)
        f.clock.advance(byMilliseconds: 120_000)
        let cached = await f.request("/api/market/options/chain/SPY", query: "expiration=2025-12-19")
        #expect(cached.status == 200, "\(cached.body.text)")
        #expect(cached.body["source"] == .string("cache") && cached.body["health"] == .string("degraded"))
        #expect(cached.body["note"]?.string?.contains("Rate limited") == true)
        let leg = try #require(cached.body["expirations"]?[0]?["strikes"]?[0]?["call"])
        #expect(leg["bid"] == .number(9.5))
        #expect(leg["greeksSource"] == .string("computed") && leg["iv"]?.double != nil)
        #expect(await f.request("/api/market/quotes/SPY").status == 429)
        await f.close()
    }

    @Test("with the market closed, chain legs and router quotes are frozen")
    func frozenWhenClosed() async throws {
        let closed: JSONValue = .array([.object([("kind", .string("market-close")), ("atMs", .integer(0))])])
        let f = try await Self.fixture(faults: closed)
        let chain = await f.request("/api/market/options/chain/SPY", query: "strikes=1")
        #expect(chain.status == 200)
        #expect(chain.body["marketStatus"]?["market"] == .string("closed"))
        let leg = try #require(chain.body["expirations"]?[0]?["strikes"]?[1]?["call"])
        #expect(leg["freshness"] == .string("frozen"))
        // The router learns the provider's status from the watcher, though the calendar says open.
        let watcher = MarketStatusWatcher(status: f.runtime.marketStatus, router: f.runtime.quoteRouter, clock: f.clock)
        #expect(await watcher.refresh())
        let output = RecordingOutput()
        _ = await f.runtime.quoteRouter.subscribe(output: output, clientID: 1, arguments: .array([.string("SPY")]))
        f.runtime.core.receive(quotes: [
            Quote(
                symbol: "SPY", timestampNanoseconds: Self.mondayMorning * 1_000_000, bidPrice: 612, askPrice: 612.02,
                bidSize: 1, askSize: 1, sequence: Int64.max - 1)
        ])
        #expect(output.events("live:quote").last?.payload["freshness"] == .string("frozen"))
        let rest = await f.request("/api/market/quotes/SPY")
        #expect(rest.body["freshness"] == .string("frozen"))
        await f.close()
    }

    @Test("every option and snapshot route is documented in docs/openapi.yaml")
    func documented() throws {
        let spec = try String(contentsOfFile: TestSupport.packageRoot + "/docs/openapi.yaml", encoding: .utf8)
        for path in [
            "/api/market/options/chain/{ticker}", "/api/market/options/expirations/{ticker}",
            "/api/market/options/contracts/{symbol}", "/api/market/options/selection", "/api/market/quotes/{contract}",
            "/api/market/trades/{contract}", "/api/market/watchlist",
        ] {
            #expect(spec.contains("\n  \(path):\n"), "\(path) is missing from docs/openapi.yaml")
        }
    }
}
