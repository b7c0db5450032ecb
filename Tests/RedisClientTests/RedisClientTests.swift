import NIOCore
import NIOPosix
import RedisClient
import Synchronization
import Testing

/// Collects what a subscriber delivers.
final class Inbox: Sendable {
    private let messages = Mutex<[(String, [UInt8])]>([])

    func add(_ channel: String, _ payload: [UInt8]) { messages.withLock { $0.append((channel, payload)) } }

    func payloads(on channel: String) -> [String] {
        messages.withLock { $0.filter { $0.0 == channel }.map { String(decoding: $0.1, as: UTF8.self) } }
    }
}

/// Runs a subscriber for the duration of `body`.
func withSubscriber(
    _ server: RedisTestServer, inbox: Inbox, _ body: (RedisSubscriber) async throws -> Void
) async throws {
    let subscriber = RedisSubscriber(
        endpoint: server.endpoint, backoff: .init(initialMilliseconds: 20, maximumMilliseconds: 200),
        sleep: { try? await Task.sleep(for: .milliseconds($0)) }, onMessage: { inbox.add($0, $1) })
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await subscriber.run() }
        defer { group.cancelAll() }
        try await body(subscriber)
    }
}

/// Publishes `text` on `channel` until `inbox` has it (a subscription is confirmed asynchronously).
func publishUntilReceived(
    _ client: RedisClient, _ inbox: Inbox, channel: String, _ text: String, seconds: Double = 15
) async -> Bool {
    await eventually(within: seconds) {
        _ = try? await client.publish(channel, Array(text.utf8))
        try? await Task.sleep(for: .milliseconds(30))
        return inbox.payloads(on: channel).contains(text)
    }
}

@Suite("Redis client against redis-server", .serialized)
struct RedisClientTests {
    @Test("SET NX PX, GET, PEXPIRE, DEL, EVAL and sorted sets do what Redis documents")
    func commands() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let client = RedisClient(endpoint: server.endpoint)
        defer { client.close() }
        #expect(try await client.ping())
        #expect(try await client.set("k", Array("one".utf8), onlyIfAbsent: true, expireMilliseconds: 10_000))
        #expect(try await !client.set("k", Array("two".utf8), onlyIfAbsent: true))
        #expect(try await client.get("k") == Array("one".utf8))
        #expect(try await client.expire("k", milliseconds: 50))
        #expect(await eventually { (try? await client.send(RedisCommand("EXISTS", ["k"])))?.integer == 0 })
        #expect(try await client.set("d", [0, 255, 13, 10]))
        #expect(try await client.get("d") == [0, 255, 13, 10])
        #expect(try await client.delete(["d", "missing"]) == 1)
        #expect(try await client.eval("return ARGV[1] .. KEYS[1]", keys: ["b"], arguments: ["a"]).string == "ab")
        #expect(try await client.sortedSetAdd("z", [(10, "old"), (100, "new"), (50, "mid")]) == 3)
        #expect(try await client.sortedSetMembers("z", scoreAtLeast: 50) == ["mid", "new"])
        #expect(try await client.sortedSetRemove("z", scoreBelow: 50) == 1)
        #expect(try await client.sortedSetRemove("z", ["mid"]) == 1)
        #expect(try await client.sortedSetMembers("z", scoreAtLeast: 0) == ["new"])
        await #expect(throws: RedisError.self) { _ = try await client.send(RedisCommand("NOSUCHCOMMAND")) }
        // The connection survives an error reply.
        #expect(try await client.ping())
    }

    @Test("concurrent commands on one connection get their own replies")
    func pipelining() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let client = RedisClient(endpoint: server.endpoint)
        defer { client.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    _ = try await client.set("p\(index)", Array(String(index).utf8))
                    let value = try await client.get("p\(index)")
                    #expect(value == Array(String(index).utf8))
                }
            }
            try await group.waitForAll()
        }
    }

    @Test("a command fails fast while Redis is down and works again once it is back, without a new client")
    func reconnects() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let client = RedisClient(endpoint: server.endpoint)
        defer { client.close() }
        #expect(try await client.ping())
        server.stop()
        await #expect(throws: RedisError.self) { _ = try await client.ping() }
        try await server.startProcess()
        #expect(await eventually { (try? await client.ping()) == true })
    }

    @Test("pub/sub delivers, stops after UNSUBSCRIBE, and restores every channel after Redis restarts")
    func subscriptionsSurviveRestart() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let publisher = RedisClient(endpoint: server.endpoint)
        defer { publisher.close() }
        let inbox = Inbox()
        try await withSubscriber(server, inbox: inbox) { subscriber in
            let channels = (0..<20).map { "room:\($0)" }
            subscriber.subscribe(channels)
            for channel in channels {
                #expect(await publishUntilReceived(publisher, inbox, channel: channel, "before"))
            }
            subscriber.unsubscribe(["room:0"])
            #expect(await eventually { (try? await publisher.publish("room:0", Array("gone".utf8))) == 0 })
            #expect(!inbox.payloads(on: "room:0").contains("gone"))

            server.stop()
            #expect(await eventually { !subscriber.isConnected })
            // A channel added while disconnected is subscribed on reconnect too.
            subscriber.subscribe(["added-while-down"])
            try await server.startProcess()
            #expect(await eventually(within: 10) { subscriber.isConnected })
            #expect(subscriber.connectionCount >= 2)
            for channel in channels.dropFirst() + ["added-while-down"] {
                #expect(await publishUntilReceived(publisher, inbox, channel: channel, "after"), "\(channel)")
            }
            // Exactly the wanted channels are subscribed on the new connection.
            let count = try await publisher.send(RedisCommand("PUBSUB", ["NUMSUB", "room:0", "room:1"])).array
            #expect(count?.compactMap(\.integer) == [0, 1])
        }
    }
}

@Suite("Redis lease", .serialized)
struct RedisLeaseTests {
    @Test("one owner at a time: acquire, renew, refuse others, expire, take over, release only by the holder")
    func leaseLifecycle() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let client = RedisClient(endpoint: server.endpoint)
        defer { client.close() }
        // Lifetimes are seconds, not milliseconds: the suite shares two cores with every other suite.
        let a = RedisLease(client: client, key: "lease", owner: "host-a", ttlMilliseconds: 2_000)
        let b = RedisLease(client: client, key: "lease", owner: "host-b", ttlMilliseconds: 2_000)
        #expect(try await a.acquireOrRenew() == .held(acquired: true))
        #expect(try await b.acquireOrRenew() == .heldBy("host-a"))
        // Renewing keeps it past its first expiry.
        for _ in 0..<4 {
            try await Task.sleep(for: .milliseconds(700))
            #expect(try await a.acquireOrRenew() == .held(acquired: false))
        }
        #expect(try await b.acquireOrRenew() == .heldBy("host-a"))
        // Without renewal it expires and B takes it; A can neither renew nor release B's lease.
        #expect(await eventually { (try? await b.acquireOrRenew()) == .held(acquired: true) })
        #expect(try await a.acquireOrRenew() == .heldBy("host-b"))
        #expect(try await !a.release())
        #expect(try await b.holder() == "host-b")
        #expect(try await b.release())
        #expect(try await a.holder() == nil)
        #expect(try await a.acquireOrRenew() == .held(acquired: true))
    }
}
