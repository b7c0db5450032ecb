import FakeMassive
import Foundation
import MassiveClient
import PluginAPI
import PluginKit
import ReplayEngine
import Synchronization
import Testing

/// The WebSocket side of the provider against the fake vendor over real sockets.
@Suite("Massive stream", .serialized)
struct MassiveStreamTests {
    static func quote(_ symbol: String, t: Int64, bid: Double = 100, q: Int64 = 1) -> JSONValue {
        .object([
            ("ev", .string("Q")), ("sym", .string(symbol)), ("bx", .integer(11)), ("ax", .integer(19)),
            ("bp", .number(bid)), ("ap", .number(bid + 0.02)), ("bs", .integer(2)), ("as", .integer(3)),
            ("t", .integer(t)), ("q", .integer(q)),
        ])
    }

    static func trade(_ symbol: String, t: Int64) -> JSONValue {
        .object([
            ("ev", .string("T")), ("sym", .string(symbol)), ("x", .integer(4)), ("p", .number(100.01)),
            ("s", .integer(100)), ("c", .array([.integer(14)])), ("t", .integer(t)), ("q", .integer(9)),
            ("i", .string("5298")),
        ])
    }

    @Test("connect, authenticate, one subscribe message per burst, acknowledgements tracked, frames decoded")
    func subscribeAndStream() async throws {
        let fake = try await RunningFake.start()
        let sink = CollectingSink()
        let core = makeCore(fake.configuration(), sink: sink)
        try core.subscribe(["SPY"], channels: [.quotes, .trades])
        try core.subscribe(["QQQ"], channels: [.quotes])
        try core.subscribe(["SPY"], channels: [.quotes])  // idempotent
        let stocks = try #require(core.feed(.stocks))
        try await eventually("acknowledgements") { stocks.acknowledgedItems == ["Q.SPY", "T.SPY", "Q.QQQ"] }
        let messages = fake.server.clientMessages("stocks")
        #expect(messages.first == #"{"action":"auth","params":"<key>"}"#)
        #expect(messages.filter { $0.contains("subscribe") }.count == 1, "\(messages)")
        #expect(messages.last?.contains("Q.QQQ,Q.SPY,T.SPY") == true)
        #expect(
            sink.snapshot.states.contains { $0.kind == .live && $0.feed == "stocks" && $0.gapFromMilliseconds == 0 })

        fake.server.publish(
            feed: "stocks", events: [Self.quote("SPY", t: 1_765_208_712_345), Self.trade("SPY", t: 1_765_208_712_400)])
        try await eventually("a quote and a trade") {
            sink.snapshot.quotes.count == 1 && sink.snapshot.trades.count == 1
        }
        let quote = sink.snapshot.quotes[0]
        #expect(quote.timestampNanoseconds == 1_765_208_712_345_000_000, "stream milliseconds become nanoseconds")
        #expect(quote.bidSize == 200 && quote.askSize == 300, "stock quote sizes arrive in round lots")
        #expect(quote.bidExchange == 11 && quote.sequence == 1)
        #expect(sink.snapshot.trades[0].conditions == [14] && sink.snapshot.trades[0].tradeID == "5298")

