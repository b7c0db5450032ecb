import FakeMassive
import Foundation
import MassiveClient
import MassiveWire
import PluginAPI
import PluginKit
import ReplayEngine
import Synchronization
import Testing

/// The REST side of the provider against the fake vendor over real sockets.
@Suite("Massive REST", .serialized)
struct MassiveRESTTests {
    static let day: Int64 = 86_400_000
    /// 2025-12-01 05:00Z: midnight New York, like the vendor's daily bars.
    static let firstBar: Int64 = 1_764_565_200_000

    static func aggregates(_ ticker: String, from: Int64, to: Int64, limit: UInt32 = 0) -> LookupRequest {
        LookupRequest(
            kind: UInt32(MH_REQUEST_AGGREGATES), ticker: ticker, multiplier: 1, timespan: Timespan.day.rawValue,
            fromMilliseconds: from, toMilliseconds: to, limit: limit)
    }

    @Test("aggregates follow next_url across three pages, keep millisecond bar times and send the key only as a header")
    func pagination() async throws {
        var data = RunningFake.defaultData
        data.setBars(
            "PAGE", multiplier: 1, timespan: "day",
            entries: (0..<9).map { vendorBar(Self.firstBar + Int64($0) * Self.day, close: 100 + Double($0)) })
        var behaviour = FakeMassiveServer.Behaviour()
        behaviour.pageSize = 3
        let fake = try await RunningFake.start(data: data, behaviour: behaviour)
        let core = makeCore(fake.configuration())
        let result = await core.lookup(Self.aggregates("PAGE", from: Self.firstBar, to: Self.firstBar + 20 * Self.day))
        #expect(result.isOK, "\(result.message)")
        #expect(result.bars.count == 9)
        #expect(result.bars.map(\.startMilliseconds) == (0..<9).map { Self.firstBar + Int64($0) * Self.day })
        #expect(result.bars.last?.close == 108)
        #expect(result.bars.first?.vwap == 100 && result.bars.first?.transactions == 12)
        let calls = fake.server.requests.filter { $0.path.hasPrefix("/v2/aggs/ticker/PAGE/") }
        #expect(calls.count == 3, "three pages: \(calls.map(\.path))")
        #expect(calls.allSatisfy { $0.authorization == "bearer" && $0.status == 200 })
        // The second page's path restarts `from` at the next bar, in milliseconds, like the vendor's.
        #expect(calls.dropFirst().first?.path.contains("/\(Self.firstBar + 3 * Self.day)/") == true)
        // A limit stops early.
        let limited = await core.lookup(
            Self.aggregates("PAGE", from: Self.firstBar, to: Self.firstBar + 20 * Self.day, limit: 4))
        #expect(limited.bars.count == 4, "\(limited.message)")
        await core.stopAsync()
        await fake.stop()
    }

    @Test("tick and snapshot nanoseconds become the ABI's units; stock quote sizes stay in shares")
    func units() async throws {
        let fake = try await RunningFake.start()
        let core = makeCore(fake.configuration())
        let quotes = await core.lookup(
            LookupRequest(kind: UInt32(MH_REQUEST_QUOTES), ticker: "SPY", limit: 5))
        #expect(quotes.isOK, "\(quotes.message)")
        #expect(quotes.quotes.count == 5)
        let times = quotes.quotes.map(\.timestampNanoseconds)
        #expect(times == times.sorted(by: >), "newest first")
        // Nanoseconds since the epoch for a 2025 session: 19 digits.
        #expect(times.allSatisfy { $0 > 1_700_000_000_000_000_000 && $0 < 1_800_000_000_000_000_000 })
        let trades = await core.lookup(LookupRequest(kind: UInt32(MH_REQUEST_TRADES), ticker: "SPY", limit: 3))
        #expect(trades.trades.count == 3)
        let last = await core.lookup(LookupRequest(kind: UInt32(MH_REQUEST_LAST_TRADE), ticker: "SPY"))
        #expect(last.isOK, "\(last.message)")
        let trade = try #require(last.trades.first)
        #expect(trade.timestampNanoseconds == trades.trades.first?.timestampNanoseconds)
        #expect(last.updatedMilliseconds == trade.timestampNanoseconds / 1_000_000)
        // The contract snapshot's `last_updated` (ns) becomes updatedMs.
        let chain = await core.lookup(LookupRequest(kind: UInt32(MH_REQUEST_CHAIN_SNAPSHOT), ticker: "SPY", limit: 5))
        #expect(chain.isOK, "\(chain.message)")
        let document = try JSONValue.parse(chain.json)
        let contracts = try #require(document["contracts"]?.array)
        #expect(contracts.count == 5)
        let updated = try #require(contracts.first?["updatedMs"]?.int64)
        #expect(updated > 1_700_000_000_000 && updated < 1_800_000_000_000, "milliseconds, not nanoseconds")
        await core.stopAsync()
        await fake.stop()
    }

