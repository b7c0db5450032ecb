import Host
import PluginAPI
import PluginKit

/// Checks for caches that promise durability, on top of `CacheConformance`: what was written survives the
/// instance being stopped, destroyed and created again on the same storage.
public enum DurableCacheConformance {
    /// Builds a started cache on `storage` (a path, a database name: whatever the plugin uses), reading time
    /// from `clock`. Called twice per check with the same storage.
    public typealias Factory = @Sendable (ManualClock, String) async throws -> CachePlugin

    public struct Check: Sendable, CustomStringConvertible {
        public let name: String
        let body: @Sendable (ConformanceContext, ManualClock, String, Factory) async throws -> Void

        public var description: String { name }

        /// Runs the check; the manual clock starts at `startingAt` (see `CacheConformance.Check.run`).
        public func run(
            storage: String, startingAt wallMilliseconds: Int64 = CacheConformance.origin, _ factory: Factory
        ) async throws {
            let clock = ManualClock(wallNanoseconds: wallMilliseconds * 1_000_000)
            try await body(ConformanceContext(check: name), clock, storage, factory)
        }
    }

    /// Runs `body`, then stops and destroys `cache` whether or not it threw.
    static func closing(_ cache: CachePlugin, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            await cache.destroyAsync()
            throw error
        }
        await cache.destroyAsync()
    }

    public static let checks: [Check] = [
        Check(name: "bars, chains, last quotes and selections survive a restart") { context, clock, storage, factory in
            let bars = (0..<50).map {
                CacheConformance.bar("SPY", CacheConformance.origin + Int64($0) * 60_000, close: Double($0))
            }
            let chain = Array(#"{"underlying":"SPY","contracts":[{"ticker":"O:SPY250321C00570000"}]}"#.utf8)
            let quote = LastQuote(
                symbol: "O:SPY250321C00570000", bidPrice: 1.2, askPrice: 1.3, lastPrice: 1.25, midpoint: 1.25,
                updatedMilliseconds: CacheConformance.origin
            )
            let selection = Array(#"{"underlying":"SPY","expiration":"2025-03-21"}"#.utf8)
            let cache = try await factory(clock, storage)
            try await closing(cache) {
                try CacheConformance.ok(await cache.putBars(bars), context, "put_bars")
                try CacheConformance.ok(
                    await cache.putChain(underlying: "SPY", expiration: "2025-03-21", json: chain), context, "put_chain"
                )
                try CacheConformance.ok(await cache.putLastQuotes([quote]), context, "put_last_quotes")
                try CacheConformance.ok(
                    await cache.putSelection(key: "global", json: selection), context, "put_selection")
            }
            clock.advance(byMilliseconds: 1_000)
            let reopened = try await factory(clock, storage)
            try await closing(reopened) {
                let read = try await CacheConformance.bars(reopened, context, CacheConformance.minuteQuery("SPY"))
                try context.expect(read.count == 50, "expected 50 bars after a restart, read \(read.count)")
                try context.expect(read.map(\.close) == bars.map(\.close), "bars changed across the restart")
                let chainRead = await reopened.getChain(
                    underlying: "SPY", expiration: "2025-03-21", maximumAgeMilliseconds: 0)
                try CacheConformance.ok(chainRead, context, "get_chain after restart")
                try context.expect(chainRead.json == chain, "the chain changed across the restart")
                let quotes = await reopened.getLastQuotes([quote.symbol])
                try context.expect(
                    quotes.lastQuotes == [quote], "the last quote changed across the restart: \(quotes.lastQuotes)")
                let selectionRead = await reopened.getSelection(key: "global")
                try context.expect(selectionRead.json == selection, "the selection changed across the restart")
            }
        },
        Check(name: "an upsert after a restart still does not duplicate") { context, clock, storage, factory in
            let bars = (0..<5).map { CacheConformance.bar("QQQ", CacheConformance.origin + Int64($0) * 60_000) }
            let cache = try await factory(clock, storage)
            try await closing(cache) { try CacheConformance.ok(await cache.putBars(bars), context, "put_bars") }
            let reopened = try await factory(clock, storage)
            try await closing(reopened) {
                try CacheConformance.ok(await reopened.putBars(bars), context, "put_bars after restart")
                let read = try await CacheConformance.bars(reopened, context, CacheConformance.minuteQuery("QQQ"))
                try context.expect(read.count == 5, "expected 5 bars, read \(read.count)")
            }
        },
    ]
}
