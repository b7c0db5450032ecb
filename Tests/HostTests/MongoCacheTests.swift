import Foundation
import Host
import Logging
import PluginAPI
import PluginConformance
import PluginKit
import Testing

/// MongoCache against a real MongoDB wire-protocol server: nx-27017 started per test on a free loopback port,
/// or the operator's server when `MONGODB_URI` is set (see `MongoTestServer`).
@Suite("MongoCache (libmongoc)", .serialized)
struct MongoCacheTests {
    /// The real wall time: servers expire chain snapshots by their own clock, so fixtures are written "now".
    static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1_000) }

    static func make(
        uri: String, clock: any HostClock, logger: Logger = Logger(label: "test"),
        extra: [(String, JSONValue)] = []
    ) async throws -> CachePlugin {
        let plugin = try PluginLoader.load(
            path: try TestSupport.builtPlugin("MongoCache"), plugin: "MongoCache", expectedKind: .cache)
        let cache = try CachePlugin(
            plugin: plugin, config: .object([("uri", .string(uri))] + extra), slot: "cache", clock: clock,
            logger: logger, metrics: MetricsRegistry()
        )
        try await cache.startAsync()
        return cache
    }

    /// Runs `body` with a started cache, then stops and destroys it off the cooperative pool.
    static func with(
        uri: String, clock: any HostClock, logger: Logger = Logger(label: "test"),
        _ body: (CachePlugin) async throws -> Void
    ) async throws {
        let cache = try await make(uri: uri, clock: clock, logger: logger)
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
        try await MongoTestServer.with { server in
            try await check.run(startingAt: Self.now) { clock in try await Self.make(uri: server.uri, clock: clock) }
        }
    }

    @Test("passes the durable cache checks", arguments: DurableCacheConformance.checks)
    func durable(_ check: DurableCacheConformance.Check) async throws {
        try await MongoTestServer.with { server in
            try await check.run(storage: server.uri, startingAt: Self.now) { clock, uri in
                try await Self.make(uri: uri, clock: clock)
            }
        }
    }

    @Test("the server stopped mid-run: unavailable fast, degraded, recovers by itself when it returns")
    func outage() async throws {
        try await MongoTestServer.with(stoppable: true) { server in
            let clock = ManualClock(wallNanoseconds: Self.now * 1_000_000)
            try await Self.with(uri: server.uri, clock: clock) { cache in
                try await CacheOutageConformance.run(
                    cache: cache, clock: clock, takeDown: { await server.stopProcess() },
                    bringBack: { try await server.startProcess() })
            }
        }
    }

    @Test("the server down at start: the cache starts degraded and becomes ready when the server comes up")
    func downAtStart() async throws {
        try await MongoTestServer.with(stoppable: true) { server in
            await server.stopProcess()
            let clock = ManualClock(wallNanoseconds: Self.now * 1_000_000)
            try await Self.with(uri: server.uri, clock: clock) { cache in
                #expect(cache.health().state == .degraded)
                let failed = await cache.putSelection(key: "k", json: Array("{}".utf8))
                #expect(failed.status == mh_status(MH_UNAVAILABLE), "\(failed.message)")
                try await server.startProcess()
                var recovered = false
                for _ in 0..<120 where !recovered {
                    clock.advance(byMilliseconds: 1_100)
                    recovered = await cache.putSelection(key: "k", json: Array("{}".utf8)).isOK
                    if !recovered { try await Task.sleep(for: .milliseconds(250)) }
                }
                #expect(recovered, "the cache must create its indexes and serve once the server is up")
                #expect(cache.health().state == .ok)
                let indexes = try server.python(Self.listIndexes)
                #expect(indexes.contains("option_aggregates ticker,timespan,multiplier,timestamp unique"), "\(indexes)")
            }
        }
    }

    static let listIndexes = """
        import pymongo, sys
        db = pymongo.MongoClient(sys.argv[1])[sys.argv[2]]
        for name in ["option_aggregates", "option_chain_snapshots", "option_quotes", "selections"]:
            for index in db[name].list_indexes():
                keys = ",".join(index["key"].keys())
                extra = (" unique" if index.get("unique") else "") + (
                    " ttl=%d" % index["expireAfterSeconds"] if "expireAfterSeconds" in index else "")
                print(name, keys + extra)
        """

    @Test("the spec's collections and indexes are created at start, and creating them again is harmless")
    func indexes() async throws {
        try await MongoTestServer.with { server in
            for _ in 0..<2 {
                try await Self.with(uri: server.uri, clock: SystemClock()) { cache in
                    #expect(cache.health().state == .ok, "\(cache.health().detail)")
                }
            }
            let indexes = try server.python(Self.listIndexes)
            for line in [
                "option_aggregates ticker,timespan,multiplier,timestamp unique",
                "option_chain_snapshots underlying,expiration unique", "option_chain_snapshots updatedAt ttl=86400",
                "option_quotes ticker unique", "selections key unique",
            ] {
                #expect(indexes.contains(line), "missing index '\(line)' in:\n\(indexes)")
            }
        }
    }

    @Test("corrupt documents written by another client are reported, not crashed on")
    func corruptDocuments() async throws {
        try await MongoTestServer.with { server in
            let clock = ManualClock(wallNanoseconds: Self.now * 1_000_000)
            let origin = CacheConformance.origin
            try await Self.with(uri: server.uri, clock: clock) { cache in
                let bars = (0..<3).map { CacheConformance.bar("SPY", origin + Int64($0) * 60_000) }
                #expect(await cache.putBars(bars).isOK)
                try server.python(
                    """
                    import pymongo, sys, datetime
                    db = pymongo.MongoClient(sys.argv[1])[sys.argv[2]]
                    db.option_aggregates.update_one({"timestamp": int(sys.argv[3])}, {"$set": {"open": "not a price"}})
                    db.option_chain_snapshots.replace_one(
                        {"_id": "3:SPY|2025-03-21"},
                        {"_id": "3:SPY|2025-03-21", "underlying": "SPY", "expiration": "2025-03-21", "data": 42,
                         "updatedAt": datetime.datetime.now(datetime.timezone.utc)}, upsert=True)
                    db.selections.replace_one(
                        {"_id": "broken"}, {"_id": "broken", "key": "broken", "data": {"not": "text"},
                         "updatedAt": datetime.datetime.now(datetime.timezone.utc)}, upsert=True)
                    """, [String(origin + 60_000)])
                let read = await cache.getBars(BarQuery(ticker: "SPY", timespan: .minute, multiplier: 1))
                #expect(read.isOK)
                #expect(read.bars.map(\.startMilliseconds) == [origin, origin + 120_000])
                #expect(read.message == "skipped 1 corrupt stored bar(s)")
                let chain = await cache.getChain(underlying: "SPY", expiration: "2025-03-21", maximumAgeMilliseconds: 0)
                #expect(chain.status == mh_status(MH_INTERNAL))
                #expect(chain.message.contains("corrupt"), "\(chain.message)")
                let selection = await cache.getSelection(key: "broken")
                #expect(selection.status == mh_status(MH_INTERNAL) && selection.message.contains("corrupt"))
                #expect(cache.health().state == .ok, "corrupt data does not make the cache unhealthy")
                #expect(await cache.putChain(underlying: "SPY", expiration: "2025-03-21", json: Array("{}".utf8)).isOK)
                let repaired = await cache.getChain(
                    underlying: "SPY", expiration: "2025-03-21", maximumAgeMilliseconds: 0)
                #expect(repaired.isOK && repaired.json == Array("{}".utf8), "a new write replaces the corrupt one")
            }
        }
    }

    @Test("the URI's password never appears in logs, errors or health")
    func passwordRedacted() async throws {
        let secret = "s3cr3t-Pa55word"
        let (logger, lines) = TestSupport.collectingLogger()
        // Nothing listens on port 1: every call fails, and every failure path is exercised.
        let uri = "mongodb://markethub:\(secret)@127.0.0.1:1/markethub?serverSelectionTimeoutMS=300"
        let clock = ManualClock(wallNanoseconds: Self.now * 1_000_000)
        var messages: [String] = []
        try await Self.with(uri: uri, clock: clock, logger: logger) { cache in
            messages.append(cache.health().detail)
            messages.append(await cache.getSelection(key: "k").message)
            clock.advance(byMilliseconds: 2_000)
            messages.append(await cache.putBars([CacheConformance.bar("SPY", CacheConformance.origin)]).message)
            messages.append(await cache.putBars([CacheConformance.bar("SPY", CacheConformance.origin)]).message)
        }
        let plugin = try PluginLoader.load(
            path: try TestSupport.builtPlugin("MongoCache"), plugin: "MongoCache", expectedKind: .cache)
        let invalid = #expect(throws: PluginLoadError.self) {
            try CachePlugin(
                plugin: plugin, config: .object([("uri", .string("mongodb://u:\(secret)@host:notaport/db"))]),
                slot: "cache", clock: SystemClock(), logger: logger, metrics: MetricsRegistry())
        }
        messages.append(invalid?.description ?? "")
        let logged = lines.all.map { "\($0.message) \($0.metadata)" }
        #expect(messages.allSatisfy { !$0.isEmpty }, "\(messages)")
        #expect(messages.allSatisfy { !$0.contains(secret) }, "\(messages)")
        #expect(!logged.isEmpty && logged.allSatisfy { !$0.contains(secret) }, "\(logged)")
        #expect(logged.contains { $0.contains("markethub:***@127.0.0.1:1") }, "the redacted URI is logged: \(logged)")
    }

    @Test("an invalid configuration is refused with the key's name")
    func badConfig() throws {
        let plugin = try PluginLoader.load(
            path: try TestSupport.builtPlugin("MongoCache"), plugin: "MongoCache", expectedKind: .cache)
        for (config, fragment) in [
            (JSONValue.object([]), "uri is required"),
            (.object([("uri", .string("mongodb://h")), ("maxPool", .integer(2))]), "unknown key 'maxPool'"),
            (.object([("uri", .string("mongodb://h")), ("maxPoolSize", .integer(0))]), "maxPoolSize must be"),
            (.object([("uri", .string("http://h"))]), "not a valid MongoDB connection string"),
            (.object([("uri", .string("mongodb://h")), ("database", .string("a.b"))]), "database must be"),
        ] {
            let error = #expect(throws: PluginLoadError.self) {
                try CachePlugin(
                    plugin: plugin, config: config, slot: "cache", clock: SystemClock(), logger: Logger(label: "test"),
                    metrics: MetricsRegistry())
            }
            #expect(error?.description.contains(fragment) == true, "\(error?.description ?? "no error")")
        }
    }

    @Test("the host runs with MongoCache: /api/market/aggs is fetched once, then served from MongoDB")
    func hostServesAggregatesFromMongo() async throws {
        try await MongoTestServer.with { server in
            let provider: JSONValue = .object([
                ("source", .string("synthetic")), ("underlyings", .array([.string("SPY")])),
                ("date", .string("2025-12-08")), ("seed", .integer(7)), ("window", .string("09:30-10:00")),
                ("speed", .integer(1)),
            ])
            let configuration = HostConfiguration(
                sourcePath: "test.yaml",
                provider: .init(
                    plugin: try TestSupport.builtPlugin("RecordedProvider"), config: provider, keyPath: "provider"),
                cache: .init(
                    plugin: try TestSupport.builtPlugin("MongoCache"), config: .object([("uri", .string(server.uri))]),
                    keyPath: "cache"),
                transports: []
            )
            // Monday 2025-12-08 10:00 New York.
            let clock = ManualClock(wallNanoseconds: 1_765_206_000_000 * 1_000_000)
            let runtime = try HostRuntime(configuration: configuration, clock: clock, logger: Logger(label: "test"))
            for entry in runtime.instances { try await entry.instance.startAsync() }
            func get() async -> JSONValue {
                let response = await runtime.core.handle(
                    HTTPRequest(method: "GET", path: "/api/market/aggs", query: "ticker=SPY&timespan=day"))
                return (try? JSONValue.parse(response.body)) ?? .null
            }
            let first = await get()
            let second = await get()
            for entry in runtime.instances.reversed() { await entry.instance.destroyAsync() }
            #expect(first["source"] == .string("provider"), "\(first.text.prefix(300))")
            #expect(second["source"] == .string("cache"), "\(second.text.prefix(300))")
            #expect((second["bars"]?.array?.count ?? 0) > 200)
            #expect(second["bars"] == first["bars"])
            let stored = try server.python(
                """
                import pymongo, sys
                db = pymongo.MongoClient(sys.argv[1])[sys.argv[2]]
                print(db.option_aggregates.count_documents({"ticker": "SPY", "timespan": "day"}))
                """)
            #expect(Int(stored.trimmingCharacters(in: .whitespacesAndNewlines)) == second["bars"]?.array?.count)
        }
    }
}
