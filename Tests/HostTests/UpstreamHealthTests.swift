import Foundation
import Host
import Logging
import MarketCalendar
import PluginAPI
import PluginKit
import Testing

/// `/health` while an upstream fault lasts, and one log line per fault: the real recorded provider with a fault
/// script (a stream drop, then a 429 window) on a manual clock, through the host runtime.
@Suite("Upstream health", .serialized)
struct UpstreamHealthTests {
    static let monday = CivilDate("2025-12-08")!

    static func at(_ hour: Int, _ minute: Int) -> Int64 {
        EasternTime.utcMilliseconds(date: monday, hour: hour, minute: minute, second: 0)
    }

    struct TestFailure: Error, CustomStringConvertible {
        var description: String
    }

    @Test("a stream drop and a 429 window show in the provider's health while they last, each logged once")
    func faultsShowInHealth() async throws {
        // Offsets from the 09:30 start of the recording: the stream drops 09:42–09:43, look-ups get 429 09:45–09:46.
        let faults: JSONValue = .array([
            .object([("kind", .string("stream-drop")), ("atMs", .integer(720_000)), ("durationMs", .integer(60_000))]),
            .object([
                ("kind", .string("rest-429")), ("atMs", .integer(900_000)), ("durationMs", .integer(60_000)),
                ("retryAfterMs", .integer(5_000)),
            ]),
        ])
        let provider: JSONValue = .object([
            ("source", .string("synthetic")), ("underlyings", .array([.string("SPY")])),
            ("date", .string("2025-12-08")),
            ("seed", .integer(7)), ("window", .string("09:30-10:30")), ("speed", .integer(1)),
            ("startAt", .string("09:40")), ("faults", faults),
        ])
        let configuration = HostConfiguration(
            sourcePath: "test.yaml",
            provider: .init(
                plugin: try TestSupport.builtPlugin("RecordedProvider"), config: provider, keyPath: "provider"),
            cache: .init(plugin: try TestSupport.builtPlugin("MemoryCache"), keyPath: "cache"),
            transports: []
        )
        let clock = ManualClock(wallNanoseconds: Self.at(9, 40) * 1_000_000)
        let (logger, logs) = TestSupport.collectingLogger()
        let runtime = try HostRuntime(configuration: configuration, clock: clock, logger: logger)
        for entry in runtime.instances { try await entry.instance.startAsync() }
        func providerHealth() throws -> HealthReport.Entry {
            guard let entry = runtime.health().entries.first(where: { $0.slot == "provider" }) else {
                throw TestFailure(description: "no provider entry in the health report")
            }
            return entry
        }
        func advance(seconds: Int) {
            for _ in 0..<seconds { clock.advance(byMilliseconds: 1_000) }
        }
        func lines(_ text: String) -> Int { logs.all.filter { $0.message.contains(text) }.count }

        #expect(try providerHealth().health.state == .ok)
        advance(seconds: 125)  // 09:42:05, in the drop
        let during = try providerHealth().health
        #expect(during.state == .degraded && during.detail.contains("connecting"), "\(during)")
        #expect(runtime.health().state == .degraded)
        #expect(runtime.metrics.value("markethub_upstream_feeds_not_live") ?? 0 >= 1)
        advance(seconds: 60)  // 09:43:05, recovered
        let recovered = try providerHealth().health
        #expect(recovered.state == .ok, "\(recovered)")
        let dropped = lines("provider stream connecting")
        #expect(dropped >= 1 && lines("provider stream live") >= dropped, "one line per feed per transition")

        advance(seconds: 125)  // 09:45:10, in the 429 window
        let bars = ProviderRequest(
            kind: .aggregates, ticker: "SPY", multiplier: 1, timespan: .minute, fromMilliseconds: Self.at(9, 30),
            toMilliseconds: Self.at(9, 45), limit: 50_000)
        #expect(await runtime.provider.request(bars).status == mh_status(MH_RATE_LIMITED))
        let limited = try providerHealth().health
        #expect(limited.state == .degraded && limited.detail.contains("rate limited"), "\(limited)")
        advance(seconds: 6)  // the cooldown is over but the window is not: rate limited again, no second line
        #expect(try providerHealth().health.state == .ok)
        #expect(await runtime.provider.request(bars).status == mh_status(MH_RATE_LIMITED))
        #expect(try providerHealth().health.state == .degraded)
        #expect(lines("upstream rate limited look-ups") == 1)
        #expect(runtime.metrics.value("markethub_upstream_rate_limited") == 1)
        advance(seconds: 60)  // 09:46:16, the window is over
        #expect(await runtime.provider.request(bars).isOK)
        #expect(try providerHealth().health.state == .ok)
        #expect(lines("upstream look-ups answered again after rate limiting") == 1)
        #expect(runtime.metrics.value("markethub_upstream_rate_limits_total") == 1)
        #expect(runtime.metrics.value("markethub_upstream_rate_limited") == 0)
        for entry in runtime.instances.reversed() { await entry.instance.destroyAsync() }
    }
}
