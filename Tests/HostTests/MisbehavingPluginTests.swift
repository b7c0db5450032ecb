import Host
import Logging
import PluginAPI
import PluginKit
import Testing

/// The host survives plugins that break the completion contract.
@Suite("Misbehaving plugins")
struct MisbehavingPluginTests {
    static func cache(_ define: String, clock: any HostClock, timeoutMs: Int64 = 2_000) async throws -> CachePlugin {
        let directory = try TestSupport.makeDirectory()
        let path = try TestSupport.buildFixture(
            "Fixture\(define)", in: directory, defines: ["FIXTURE_KIND=MH_KIND_CACHE", define]
        )
        let plugin = try PluginLoader.load(path: path, plugin: "fixture", expectedKind: .cache)
        let cache = try CachePlugin(
            plugin: plugin, config: .object([]), slot: "cache", clock: clock, logger: Logger(label: "test"),
            metrics: MetricsRegistry(), requestTimeoutMilliseconds: timeoutMs
        )
        try await cache.startAsync()
        return cache
    }

    @Test("an operation a plugin never completes times out on the host clock")
    func silentPluginTimesOut() async throws {
        let clock = ManualClock(wallNanoseconds: 1_741_359_600_000_000_000)
        let cache = try await Self.cache("FIXTURE_CACHE_SILENT", clock: clock)
        async let result = cache.getSelection(key: "global")
        while clock.pendingTimers == 0 { try await Task.sleep(for: .milliseconds(1)) }
        clock.advance(byMilliseconds: 1_999)
        #expect(clock.pendingTimers == 1, "not yet timed out")
        clock.advance(byMilliseconds: 1)
        let outcome = await result
        #expect(outcome.status == mh_status(MH_UNAVAILABLE))
        #expect(outcome.message.contains("did not complete within 2000 ms"))
        await cache.destroyAsync()
    }

    @Test("a second completion of one operation is ignored, not a crash")
    func doubleCompletionIgnored() async throws {
        let cache = try await Self.cache("FIXTURE_CACHE_TWICE", clock: SystemClock())
        let before = PendingOperations.lateCompletionCount
        for _ in 0..<3 {
            let result = await cache.getSelection(key: "global")
            #expect(result.status == mh_status(MH_UNAVAILABLE))
        }
        #expect(PendingOperations.lateCompletionCount - before >= 3)
        await cache.destroyAsync()
    }
}