    @Test("every look-up kind maps onto its endpoint")
    func allKinds() async throws {
        var behaviour = FakeMassiveServer.Behaviour()
        behaviour.pageSize = 40
        let fake = try await RunningFake.start(behaviour: behaviour)
        let core = makeCore(fake.configuration())
        let chain = await core.lookup(LookupRequest(kind: UInt32(MH_REQUEST_CHAIN_SNAPSHOT), ticker: "SPY"))
        #expect(chain.isOK, "\(chain.message)")
        let chainDocument = try JSONValue.parse(chain.json)
        let contracts = try #require(chainDocument["contracts"]?.array)
        #expect(contracts.count > 40, "the whole chain across pages: \(contracts.count)")
        #expect(chainDocument["underlyingPrice"]?.double != nil)
        let ticker = try #require(contracts.first?["ticker"]?.string)
        let contract = await core.lookup(LookupRequest(kind: UInt32(MH_REQUEST_CONTRACT_SNAPSHOT), ticker: ticker))
        #expect(contract.isOK, "\(contract.message)")
        #expect(try JSONValue.parse(contract.json)["contract"]?["ticker"]?.string == ticker)
        #expect(try JSONValue.parse(contract.json)["underlying"]?.string == "SPY")
        let listed = await core.lookup(LookupRequest(kind: UInt32(MH_REQUEST_CONTRACTS), ticker: "SPY"))
        #expect(listed.isOK, "\(listed.message)")
        #expect((try JSONValue.parse(listed.json)["contracts"]?.array?.count ?? 0) == contracts.count)
        let expirations = await core.lookup(
            LookupRequest(
                kind: UInt32(MH_REQUEST_EXPIRATIONS), ticker: "SPY",
                params: .object([("expirationFrom", .string("2025-12-01"))])))
        #expect(expirations.isOK, "expirations: \(expirations.message)")
        let dates = try #require(try JSONValue.parse(expirations.json)["expirations"]?.array?.compactMap(\.string))
        #expect(!dates.isEmpty && dates == dates.sorted() && Set(dates).count == dates.count)
        let filtered = await core.lookup(
            LookupRequest(
                kind: UInt32(MH_REQUEST_CHAIN_SNAPSHOT), ticker: "SPY",
                params: .object([("expiration", .string(dates[0])), ("contractType", .string("put"))])))
        #expect(filtered.isOK, "filtered: \(filtered.message)")
        let puts = try #require(try JSONValue.parse(filtered.json)["contracts"]?.array)
        #expect(
            !puts.isEmpty && puts.allSatisfy { $0["type"] == .string("put") && $0["expiration"] == .string(dates[0]) })
        let status = await core.lookup(LookupRequest(kind: UInt32(MH_REQUEST_MARKET_STATUS), ticker: ""))
        #expect(status.isOK, "status: \(status.message)")
        #expect(try JSONValue.parse(status.json)["market"]?.string != nil)
        let snapshots = await core.lookup(
            LookupRequest(
                kind: UInt32(MH_REQUEST_TICKER_SNAPSHOTS), ticker: "",
                params: .object([("tickers", .array([.string("SPY")]))])))
        #expect(snapshots.isOK, "snapshots: \(snapshots.message)")
        let entries = try #require(try JSONValue.parse(snapshots.json)["tickers"]?.array)
        #expect(entries.count == 1 && entries[0]["ticker"] == .string("SPY") && entries[0]["prevClose"]?.double != nil)
        await core.stopAsync()
        await fake.stop()
    }

    @Test("missing optional fields (greeks, last_quote, last_trade) decode as unknown, not as errors")
    func missingOptional() async throws {
        var behaviour = FakeMassiveServer.Behaviour()
        behaviour.omitOptionalFields = true
        let fake = try await RunningFake.start(behaviour: behaviour)
        let core = makeCore(fake.configuration())
        let chain = await core.lookup(LookupRequest(kind: UInt32(MH_REQUEST_CHAIN_SNAPSHOT), ticker: "SPY", limit: 20))
        #expect(chain.isOK, "\(chain.message)")
        let contracts = try #require(try JSONValue.parse(chain.json)["contracts"]?.array)
        #expect(contracts.count == 20)
        #expect(contracts.allSatisfy { $0["delta"] == .null && $0["bid"] == .null && $0["ask"] == .null })
        #expect(contracts.allSatisfy { $0["strike"]?.double != nil && $0["openInterest"]?.double != nil })
        await core.stopAsync()
        await fake.stop()
    }

    @Test("vendor errors map onto statuses with the vendor's message; 429 then recovery")
    func errors() async throws {
        let fake = try await RunningFake.start()
        let logs = LogLines()
        let observer = CollectingObserver()
        let core = makeCore(
            fake.configuration { $0.defaultRetryAfterMilliseconds = 45_000 }, logs: logs, observer: observer)
        let request = Self.aggregates("SPY", from: Self.firstBar, to: Self.firstBar + 5 * Self.day)

        fake.server.update {
            $0.rateLimitedRequests = 1
            $0.retryAfterSeconds = 7
        }
        let limited = await core.lookup(request)
        #expect(limited.status == mh_status(MH_RATE_LIMITED))
        #expect(limited.retryAfterMilliseconds == 7_000)
        #expect(limited.message.contains("exceeded the maximum requests per minute"))
        let recovered = await core.lookup(request)
        #expect(recovered.isOK, "after the window: \(recovered.message)")
        #expect(!recovered.bars.isEmpty)

        fake.server.update {
            $0.rateLimitedRequests = 1
            $0.retryAfterSeconds = nil
        }
        let noHeader = await core.lookup(request)
        #expect(noHeader.status == mh_status(MH_RATE_LIMITED))
        #expect(noHeader.retryAfterMilliseconds == 45_000, "the configured default without Retry-After")

        fake.server.update { $0.notEntitled = true }
        let entitled = await core.lookup(request)
        #expect(entitled.status == mh_status(MH_NOT_ENTITLED))
        #expect(entitled.message.contains("not entitled"), "the `message` body shape")
        fake.server.update { $0.notEntitled = false }

        fake.server.update {
            $0.failingRequests = 1
            $0.failureStatus = 502
        }
        let failing = await core.lookup(request)
        #expect(failing.status == mh_status(MH_UNAVAILABLE))

        let missing = await core.lookup(LookupRequest(kind: UInt32(MH_REQUEST_LAST_TRADE), ticker: "NOPE"))
        #expect(missing.status == mh_status(MH_NOT_FOUND))
        #expect(missing.message == "Ticker not found.")

        let invalid = await core.lookup(Self.aggregates("$$$", from: 0, to: 1))
        #expect(invalid.status == mh_status(MH_INVALID))

        let wrongKey = makeCore(fake.configuration { $0.apiKey = "not-the-key" })
        let unauthorized = await wrongKey.lookup(request)
        #expect(unauthorized.status == mh_status(MH_UNAUTHORIZED))
        #expect(unauthorized.message == "Unknown API Key", "the `error` body shape")
        await wrongKey.stopAsync()

        fake.server.update { $0.restDelayMilliseconds = 1_500 }
        let slow = makeCore(fake.configuration { $0.requestTimeoutMilliseconds = 300 }, logs: logs)
        let timedOut = await slow.lookup(request)
        #expect(timedOut.status == mh_status(MH_UNAVAILABLE))
        #expect(timedOut.message.contains("timed out") || timedOut.message.contains("did not answer"))
        await slow.stopAsync()
        fake.server.update { $0.restDelayMilliseconds = 0 }

        await core.stopAsync()
        await fake.stop()
        // Nothing listens any more: a network error is "unavailable", not a crash.
        let gone = makeCore(fake.configuration(), logs: logs)
        let refused = await gone.lookup(request)
        #expect(refused.status == mh_status(MH_UNAVAILABLE))
        await gone.stopAsync()
        // The key scan: no error text, log line or metric label carries it.
        let messages = [limited, recovered, noHeader, entitled, failing, missing, invalid, timedOut, refused].map(
            \.message)
        #expect(messages.allSatisfy { !$0.contains(testKey) })
        #expect(logs.all.count >= 5, "failures are logged: \(logs.all)")
        #expect(!logs.all.contains { $0.contains(testKey) })
        #expect(!observer.all.contains { $0.contains(testKey) })
        #expect(observer.all.contains("rest endpoint=aggs outcome=rate_limited"))
        #expect(observer.all.contains("rest endpoint=aggs outcome=not_entitled"))
        #expect(observer.all.contains("rest endpoint=aggs outcome=unavailable"))
    }

    @Test("concurrency is bounded and every request completes exactly once")
    func boundedConcurrency() async throws {
        var behaviour = FakeMassiveServer.Behaviour()
        behaviour.restDelayMilliseconds = 100
        let fake = try await RunningFake.start(behaviour: behaviour)
        let core = makeCore(fake.configuration { $0.maxConcurrentRequests = 2 })
        let started = ContinuousClock.now
        let results = await withTaskGroup(of: OperationResult.self) { group in
            for _ in 0..<6 {
                group.addTask { await core.lookup(LookupRequest(kind: UInt32(MH_REQUEST_MARKET_STATUS), ticker: "")) }
            }
            var all: [OperationResult] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 6 && results.allSatisfy(\.isOK))
        // Six 100 ms answers two at a time take at least three rounds.
        #expect(ContinuousClock.now - started >= .milliseconds(290))
        await core.stopAsync()
        await fake.stop()
    }

    @Test("stop completes pending look-ups with MH_CANCELLED, once")
    func stopCancels() async throws {
        var behaviour = FakeMassiveServer.Behaviour()
        behaviour.restDelayMilliseconds = 2_000
        let fake = try await RunningFake.start(behaviour: behaviour)
        let core = makeCore(fake.configuration())
        let calls = Mutex(0)
        let status = Mutex<mh_status?>(nil)
        core.request(LookupRequest(kind: UInt32(MH_REQUEST_MARKET_STATUS), ticker: "")) { result in
            calls.withLock { $0 += 1 }
            status.withLock { $0 = result.status }
        }
        try await Task.sleep(for: .milliseconds(100))
        await core.stopAsync()
        #expect(calls.withLock { $0 } == 1)
        #expect(status.withLock { $0 } == mh_status(MH_CANCELLED))
        try await Task.sleep(for: .milliseconds(300))
        #expect(calls.withLock { $0 } == 1)
        // After stop, a new request is refused at once.
        let late = await core.lookup(LookupRequest(kind: UInt32(MH_REQUEST_MARKET_STATUS), ticker: ""))
        #expect(late.status == mh_status(MH_CANCELLED))
        await fake.stop()
    }

    @Test("configuration errors are clear and never echo the key")
    func configuration() throws {
        func parse(_ text: String) -> PluginError? {
            do {
                _ = try MassiveConfiguration.parse(Array(text.utf8))
                return nil
            } catch { return error }
        }
        #expect(parse("{}")?.message.contains("apiKey is required") == true)
        #expect(parse(#"{"apiKey":"k","feeds":["futures"]}"#)?.message.contains("feeds") == true)
        #expect(parse(#"{"apiKey":"k","restUrl":"x"}"#)?.message.contains("unknown configuration key restUrl") == true)
        let bad = parse(#"{"apiKey":"\#(testKey)","restURL":"ftp://x?apiKey=\#(testKey)"}"#)
        #expect(bad?.message.contains("restURL must start with") == true)
        #expect(bad?.message.contains(testKey) == false)
        let delayed = try MassiveConfiguration.parse(Array(#"{"apiKey":"k","delayed":true}"#.utf8))
        #expect(delayed.wsURL == "wss://delayed.massive.com" && delayed.restURL == "https://api.massive.com")
    }

    @Test("vendor URLs: TLS by default; plain http/ws only for a loopback host or with allowInsecure")
    func transportSecurity() throws {
        func parse(_ members: String) -> Result<MassiveConfiguration, PluginError> {
            let text = "{\"apiKey\":\"\(testKey)\"\(members)}"
            return Result { () throws(PluginError) in try MassiveConfiguration.parse(Array(text.utf8)) }
        }
        let defaults = try parse("").get()
        #expect(defaults.restURL == "https://api.massive.com" && defaults.wsURL == "wss://socket.massive.com")
        for loopback in ["127.0.0.1:9100", "localhost:9100", "[::1]:9100", "127.1.2.3"] {
            let local = try parse(#","restURL":"http://\#(loopback)","wsURL":"ws://\#(loopback)""#).get()
            #expect(local.restURL == "http://\(loopback)")
        }
        for (key, url) in [
            ("restURL", "http://api.massive.com"), ("wsURL", "ws://socket.massive.com"),
            ("restURL", "http://127.0.0.1.evil.example"), ("wsURL", "ws://10.0.0.5:9100"),
            ("restURL", "http://user@example.com?apiKey=\(testKey)"),
        ] {
            guard case .failure(let error) = parse(#","\#(key)":"\#(url)""#) else {
                Issue.record("\(url) was accepted without allowInsecure")
                continue
            }
            #expect(error.message.contains("\(key) ") && error.message.contains("allowInsecure"))
            #expect(!error.message.contains(testKey))
        }
        let remote = #","restURL":"http://10.0.0.5:9100","wsURL":"ws://10.0.0.5:9100""#
        let insecure = try parse(remote + #","allowInsecure":true"#).get()
        #expect(insecure.wsURL == "ws://10.0.0.5:9100")
    }

    @Test("next_url: only the path and cursor are kept, any apiKey the vendor added is dropped")
    func nextURL() {
        let redacted = Redactor.stripQueryKey("https://api.massive.com/v3/x?cursor=abc&apiKey=\(testKey)&b=1")
        #expect(!redacted.contains(testKey))
        #expect(Redactor(testKey).clean("GET /x?APIKEY=\(testKey) failed for \(testKey)").contains(testKey) == false)
        #expect(Backoff.delay(attempt: 0, initial: 100, maximum: 1_000, random: 0) == 50)
        #expect(Backoff.delay(attempt: 3, initial: 100, maximum: 1_000, random: 0.999) <= 800)
        #expect(Backoff.delay(attempt: 3, initial: 100, maximum: 1_000, random: 0) == 400)
        #expect(Backoff.delay(attempt: 20, initial: 100, maximum: 1_000, random: 0.5) == 750)
    }
}
