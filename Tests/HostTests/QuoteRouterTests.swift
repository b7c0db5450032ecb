import Host
import Logging
import MarketCalendar
import PluginKit
import Synchronization
import Testing

/// Records what the router sends, as a transport would receive it.
final class RecordingOutput: LiveOutput {
    struct Sent: Sendable {
        var kind: String
        var target: String
        var event: String
        var payload: JSONValue
        var conflationKey: String
    }

    private let log = Mutex<[Sent]>([])

    var all: [Sent] { log.withLock { $0 } }

    func events(_ event: String) -> [Sent] { all.filter { $0.event == event } }

    private func record(
        _ kind: String, _ target: String, _ event: String, _ payload: [UInt8], _ key: String
    ) -> PluginError? {
        let value = (try? JSONValue.parse(payload)) ?? .string("<invalid JSON>")
        log.withLock { $0.append(Sent(kind: kind, target: target, event: event, payload: value, conflationKey: key)) }
        return nil
    }

    func publish(room: String, event: String, payload: [UInt8], conflationKey: String) -> PluginError? {
        record("publish", room, event, payload, conflationKey)
    }

    func send(clientID: UInt64, event: String, payload: [UInt8]) -> PluginError? {
        record("send", String(clientID), event, payload, "")
    }

    func join(clientID: UInt64, room: String) -> PluginError? { record("join", String(clientID), room, [], "") }

    func leave(clientID: UInt64, room: String) -> PluginError? { record("leave", String(clientID), room, [], "") }
}

/// The real provider behind a counter of upstream calls.
final class CountingUpstream: UpstreamSubscriptions {
    let provider: ProviderPlugin
    private let counts = Mutex<(subscribes: [String], unsubscribes: [String])>(([], []))

    init(_ provider: ProviderPlugin) { self.provider = provider }

    var subscribes: [String] { counts.withLock { $0.subscribes } }
    var unsubscribes: [String] { counts.withLock { $0.unsubscribes } }

    func subscribe(_ symbols: [String], channels: Channels) throws(PluginError) {
        try provider.subscribe(symbols, channels: channels)
        counts.withLock { $0.subscribes += symbols }
    }

    func unsubscribe(_ symbols: [String], channels: Channels) throws(PluginError) {
        try provider.unsubscribe(symbols, channels: channels)
        counts.withLock { $0.unsubscribes += symbols }
    }
}

@Suite("Quote router")
struct QuoteRouterTests {
    /// Wednesday 2025-03-05 15:00 UTC = 10:00 New York: the market is open.
    static let open: Int64 = 1_741_186_800_000
    /// Saturday 2025-03-08 15:00 UTC.
    static let weekend: Int64 = 1_741_446_000_000

    struct Fixture {
        let runtime: HostRuntime
        let clock: ManualClock
        let upstream: CountingUpstream
        let router: QuoteRouter
        let output = RecordingOutput()

        func subscribe(_ client: UInt64, _ symbol: String) async -> JSONValue {
            await router.subscribe(
                output: output, clientID: client, arguments: .array([.object([("symbol", .string(symbol))])]))
        }

        func unsubscribe(_ client: UInt64, _ symbol: String) -> JSONValue {
            router.unsubscribe(
                output: output, clientID: client, arguments: .array([.object([("symbol", .string(symbol))])]))
        }

        func close() { for entry in runtime.instances.reversed() { entry.instance.destroy() } }
    }

    static func fixture(at wall: Int64 = open, limits: QuoteRouter.Limits = .init()) throws -> Fixture {
        let directory = try TestSupport.makeDirectory()
        let configuration = HostConfiguration(
            sourcePath: "test.yaml",
            provider: .init(
                plugin: try TestSupport.buildCProvider(in: directory), config: .object([("intervalMs", .integer(100))]),
                keyPath: "provider"
            ),
            cache: .init(plugin: try TestSupport.builtPlugin("MemoryCache"), keyPath: "cache"),
            transports: []
        )
        let clock = ManualClock(wallNanoseconds: wall * 1_000_000)
        let runtime = try HostRuntime(configuration: configuration, clock: clock, logger: Logger(label: "test"))
        for entry in runtime.instances { try entry.instance.start() }
        let upstream = CountingUpstream(runtime.provider)
        let router = QuoteRouter(
            upstream: upstream, clock: clock, logger: Logger(label: "test"), metrics: MetricsRegistry(), limits: limits)
        runtime.core.addStreamObserver(router)
        return Fixture(runtime: runtime, clock: clock, upstream: upstream, router: router)
    }

    @Test("two clients on one symbol make one upstream subscription, released when both leave")
    func referenceCounting() async throws {
        let f = try Self.fixture()
        defer { f.close() }
        #expect(await f.subscribe(1, "spy")[0]?["ok"] == .bool(true))
        #expect(await f.subscribe(2, "SPY")[0]?["ok"] == .bool(true))
        #expect(f.upstream.subscribes == ["SPY"], "the second subscriber reuses the upstream subscription")
        #expect(f.router.subscriberCount("SPY") == 2)
        #expect(f.output.all.filter { $0.kind == "join" }.map(\.event) == ["live:SPY", "live:SPY"])
        _ = f.unsubscribe(1, "SPY")
        #expect(f.upstream.unsubscribes.isEmpty, "one client still wants SPY")
        _ = f.unsubscribe(2, "SPY")
        #expect(f.upstream.unsubscribes == ["SPY"])
        #expect(f.router.upstreamSymbols.isEmpty)
    }