        core.unsubscribe(["QQQ"], channels: .quotes)
        try await eventually("unsubscribe acknowledged") { stocks.acknowledgedItems == ["Q.SPY", "T.SPY"] }
        #expect(fake.server.clientMessages("stocks").last == #"{"action":"unsubscribe","params":"Q.QQQ"}"#)
        #expect(fake.server.connectionsOpened("stocks") == 1)
        #expect(fake.server.connectionsOpened("options") == 0, "feeds connect lazily")
        await core.stopAsync()
        await fake.stop()
    }

    @Test(
        "a dropped connection reconnects, re-authenticates, restores every subscription exactly once and reports the gap"
    )
    func reconnect() async throws {
        let fake = try await RunningFake.start()
        let sink = CollectingSink()
        let observer = CollectingObserver()
        let core = makeCore(fake.configuration(), sink: sink, observer: observer)
        try core.subscribe(["SPY", "QQQ"], channels: [.quotes])
        try core.subscribe(["O:SPY251219C00650000"], channels: [.quotes, .trades])
        let stocks = try #require(core.feed(.stocks))
        let options = try #require(core.feed(.options))
        try await eventually("both feeds subscribed") {
            stocks.acknowledgedItems.count == 2 && options.acknowledgedItems.count == 2
        }
        fake.server.publish(feed: "stocks", events: [Self.quote("SPY", t: 1_000)])
        try await eventually("first quote") { sink.snapshot.quotes.count == 1 }

        fake.server.dropConnections(feed: "stocks")
        try await eventually("reconnected") {
            fake.server.connectionsOpened("stocks") == 2 && stocks.acknowledgedItems.count == 2
        }
        // Exactly one connection, subscribed to exactly what is wanted.
        #expect(fake.server.subscriptions("stocks") == [["Q.SPY", "Q.QQQ"]])
        let messages = fake.server.clientMessages("stocks")
        #expect(messages.filter { $0.contains("auth") }.count == 2)
        #expect(
            messages.filter { $0.contains("\"subscribe\"") }.count == 2, "one subscribe per connection: \(messages)")
        #expect(messages.last == #"{"action":"subscribe","params":"Q.QQQ,Q.SPY"}"#)
        let states = sink.snapshot.states.filter { $0.feed == "stocks" }
        #expect(states.contains { $0.kind == .connecting && $0.reason.contains("disconnected") })
        let recovery = try #require(states.last { $0.kind == .live })
        #expect(recovery.gapFromMilliseconds > 0 && recovery.gapToMilliseconds >= recovery.gapFromMilliseconds)
        #expect(observer.all.contains("reconnect feed=stocks"))
        // The options feed was not touched.
        #expect(fake.server.connectionsOpened("options") == 1)
        fake.server.publish(feed: "stocks", events: [Self.quote("QQQ", t: 2_000)])
        try await eventually("streaming again") { sink.snapshot.quotes.count == 2 }
        await core.stopAsync()
        await fake.stop()
    }

    @Test("keepalive: a peer that stops answering pings is dropped and replaced; one that answers is kept")
    func keepalivePings() async throws {
        var behaviour = FakeMassiveServer.Behaviour()
        // The half-dead connection stays open on the server's side, as it would at the vendor until its own
        // timeout; the limit would refuse the replacement meanwhile, which is not what this test is about.
        behaviour.enforceConnectionLimit = false
        let fake = try await RunningFake.start(behaviour: behaviour)
        let sink = CollectingSink()
        // Half a second per period: a pong delayed by a loaded machine (the whole suite runs in parallel on two
        // cores) must not count as a dead peer.
        let core = makeCore(fake.configuration { $0.pingIntervalMilliseconds = 500 }, sink: sink)
        try core.subscribe(["SPY"], channels: .quotes)
        let stocks = try #require(core.feed(.stocks))
        try await eventually("subscribed") { stocks.acknowledgedItems == ["Q.SPY"] && stocks.phase == .live }
        // A peer that answers: five ping periods pass on one connection.
        try await Task.sleep(for: .milliseconds(2_500))
        #expect(fake.server.connectionsOpened("stocks") == 1 && stocks.phase == .live)

        // From now on the server goes quiet on the next connection once it is subscribed.
        fake.server.update { $0.unresponsiveAfterAuth = true }
        fake.server.dropConnections(feed: "stocks")
        try await eventually("the quiet connection subscribed") { fake.server.connectionsOpened("stocks") == 2 }
        // The client notices the missing pongs (one period to ping, one to wait for the pong) and replaces it.
        try await eventually("the unanswered pings end the connection", seconds: 15) {
            fake.server.connectionsOpened("stocks") >= 3
        }
        fake.server.update { $0.unresponsiveAfterAuth = false }
        // A connection that went quiet before the switch was cleared is dropped within two periods too.
        try await Task.sleep(for: .milliseconds(1_000))
        try await eventually("live again", seconds: 15) {
            stocks.phase == .live && stocks.acknowledgedItems == ["Q.SPY"]
        }
        let settled = fake.server.connectionsOpened("stocks")
        try await Task.sleep(for: .milliseconds(1_000))
        #expect(fake.server.connectionsOpened("stocks") == settled, "the answering replacement is kept")
        let states = sink.snapshot.states.filter { $0.feed == "stocks" }
        #expect(states.filter { $0.kind == .connecting }.count >= 2, "each lost connection is reported: \(states)")
        // Published again until it arrives: on a loaded machine a connection that went quiet may still be the
        // current one here and be replaced meanwhile, taking a single quote with it (seen once in CI).
        try await eventually("streaming on the replacement", seconds: 15) {
            guard sink.snapshot.quotes.isEmpty else { return true }
            fake.server.publish(feed: "stocks", events: [Self.quote("SPY", t: 5_000)])
            return false
        }
        await core.stopAsync()
        await fake.stop()
    }

    @Test("the server going away entirely: backoff retries until it is back")
    func serverRestart() async throws {
        let first = try await RunningFake.start()
        let port = first.port
        let sink = CollectingSink()
        let core = makeCore(first.configuration())
        let stocks = try #require(core.feed(.stocks))
        try core.subscribe(["SPY"], channels: .quotes)
        try await eventually("subscribed") { stocks.acknowledgedItems == ["Q.SPY"] }
        await first.stop()
        try await eventually("reconnecting") { stocks.phase == .connecting }
        try await Task.sleep(for: .milliseconds(600))
        let second = try await RunningFake.start(port: port)
        try await eventually("back and subscribed") { stocks.acknowledgedItems == ["Q.SPY"] && stocks.phase == .live }
        #expect(second.server.subscriptions("stocks") == [["Q.SPY"]])
        _ = sink
        await core.stopAsync()
        await second.stop()
    }

    @Test("auth_failed is fatal: FAILED with the vendor's message and no reconnect storm")
    func authFailure() async throws {
        var behaviour = FakeMassiveServer.Behaviour()
        behaviour.authFailure = true
        let fake = try await RunningFake.start(behaviour: behaviour)
        let sink = CollectingSink()
        let core = makeCore(fake.configuration(), sink: sink)
        try core.subscribe(["SPY"], channels: .quotes)
        try await eventually("failed") { sink.snapshot.states.contains { $0.kind == .failed } }
        let failed = try #require(sink.snapshot.states.first { $0.kind == .failed })
        #expect(failed.reason.contains("auth_failed") && failed.reason.contains("authentication failed"))
        try await Task.sleep(for: .milliseconds(800))
        #expect(fake.server.connectionsOpened("stocks") == 1, "no retries after auth_failed")
        #expect(core.health().0 == mh_health_state(MH_HEALTH_DOWN))
        try core.subscribe(["QQQ"], channels: .quotes)
        #expect(sink.snapshot.subscriptionErrors.contains { $0.symbol == "QQQ" && $0.message.contains("auth_failed") })
        await core.stopAsync()
        await fake.stop()
    }

    @Test("max_connections is reported clearly and is not retried")
    func maxConnections() async throws {
        let fake = try await RunningFake.start()
        let firstSink = CollectingSink()
        let first = makeCore(fake.configuration(), sink: firstSink)
        try first.subscribe(["SPY"], channels: .quotes)
        try await eventually("first live") { first.feed(.stocks)?.acknowledgedItems == ["Q.SPY"] }
        let sink = CollectingSink()
        let second = makeCore(fake.configuration(), sink: sink)
        try second.subscribe(["QQQ"], channels: .quotes)
        try await eventually("second failed") { sink.snapshot.states.contains { $0.kind == .failed } }
        let failed = try #require(sink.snapshot.states.first { $0.kind == .failed })
        #expect(failed.reason.contains("max_connections") && failed.reason.contains("Maximum number of websocket"))
        try await Task.sleep(for: .milliseconds(500))
        #expect(fake.server.connectionsOpened("stocks") == 2)
        #expect(first.feed(.stocks)?.phase == .live, "the first connection keeps streaming")
        await second.stopAsync()
        await first.stopAsync()
        await fake.stop()
    }

    @Test("the 1,000 option quote cap is refused clearly; other channels still subscribe")
    func optionQuoteCap() async throws {
        let fake = try await RunningFake.start()
        let sink = CollectingSink()
        let core = makeCore(fake.configuration { $0.subscribeBatchMilliseconds = 50 }, sink: sink)
        let contracts = (0..<1_001).map { String(format: "O:SPY251219C%08d", 100_000 + $0 * 1_000) }
        try core.subscribe(contracts, channels: [.quotes, .trades])
        let options = try #require(core.feed(.options))
        try await eventually("subscribed", seconds: 20) { options.acknowledgedItems.count == 2_001 }
        let errors = sink.snapshot.subscriptionErrors
        #expect(errors.count == 1, "\(errors.map(\.symbol))")
        #expect(errors.allSatisfy { $0.status == mh_status(MH_LIMIT_EXCEEDED) && $0.channels == .quotes })
        #expect(errors.contains { $0.symbol == contracts[1_000] && $0.message.contains("1000") })
        #expect(options.acknowledgedItems.filter { $0.hasPrefix("Q.") }.count == 1_000)
        #expect(options.acknowledgedItems.contains("T.\(contracts[1_000])"))
        await core.stopAsync()
        await fake.stop()
    }

    @Test("a malformed frame is logged and skipped; the stream continues")
    func malformedFrame() async throws {
        let fake = try await RunningFake.start()
        let sink = CollectingSink()
        let logs = LogLines()
        let observer = CollectingObserver()
        let core = makeCore(fake.configuration(), sink: sink, logs: logs, observer: observer)
        try core.subscribe(["SPY"], channels: .quotes)
        try await eventually("subscribed") { core.feed(.stocks)?.acknowledgedItems == ["Q.SPY"] }
        fake.server.publishRaw(feed: "stocks", text: #"[{"ev":"Q","sym":"#)
        fake.server.publishRaw(feed: "stocks", text: #"[{"ev":"Q","sym":"SPY","bp":"oops","t":5}]"#)
        fake.server.publish(feed: "stocks", events: [Self.quote("SPY", t: 3_000)])
        try await eventually("the next good quote") { sink.snapshot.quotes.count == 1 }
        #expect(logs.all.filter { $0.contains("frame skipped") }.count == 2)
        #expect(observer.all.filter { $0 == "malformed feed=stocks" }.count == 2)
        #expect(core.feed(.stocks)?.phase == .live)
        await core.stopAsync()
        await fake.stop()
    }

    @Test("after stop, nothing reaches the sink")
    func stopSilences() async throws {
        let fake = try await RunningFake.start()
        let sink = CollectingSink()
        let core = makeCore(fake.configuration(), sink: sink)
        try core.subscribe(["SPY"], channels: .quotes)
        try await eventually("subscribed") { core.feed(.stocks)?.acknowledgedItems == ["Q.SPY"] }
        await core.stopAsync()
        let count = sink.snapshot.quotes.count + sink.snapshot.states.count
        fake.server.publish(feed: "stocks", events: [Self.quote("SPY", t: 4_000)])
        try await Task.sleep(for: .milliseconds(200))
        #expect(sink.snapshot.quotes.count + sink.snapshot.states.count == count)
        #expect(throws: PluginError.self) { try core.subscribe(["SPY"], channels: .quotes) }
        await fake.stop()
    }
}

/// The fake's switches as a client meets them over time: a 429 window, slow frames, periodic malformed frames.
@Suite("Massive fake switches", .serialized)
struct MassiveSwitchTests {
    @Test("a 429 window: rate limited with the header's retry-after until the window closes, then answers")
    func rateLimitWindow() async throws {
        let fake = try await RunningFake.start()
        // The window stays open until the first answer is in (a busy machine may take seconds to get there),
        // then closes 300 ms later.
        fake.server.update {
            $0.rateLimitedUntil = ContinuousClock.now + .seconds(3_600)
            $0.retryAfterSeconds = 1
        }
        let core = makeCore(fake.configuration())
        let request = LookupRequest(kind: UInt32(MH_REQUEST_MARKET_STATUS), ticker: "")
        let first = await core.lookup(request)
        #expect(first.status == mh_status(MH_RATE_LIMITED) && first.retryAfterMilliseconds == 1_000)
        fake.server.update { $0.rateLimitedUntil = ContinuousClock.now + .milliseconds(300) }
        try await Task.sleep(for: .milliseconds(400))
        let later = await core.lookup(request)
        #expect(later.isOK, "\(later.message)")
        await core.stopAsync()
        await fake.stop()
    }

    @Test("slow frames arrive late but in order; every third frame malformed is skipped and the rest decoded")
    func slowAndMalformedFrames() async throws {
        let fake = try await RunningFake.start()
        let sink = CollectingSink()
        let logs = LogLines()
        let core = makeCore(fake.configuration(), sink: sink, logs: logs)
        try core.subscribe(["SPY"], channels: .quotes)
        try await eventually("subscribed") { core.feed(.stocks)?.acknowledgedItems == ["Q.SPY"] }
        fake.server.update {
            $0.frameDelayMilliseconds = 30
            $0.malformedEvery = 3
        }
        let started = ContinuousClock.now
        for index in 0..<9 {
            fake.server.publish(
                feed: "stocks", events: [MassiveStreamTests.quote("SPY", t: 10_000 + Int64(index), q: Int64(index))])
        }
        try await eventually("six good quotes") { sink.snapshot.quotes.count == 6 }
        // The last good quote is the eighth frame: at least seven 30 ms gaps after the first.
        #expect(ContinuousClock.now - started >= .milliseconds(7 * 30), "frames 30 ms apart")
        #expect(sink.snapshot.quotes.map(\.sequence) == [0, 1, 3, 4, 6, 7])
        try await eventually("the third malformed frame") {
            logs.all.filter { $0.contains("frame skipped") }.count == 3
        }
        #expect(core.feed(.stocks)?.phase == .live)
        await core.stopAsync()
        await fake.stop()
    }
}
