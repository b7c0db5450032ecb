import Host
import PluginAPI
import PluginKit

/// How a cache behaves while its backend is unreachable and after it returns: calls fail with MH_UNAVAILABLE
/// (after the first, quickly), health is degraded, writes are reported as failed (never silently dropped), and
/// the cache recovers by itself once the backend is back, with what was stored before still there.
public enum CacheOutageConformance {
    /// Runs the scenario on a started cache whose backend `takeDown` makes unreachable and `bringBack` restores
    /// (for a server: stop and start it on the same storage). `clock` is the cache's manual clock; it is
    /// advanced while waiting so that retry intervals measured on the host clock pass.
    public static func run(
        cache: CachePlugin, clock: ManualClock, fastFailMilliseconds: Int64 = 500,
        recoveryTimeout: Duration = .seconds(60),
        takeDown: @Sendable () async throws -> Void, bringBack: @Sendable () async throws -> Void
    ) async throws {
        let context = ConformanceContext(check: "outage")
        let origin = CacheConformance.origin
        try CacheConformance.ok(
            await cache.putBars([CacheConformance.bar("SPY", origin)]), context, "put_bars before the outage")
        try CacheConformance.ok(
            await cache.putSelection(key: "outage", json: Array(#"{"before":true}"#.utf8)), context,
            "put_selection before the outage")

        try await takeDown()
        let first = await cache.getSelection(key: "outage")
        try context.expect(
            first.status == mh_status(MH_UNAVAILABLE),
            "a read with the backend down must be MH_UNAVAILABLE, got \(StatusName.of(first.status)) \(first.message)")
        let health = cache.health()
        try context.expect(health.state == .degraded, "health must be degraded while down, got \(health.state)")
        try context.expect(!health.detail.isEmpty, "degraded health must say why")

        let timer = ContinuousClock()
        for attempt in 0..<5 {
            let started = timer.now
            let write = await cache.putBars([CacheConformance.bar("SPY", origin + Int64(attempt + 1) * 60_000)])
            let elapsed = timer.now - started
            try context.expect(
                write.status == mh_status(MH_UNAVAILABLE),
                "a write with the backend down must be reported as MH_UNAVAILABLE, got \(StatusName.of(write.status))")
            try context.expect(!write.message.isEmpty, "an unavailable write must say why")
            try context.expect(
                elapsed < .milliseconds(fastFailMilliseconds),
                "calls after the outage is known must fail fast, took \(elapsed)")
        }

        try await bringBack()
        let deadline = timer.now + recoveryTimeout
        var recovered = false
        while timer.now < deadline {
            clock.advance(byMilliseconds: 1_100)
            _ = cache.health()
            if await cache.getSelection(key: "outage").isOK {
                recovered = true
                break
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        try context.expect(recovered, "the cache must recover by itself within \(recoveryTimeout)")
        let selection = await cache.getSelection(key: "outage")
        try context.expect(
            selection.json == Array(#"{"before":true}"#.utf8), "what was stored before the outage must still be there")
        try CacheConformance.ok(
            await cache.putBars([CacheConformance.bar("SPY", origin + 600_000)]), context, "put_bars after recovery")
        let bars = try await CacheConformance.bars(cache, context, CacheConformance.minuteQuery("SPY"))
        try context.expect(
            bars.map(\.startMilliseconds) == [origin, origin + 600_000],
            "only the writes that succeeded are stored, got \(bars.map(\.startMilliseconds))")
        var healthy = cache.health()
        for _ in 0..<40 where healthy.state != .ok {
            try await Task.sleep(for: .milliseconds(100))
            healthy = cache.health()
        }
        try context.expect(healthy.state == .ok, "health must be ok after recovery, got \(healthy.state)")
    }
}
