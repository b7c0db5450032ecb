import Host
import Logging
import PluginKit
import RedisClient
import Synchronization
import Testing

/// The provider side of a cluster node under test: records what the node subscribes upstream.
final class RecordingUpstream: UpstreamSubscriptions {
    private let held = Mutex<[String: Channels]>([:])

    var symbols: [String: Channels] { held.withLock { $0 } }

    func subscribe(_ symbols: [String], channels: Channels) throws(PluginError) {
        held.withLock { held in
            for symbol in symbols { held[symbol, default: []].formUnion(channels) }
        }
    }

    func unsubscribe(_ symbols: [String], channels: Channels) throws(PluginError) {
        held.withLock { held in
            for symbol in symbols {
                let left = (held[symbol] ?? []).subtracting(channels)
                held[symbol] = left.isEmpty ? nil : left
            }
        }
    }
}

/// A transport stand-in that records the room events a node delivers to it.
final class RecordingOutput: LiveOutput {
    private let events = Mutex<[(room: String, event: String, payload: [UInt8])]>([])

    var published: [(room: String, event: String, payload: [UInt8])] { events.withLock { $0 } }

    func publish(room: String, event: String, payload: [UInt8], conflationKey: String) -> PluginError? {
        events.withLock { $0.append((room, event, payload)) }
        return nil
    }

    func send(clientID: UInt64, event: String, payload: [UInt8]) -> PluginError? { nil }
    func join(clientID: UInt64, room: String) -> PluginError? { nil }
    func leave(clientID: UInt64, room: String) -> PluginError? { nil }
}

/// One cluster member with its recording provider and transport, running until `stop`.
struct Member {
    let node: ClusterNode
    let upstream = RecordingUpstream()
    let output = RecordingOutput()
    let task: Task<Void, Never>

    init(_ name: String, redis: RedisTestServer, prefix: String) throws {
        var settings = ClusterConfiguration(redisURL: "redis://127.0.0.1:\(redis.port)/0", instanceID: name)
        settings.keyPrefix = prefix
        settings.leaseTTLMilliseconds = 2_000
        settings.leaseRenewMilliseconds = 200
        settings.demandTTLMilliseconds = 3_000
        let upstream = upstream
        node = try ClusterNode(
            configuration: settings, provider: upstream, transports: [output], clock: SystemClock(),
            logger: Logger(label: "test.\(name)"), metrics: MetricsRegistry())
        node.pluginsStarted()
        let node = node
        task = Task { try? await node.run() }
    }

    /// Cancels the member's service: it releases the lease and withdraws its demand (a clean shutdown).
    func stop() async {
        task.cancel()
        await task.value
    }
}

@Suite("Cluster node against redis-server", .serialized)
struct ClusterNodeTests {
    @Test("one member ingests the union of every member's demand, and fan-out carries the same bytes")
    func leaseDemandAndFanOut() async throws {
        let redis = try await RedisTestServer.start()
        defer { redis.stop() }
        let a = try Member("a", redis: redis, prefix: "t1")
        #expect(await eventually { a.node.isHoldingLease })
        let b = try Member("b", redis: redis, prefix: "t1")
        try a.node.subscribe(["QQQ"], channels: [.quotes, .trades])
        try b.node.subscribe(["SPY"], channels: [.quotes, .trades])
        try b.node.subscribe(["SPY"], channels: [.aggMinute])
        #expect(
            await eventually {
                a.upstream.symbols == ["QQQ": [.quotes, .trades], "SPY": [.quotes, .trades, .aggMinute]]
            })
        #expect(b.upstream.symbols.isEmpty && !b.node.isHoldingLease)
        #expect(a.node.wantedElsewhere("SPY", channels: .quotes) && !a.node.wantedElsewhere("QQQ", channels: .quotes))

        // A publishes once; B delivers the same bytes to its transport, A does not deliver its own message twice.
        let payload = Array(#"{"symbol":"SPY","bid":1.5}"#.utf8)
        #expect(
            await eventually {
                a.node.publish(
                    room: "live:SPY", event: "live:quote", payload: payload, conflationKey: "SPY", outputs: [])
                try? await Task.sleep(for: .milliseconds(50))
                return b.output.published.contains { $0.room == "live:SPY" && $0.payload == payload }
            })
        #expect(a.output.published.isEmpty)

        // Demand withdrawn on B: A drops what nobody wants, keeps its own.
        try b.node.unsubscribe(["SPY"], channels: [.quotes, .trades, .aggMinute])
        #expect(await eventually { a.upstream.symbols == ["QQQ": [.quotes, .trades]] })

        // A shuts down: B takes the lease and ingests its own demand.
        try b.node.subscribe(["IWM"], channels: [.quotes])
        await a.stop()
        #expect(await eventually(within: 10) { b.node.isHoldingLease })
        #expect(await eventually { b.upstream.symbols == ["IWM": [.quotes]] })
        await b.stop()
    }

    @Test("the holder keeps its upstream through a Redis restart and takes the lease back")
    func redisRestart() async throws {
        let redis = try await RedisTestServer.start()
        defer { redis.stop() }
        let a = try Member("a", redis: redis, prefix: "t2")
        #expect(await eventually { a.node.isHoldingLease })
        let b = try Member("b", redis: redis, prefix: "t2")
        try b.node.subscribe(["SPY"], channels: [.quotes])
        #expect(await eventually { a.upstream.symbols["SPY"] == [.quotes] })
        redis.stop()
        #expect(await eventually { b.node.health().state == .degraded && a.node.health().state == .degraded })
        #expect(a.node.isHoldingLease && a.upstream.symbols["SPY"] == [.quotes])
        try await redis.startProcess()
        #expect(await eventually(within: 10) { a.node.health().state == .ok && b.node.health().state == .ok })
        // The other host leaves the lease to its holder for a lease lifetime after Redis returns.
        #expect(await eventually(within: 10) { a.node.isHoldingLease && !b.node.isHoldingLease })
        try await Task.sleep(for: .milliseconds(1_500))
        #expect(a.node.isHoldingLease && !b.node.isHoldingLease)
        #expect(a.upstream.symbols["SPY"] == [.quotes] && b.upstream.symbols.isEmpty)
        await a.stop()
        await b.stop()
    }
}
