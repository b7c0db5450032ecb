import Foundation
import Host
import Logging
import PluginAPI
import PluginConformance
import PluginKit
import Testing

@Suite("EmbeddedCache (SQLite)")
struct EmbeddedCacheTests {
    static func make(
        path: String, clock: any HostClock, logger: Logger = Logger(label: "test")
    ) async throws -> CachePlugin {
        let plugin = try PluginLoader.load(
            path: try TestSupport.builtPlugin("EmbeddedCache"), plugin: "EmbeddedCache", expectedKind: .cache
        )
        let cache = try CachePlugin(
            plugin: plugin, config: .object([("path", .string(path))]), slot: "cache", clock: clock, logger: logger,
            metrics: MetricsRegistry()
        )
        try await cache.startAsync()
        return cache
    }

    /// Runs `body` with a started cache, then stops and destroys it off the cooperative pool.
    static func with(path: String, clock: any HostClock, _ body: (CachePlugin) async throws -> Void) async throws {
        let cache = try await make(path: path, clock: clock)
        do {
            try await body(cache)
        } catch {
            await cache.destroyAsync()
            throw error
        }
        await cache.destroyAsync()
    }

    @Test("passes the cache conformance kit", arguments: CacheConformance.checks)
    func conforms(_ check: CacheConformance.Check) async throws {
        let directory = try TestSupport.makeDirectory()
        try await check.run { clock in try await Self.make(path: directory + "/cache.sqlite", clock: clock) }
    }

    @Test("passes the durable cache checks", arguments: DurableCacheConformance.checks)
    func durable(_ check: DurableCacheConformance.Check) async throws {
        let directory = try TestSupport.makeDirectory()
        try await check.run(storage: directory + "/nested/cache.sqlite") { clock, path in
            try await Self.make(path: path, clock: clock)
        }
    }

    @Test("a file that is not a database leaves the cache degraded with a clear message, and the file untouched")
    func corruptFile() async throws {
        let directory = try TestSupport.makeDirectory()
        let path = directory + "/cache.sqlite"
        let garbage = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: URL(fileURLWithPath: path))
        try await Self.with(path: path, clock: SystemClock()) { cache in
            let health = cache.health()
            #expect(health.state == .degraded)
            #expect(health.detail.contains("move it aside"), "\(health.detail)")
            let result = await cache.getSelection(key: "global")
            #expect(result.status == mh_status(MH_UNAVAILABLE))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(4096) == garbage, "nothing stored is destroyed")
    }

    @Test("corrupt rows are skipped and reported; the rest of the range is served")
    func corruptRows() async throws {
        let directory = try TestSupport.makeDirectory()
        let path = directory + "/cache.sqlite"
        let clock = ManualClock(wallNanoseconds: CacheConformance.origin * 1_000_000)
        try await Self.with(path: path, clock: clock) { cache in
            let bars = (0..<3).map { CacheConformance.bar("SPY", CacheConformance.origin + Int64($0) * 60_000) }
            #expect(await cache.putBars(bars).isOK)
        }
        let script = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            db.execute("UPDATE option_aggregates SET open = 'not a price' WHERE timestamp = ?", (int(sys.argv[2]),))
            db.commit()
            """
        let (status, output) = try TestSupport.run(
            "/usr/bin/env", ["python3", "-c", script, path, String(CacheConformance.origin + 60_000)]
        )
        #expect(status == 0, "\(output)")
        try await Self.with(path: path, clock: clock) { cache in
            let result = await cache.getBars(BarQuery(ticker: "SPY", timespan: .minute, multiplier: 1))
            #expect(result.isOK)
            #expect(
                result.bars.map(\.startMilliseconds) == [CacheConformance.origin, CacheConformance.origin + 120_000])
            #expect(result.message == "skipped 1 corrupt stored bar(s)")
        }
    }

    @Test("an unreachable location degrades the cache, fails fast, and recovers when fixed")
    func unreachableThenRecovers() async throws {
        let directory = try TestSupport.makeDirectory()
        let blocker = directory + "/blocked"
        try Data("a file where a directory should be".utf8).write(to: URL(fileURLWithPath: blocker))
        let clock = ManualClock(wallNanoseconds: CacheConformance.origin * 1_000_000)
        try await Self.with(path: blocker + "/cache.sqlite", clock: clock) { cache in
            #expect(cache.health().state == .degraded)
            let failed = await cache.putSelection(key: "k", json: Array("{}".utf8))
            #expect(failed.status == mh_status(MH_UNAVAILABLE))
            #expect(failed.message.contains("unavailable") || failed.message.contains("cannot"))
            try FileManager.default.removeItem(atPath: blocker)
            clock.advance(byMilliseconds: 1_500)
            let recovered = await cache.putSelection(key: "k", json: Array("{}".utf8))
            #expect(recovered.isOK, "\(recovered.message)")
            #expect(cache.health().state == .ok)
        }
    }

    @Test("an unknown configuration key is refused")
    func badConfig() throws {
        let plugin = try PluginLoader.load(
            path: try TestSupport.builtPlugin("EmbeddedCache"), plugin: "EmbeddedCache", expectedKind: .cache
        )
        let error = #expect(throws: PluginLoadError.self) {
            try CachePlugin(
                plugin: plugin, config: .object([("file", .string("x"))]), slot: "cache", clock: SystemClock(),
                logger: Logger(label: "test"), metrics: MetricsRegistry()
            )
        }
        #expect(error?.description.contains("unknown key 'file'") == true)
    }
}
