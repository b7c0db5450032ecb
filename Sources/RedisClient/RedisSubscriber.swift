import NIOCore
import NIOPosix
import Synchronization

/// A pub/sub connection that keeps its channel subscriptions across reconnects.
///
/// `subscribe`/`unsubscribe` change the wanted set at any time; while connected the change is sent at once.
/// `run()` connects, subscribes to the whole wanted set, delivers messages, and after a drop reconnects with
/// exponential backoff and jitter and subscribes to the whole set again, so no channel is lost (the failure of
/// adapters that only resubscribe what they remember from the old connection's replies).
///
/// ### Threading
/// Messages are delivered on the connection's event loop: the handler must not block. State is behind a
/// `Mutex` that is never held while calling out.
public final class RedisSubscriber: Sendable {
    public typealias MessageHandler = @Sendable (_ channel: String, _ payload: [UInt8]) -> Void
    public typealias ConnectionHandler = @Sendable (_ connected: Bool) -> Void

    /// Reconnect delays: `initial` doubled per failed attempt up to `maximum`, each drawn at random from its
    /// upper half (jitter, so hosts do not reconnect in step).
    public struct Backoff: Sendable {
        public var initialMilliseconds: Int64
        public var maximumMilliseconds: Int64

        public init(initialMilliseconds: Int64 = 100, maximumMilliseconds: Int64 = 2_000) {
            self.initialMilliseconds = max(1, initialMilliseconds)
            self.maximumMilliseconds = max(self.initialMilliseconds, maximumMilliseconds)
        }

        /// The delay before reconnect attempt `attempt` (1-based).
        public func delayMilliseconds(attempt: Int) -> Int64 {
            let shift = min(max(attempt - 1, 0), 20)
            let ceiling = min(maximumMilliseconds, initialMilliseconds << shift)
            return ceiling / 2 + Int64.random(in: 0...(ceiling - ceiling / 2))
        }
    }

    public let endpoint: RedisEndpoint
    let group: any EventLoopGroup
    let backoff: Backoff
    let sleep: @Sendable (_ milliseconds: Int64) async -> Void
    let onMessage: MessageHandler
    let onConnection: ConnectionHandler

    private struct State {
        var wanted: Set<String> = []
        var channel: (any Channel)?
        var connects = 0
    }

    private let state = Mutex(State())

    /// - Parameters:
    ///   - sleep: waits between reconnect attempts (the host passes its injected clock).
    ///   - onMessage: receives each message (channel, payload bytes as published).
    ///   - onConnection: told when the connection is up (after subscribing) and when it dropped.
    public init(
        endpoint: RedisEndpoint, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        backoff: Backoff = Backoff(), sleep: @escaping @Sendable (_ milliseconds: Int64) async -> Void,
        onMessage: @escaping MessageHandler, onConnection: @escaping ConnectionHandler = { _ in }
    ) {
        self.endpoint = endpoint
        self.group = group
        self.backoff = backoff
        self.sleep = sleep
        self.onMessage = onMessage
        self.onConnection = onConnection
    }

    /// Channels wanted now.
    public var channels: Set<String> { state.withLock { $0.wanted } }

    /// True while connected.
    public var isConnected: Bool { state.withLock { $0.channel?.isActive ?? false } }

    /// How many times a connection has been made (for tests and metrics).
    public var connectionCount: Int { state.withLock { $0.connects } }

    /// Adds channels to the wanted set (sent at once when connected).
    public func subscribe(_ channels: [String]) {
        let (channel, added) = state.withLock { state in
            let added = channels.filter { state.wanted.insert($0).inserted }
            return (state.channel, added)
        }
        guard let channel, !added.isEmpty else { return }
        channel.writeAndFlush(RedisCommand("SUBSCRIBE", added), promise: nil)
    }

    /// Removes channels from the wanted set (sent at once when connected).
    public func unsubscribe(_ channels: [String]) {
        let (channel, removed) = state.withLock { state in
            (state.channel, channels.filter { state.wanted.remove($0) != nil })
        }
        guard let channel, !removed.isEmpty else { return }
        channel.writeAndFlush(RedisCommand("UNSUBSCRIBE", removed), promise: nil)
    }

    /// Connects and reconnects until cancelled.
    public func run() async {
        var attempt = 0
        while !Task.isCancelled {
            if let channel = await connect() {
                attempt = 0
                onConnection(true)
                await withTaskCancellationHandler {
                    try? await channel.closeFuture.get()
                } onCancel: {
                    channel.close(promise: nil)
                }
                state.withLock { state in
                    if state.channel === channel { state.channel = nil }
                }
                onConnection(false)
            }
            guard !Task.isCancelled else { break }
            attempt += 1
            await sleep(backoff.delayMilliseconds(attempt: attempt))
        }
    }

    private func connect() async -> (any Channel)? {
        let onMessage = onMessage
        let handle: @Sendable (RESPValue) -> Void = { value in
            guard let parts = value.array, parts.count == 3, parts[0].string == "message",
                let channel = parts[1].string, let payload = parts[2].bytes
            else { return }
            onMessage(channel, payload)
        }
        let channel: any Channel
        do {
            channel = try await RedisConnection.makeBootstrap(group: group, connectTimeout: .seconds(2)) { channel in
                try channel.pipeline.syncOperations.addHandlers([
                    ByteToMessageHandler(RESPDecoder()), MessageToByteHandler(RESPEncoder()),
                    RedisPushHandler(onValue: handle),
                ])
            }.connect(host: endpoint.host, port: endpoint.port).get()
        } catch {
            return nil
        }
        // Publish the channel first, then subscribe to a snapshot of the wanted set: a channel added in between
        // is sent by `subscribe` itself (a duplicate SUBSCRIBE is harmless).
        let wanted = state.withLock { state in
            state.channel = channel
            state.connects += 1
            return state.wanted
        }
        if endpoint.database != 0 {
            // Pub/sub channels are not per database, but SELECT keeps the connection's settings consistent.
            channel.write(RedisCommand("SELECT", [String(endpoint.database)]), promise: nil)
        }
        if !wanted.isEmpty {
            channel.write(RedisCommand("SUBSCRIBE", wanted.sorted()), promise: nil)
        }
        channel.flush()
        return channel
    }
}
