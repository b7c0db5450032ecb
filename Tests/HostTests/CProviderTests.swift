import Host
import Logging
import PluginAPI
import PluginKit
import Synchronization
import Testing

/// Collects what a provider streams into the host.
final class StreamCollector: MarketDataSink {
    private let state = Mutex<(quotes: [Quote], states: [StreamState], failures: [String])>(([], [], []))

    func receive(quotes: [Quote]) { state.withLock { $0.quotes.append(contentsOf: quotes) } }
    func receive(trades: [Trade]) {}
    func receive(bars: [Bar]) {}
    func receive(state streamState: StreamState) { state.withLock { $0.states.append(streamState) } }
    func subscriptionFailed(symbol: String, channels: Channels, error: PluginError) {
        state.withLock { $0.failures.append(symbol) }
    }

    var quotes: [Quote] { state.withLock { $0.quotes } }
    var states: [StreamState] { state.withLock { $0.states } }
}

@Suite("A provider written in C")
struct CProviderTests {
    /// A running host with the C provider, MemoryCache and a do-nothing transport, on a manual clock.
    static func makeRuntime(intervalMs: Int64 = 100) throws -> (HostRuntime, ManualClock, StreamCollector, LogCollector)
    {
        let directory = try TestSupport.makeDirectory()
        let configuration = HostConfiguration(
            sourcePath: "test.yaml",
            provider: .init(
                plugin: try TestSupport.buildCProvider(in: directory),
                config: .object([("intervalMs", .integer(intervalMs))]),
                keyPath: "provider"
            ),
            cache: .init(plugin: try TestSupport.builtPlugin("MemoryCache"), keyPath: "cache"),
            transports: [
                .init(plugin: try TestSupport.buildFixture("NullTransport", in: directory), keyPath: "transports[0]")
            ]
        )
        let clock = ManualClock(wallNanoseconds: 1_741_359_600_000_000_000)
        let (logger, logs) = TestSupport.collectingLogger()
        let runtime = try HostRuntime(configuration: configuration, clock: clock, logger: logger)
        let collector = StreamCollector()
        runtime.core.addStreamObserver(collector)
        for entry in runtime.instances { try entry.instance.start() }
        return (runtime, clock, collector, logs)
    }

    @Test("its quotes reach the host through the sink, for subscribed symbols only")
    func quotesArrive() throws {
        let (runtime, clock, collector, logs) = try Self.makeRuntime()
        defer { for entry in runtime.instances.reversed() { entry.instance.destroy() } }
        clock.advance(byMilliseconds: 250)
        #expect(collector.quotes.isEmpty, "nothing is subscribed yet")

        try runtime.provider.subscribe(["AAPL", "O:SPY251219C00650000"], channels: [.quotes])
        clock.advance(byMilliseconds: 300)
        let quotes = collector.quotes
        #expect(quotes.count == 6, "two symbols, three 100 ms batches")
        #expect(Set(quotes.map(\.symbol)) == ["AAPL", "O:SPY251219C00650000"])
        #expect(quotes.map(\.sequence) == Array(1...6))
        let first = try #require(quotes.first)
        #expect(first.bidPrice == 100.01)
        #expect(abs(first.askPrice - 100.06) < 1e-9)
        #expect(first.bidSize == 10 && first.askSize == 12)
        #expect(quotes.allSatisfy { $0.timestampNanoseconds > 1_741_359_600_000_000_000 })

        try runtime.provider.unsubscribe(["AAPL"], channels: [.quotes])
        clock.advance(byMilliseconds: 200)
        #expect(collector.quotes.dropFirst(6).allSatisfy { $0.symbol == "O:SPY251219C00650000" })
        #expect(collector.quotes.count == 8)

        let started = logs.all.first { $0.message == "c-provider started" }
        #expect(
            started?.metadata["plugin"] == "example.c-provider", "plugin logs go through the host's logger, labelled")
    }

    @Test("after stop no more quotes arrive and the stream reports stopped")
    func stopQuiesces() throws {
        let (runtime, clock, collector, _) = try Self.makeRuntime()
        defer { for entry in runtime.instances.reversed() { entry.instance.destroy() } }
        try runtime.provider.subscribe(["MSFT"], channels: [.quotes])
        clock.advance(byMilliseconds: 100)
        #expect(collector.quotes.count == 1)
        runtime.provider.stop()
        clock.advance(byMilliseconds: 1_000)
        #expect(collector.quotes.count == 1)
        #expect(collector.states.last?.kind == .stopped)
        #expect(runtime.provider.health().state == .down)
    }

    @Test("its look-up answers through the exactly-once completion")
    func lastTrade() async throws {
        let (runtime, _, _, _) = try Self.makeRuntime()
        defer { for entry in runtime.instances.reversed() { entry.instance.destroy() } }
        let result = await runtime.provider.request(ProviderRequest(kind: .lastTrade, ticker: "AAPL"))
        #expect(result.isOK)
        let trade = try #require(result.trades.first)
        #expect(trade.symbol == "AAPL" && trade.price == 101.25 && trade.size == 10 && trade.conditions == [12])
        let unsupported = await runtime.provider.request(ProviderRequest(kind: .chainSnapshot, ticker: "SPY"))
        #expect(unsupported.status == mh_status(MH_UNSUPPORTED))
        #expect(unsupported.message.contains("refused"))
        let invalid = await runtime.provider.request(ProviderRequest(kind: .lastTrade, ticker: ""))
        #expect(invalid.status == mh_status(MH_INVALID))
        #expect(invalid.message == "ticker must be 1 to 64 bytes")
    }

    @Test("/health, /metrics and /openapi.yaml are served by the host")
    func hostRoutes() async throws {
        let (runtime, _, _, _) = try Self.makeRuntime()
        defer { for entry in runtime.instances.reversed() { entry.instance.destroy() } }
        let health = await runtime.core.handle(HTTPRequest(method: "GET", path: "/health"))
        #expect(health.status == 200)
        #expect(try JSONValue.parse(health.body)["status"] == .string("ok"))
        let metrics = await runtime.core.handle(HTTPRequest(method: "GET", path: "/metrics"))
        #expect(
            String(decoding: metrics.body, as: UTF8.self).contains(
                "markethub_plugin_health{plugin=\"example.c-provider\""))
        let spec = await runtime.core.handle(HTTPRequest(method: "GET", path: "/openapi.yaml"))
        #expect(spec.status == 200)
        #expect(String(decoding: spec.body, as: UTF8.self).contains("/api/market/aggs:"))
    }

    @Test("health aggregates every plugin")
    func health() throws {
        let (runtime, _, _, _) = try Self.makeRuntime()
        defer { for entry in runtime.instances.reversed() { entry.instance.destroy() } }
        let report = runtime.health()
        #expect(report.state == .ok)
        #expect(report.entries.map(\.id) == ["markethub.memory-cache", "example.c-provider", "test.fixture"])
        runtime.provider.stop()
        #expect(runtime.health().state == .down)
    }
}