    @Test("a disconnect releases everything the client held")
    func disconnectReleases() async throws {
        let f = try Self.fixture()
        defer { f.close() }
        _ = await f.subscribe(7, "AAPL")
        _ = await f.subscribe(7, "O:SPY251219C00650000")
        _ = await f.subscribe(8, "AAPL")
        f.router.release(output: f.output, clientID: 7)
        #expect(Set(f.upstream.unsubscribes) == ["O:SPY251219C00650000"])
        #expect(f.router.upstreamSymbols == ["AAPL"])
    }

    @Test("provider quotes are published once per room with the symbol as conflation key")
    func quotesFlow() async throws {
        let f = try Self.fixture()
        defer { f.close() }
        _ = await f.subscribe(1, "MSFT")
        f.clock.advance(byMilliseconds: 300)
        let published = f.output.all.filter { $0.kind == "publish" && $0.event == "live:quote" }
        #expect(published.count == 3)
        let first = try #require(published.first)
        #expect(first.target == "live:MSFT" && first.conflationKey == "MSFT")
        #expect(first.payload["symbol"] == .string("MSFT"))
        #expect(first.payload["bid"] == .number(100.01))
        #expect(first.payload["midpoint"]?.double.map { abs($0 - 100.035) < 1e-9 } == true)
        #expect(first.payload["freshness"] == .string("live"))
        #expect(first.payload["crossed"] == .bool(false))
        #expect(first.payload["sequence"] == .integer(1))
    }

    @Test("a new subscriber gets the last quote at once; an unsubscribed symbol is not published")
    func snapshotOnSubscribe() async throws {
        let f = try Self.fixture()
        defer { f.close() }
        _ = await f.subscribe(1, "NVDA")
        f.clock.advance(byMilliseconds: 100)
        _ = await f.subscribe(2, "NVDA")
        let snapshot = f.output.all.filter { $0.kind == "send" && $0.target == "2" && $0.event == "live:quote" }
        #expect(snapshot.count == 1)
        #expect(snapshot.first?.payload["symbol"] == .string("NVDA"))
        f.router.receive(quotes: [
            Quote(symbol: "TSLA", timestampNanoseconds: 1, bidPrice: 1, askPrice: 2, bidSize: 1, askSize: 1)
        ])
        #expect(!f.output.all.contains { $0.payload["symbol"] == .string("TSLA") })
    }

    @Test("an older sequence is ignored; crossed, locked and zero quotes are flagged, not dropped")
    func quoteHygiene() async throws {
        let f = try Self.fixture()
        defer { f.close() }
        _ = await f.subscribe(1, "IWM")
        func quote(_ bid: Double, _ ask: Double, _ sequence: Int64) -> Quote {
            Quote(
                symbol: "IWM", timestampNanoseconds: Self.open * 1_000_000, bidPrice: bid, askPrice: ask, bidSize: 1,
                askSize: 1, sequence: sequence)
        }
        f.router.receive(quotes: [
            quote(10, 10.1, 5), quote(9, 9.1, 4), quote(10.2, 10.1, 6), quote(10.1, 10.1, 7), quote(0, 10.1, 8),
        ])
        let published = f.output.all.filter { $0.kind == "publish" }.map(\.payload)
        #expect(published.map { $0["sequence"] } == [.integer(5), .integer(6), .integer(7), .integer(8)])
        #expect(published[1]["crossed"] == .bool(true))
        #expect(published[2]["locked"] == .bool(true))
        #expect(published[3]["zero"] == .bool(true))
        #expect(published[3]["midpoint"] == .null)
    }

    @Test("quotes are marked frozen while the market is closed")
    func frozenWhenClosed() async throws {
        let f = try Self.fixture(at: Self.weekend)
        defer { f.close() }
        _ = await f.subscribe(1, "SPY")
        f.clock.advance(byMilliseconds: 100)
        #expect(f.output.events("live:quote").first?.payload["freshness"] == .string("frozen"))
    }

    @Test("the provider's market status wins over the calendar: a replayed open session is live on a weekend")
    func providerStatusWinsOverCalendar() async throws {
        let f = try Self.fixture(at: Self.weekend)
        defer { f.close() }
        f.router.setMarketClosed(false)
        _ = await f.subscribe(1, "SPY")
        f.clock.advance(byMilliseconds: 100)
        #expect(f.output.events("live:quote").first?.payload["freshness"] == .string("live"))
        f.router.setMarketClosed(true)
        f.clock.advance(byMilliseconds: 100)
        #expect(f.output.events("live:quote").last?.payload["freshness"] == .string("frozen"))
    }

    @Test("invalid symbols, per-client limits and the option quote cap answer live:error")
    func refusals() async throws {
        var limits = QuoteRouter.Limits()
        limits.maximumSubscriptionsPerClient = 2
        limits.maximumOptionQuoteSubscriptions = 1
        let f = try Self.fixture(limits: limits)
        defer { f.close() }
        let invalid = await f.subscribe(1, "not a symbol!")
        #expect(invalid[0]?["error"] == .string("invalid_symbol"))
        #expect(f.output.events("live:error").last?.payload["code"] == .string("invalid_symbol"))
        _ = await f.subscribe(1, "O:SPY251219C00650000")
        let cap = await f.subscribe(2, "O:SPY251219P00600000")
        #expect(cap[0]?["error"] == .string("limit_exceeded"))
        #expect(cap[0]?["message"]?.string?.contains("option quote subscriptions") == true)
        _ = await f.subscribe(1, "SPY")
        let limit = await f.subscribe(1, "QQQ")
        #expect(limit[0]?["error"] == .string("limit_exceeded"))
        #expect(f.upstream.subscribes == ["O:SPY251219C00650000", "SPY"])
        let missing = await f.router.subscribe(output: f.output, clientID: 3, arguments: .array([]))
        #expect(missing[0]?["error"] == .string("invalid_request"))
    }

    @Test("an upstream refusal reaches every subscriber and frees the symbol")
    func upstreamRefusal() async throws {
        let f = try Self.fixture()
        defer { f.close() }
        _ = await f.subscribe(1, "AMD")
        _ = await f.subscribe(2, "AMD")
        f.router.subscriptionFailed(symbol: "AMD", channels: [.quotes], error: .notEntitled("not in your plan"))
        let errors = f.output.events("live:error")
        #expect(Set(errors.map(\.target)) == ["1", "2"])
        #expect(errors.first?.payload["code"] == .string("not_entitled"))
        #expect(f.router.upstreamSymbols.isEmpty)
    }

    @Test("last quotes are written to the cache and recovered by a new router")
    func persistence() async throws {
        let f = try Self.fixture()
        defer { f.close() }
        _ = await f.subscribe(1, "QQQ")
        f.clock.advance(byMilliseconds: 100)
        let service = QuotePersistenceService(
            router: f.router, cache: f.runtime.cache, clock: f.clock, logger: Logger(label: "test"))
        #expect(await service.flush() == 1)
        #expect(await service.flush() == 0, "nothing changed since")
        let recovered = QuoteRouter(
            upstream: f.upstream, clock: f.clock, logger: Logger(label: "test"), metrics: MetricsRegistry(),
            recall: { symbols in await f.runtime.cache.getLastQuotes(symbols).lastQuotes }
        )
        let output = RecordingOutput()
        _ = await recovered.subscribe(output: output, clientID: 9, arguments: .array([.string("QQQ")]))
        let snapshot = try #require(output.events("live:quote").first)
        #expect(snapshot.payload["bid"] == .number(100.01))
    }

    @Test("a symbol nobody holds is forgotten once its last quote is persisted")
    func forgetsReleasedSymbols() async throws {
        let f = try Self.fixture()
        defer { f.close() }
        _ = await f.subscribe(1, "QQQ")
        f.clock.advance(byMilliseconds: 100)
        _ = f.unsubscribe(1, "QQQ")
        #expect(f.router.lastQuote("QQQ") != nil, "kept until it is in the cache")
        let service = QuotePersistenceService(
            router: f.router, cache: f.runtime.cache, clock: f.clock, logger: Logger(label: "test"))
        #expect(await service.flush() == 1)
        #expect(f.router.lastQuote("QQQ") == nil)
        #expect(await f.runtime.cache.getLastQuotes(["QQQ"]).lastQuotes.count == 1)
    }

    @Test("a symbol that goes quiet is republished once as stale, and is live again with the next quote")
    func staleAfterSilence() async throws {
        let f = try Self.fixture()
        defer { f.close() }
        _ = await f.subscribe(1, "IWM")
        f.clock.advance(byMilliseconds: 100)
        #expect(f.output.events("live:quote").last?.payload["freshness"] == .string("live"))
        // The upstream goes silent for IWM while a client still holds it.
        try f.runtime.provider.unsubscribe(["IWM"], channels: QuoteRouter.channels)
        f.clock.advance(byMilliseconds: 10_000)
        #expect(f.router.publishStale() == 0, "not stale yet")
        f.clock.advance(byMilliseconds: 6_000)
        #expect(f.router.publishStale() == 1)
        let stale = try #require(f.output.events("live:quote").last)
        #expect(stale.kind == "publish" && stale.target == "live:IWM" && stale.conflationKey == "IWM")
        #expect(stale.payload["freshness"] == .string("stale"))
        #expect(f.router.publishStale() == 0, "announced once per quiet spell")
        f.router.receive(quotes: [
            Quote(symbol: "IWM", timestampNanoseconds: 1, bidPrice: 200, askPrice: 200.02, bidSize: 1, askSize: 1)
        ])
        #expect(f.output.events("live:quote").last?.payload["freshness"] == .string("live"))
        f.clock.advance(byMilliseconds: 16_000)
        #expect(f.router.publishStale() == 1)
    }
}
